package collect

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/aws/correlate"
)

// EC2API is what the resolver calls on EC2.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeTags(ctx context.Context, in *ec2.DescribeTagsInput, opts ...func(*ec2.Options)) (*ec2.DescribeTagsOutput, error)
	DescribeVolumes(ctx context.Context, in *ec2.DescribeVolumesInput, opts ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
}

// Resolver answers the correlator's questions from EC2, cached: an
// instance's tags and addresses (DescribeInstances; DescribeTags where
// only that is allowed) and a volume's attachment (DescribeVolumes). An
// answer, found or not, is kept for TTL; at Max entries the oldest half
// goes. Calls are bounded by a timeout so a slow EC2 never stalls the
// pipeline for long. Accounts other than Account (the credentials') are
// not asked: their instances are outside these credentials' reach.
type Resolver struct {
	Client   func(region string) EC2API
	Account  string // "" asks for every account
	TTL      time.Duration
	Max      int
	Timeout  time.Duration
	Counters *remote.Counters
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	inst     correlate.Instance
	volumeOf string
	ok       bool
	at       time.Time
}

var _ correlate.Resolver = (*Resolver)(nil)

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolver) lookup(key string) (cached, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cache[key]
	if !ok || r.now().Sub(c.at) > r.TTL {
		return cached{}, false
	}
	r.Counters.Add("ec2_cache_hits", 1)
	return c, true
}

func (r *Resolver) keep(key string, c cached) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	if r.Max > 0 && len(r.cache) >= r.Max {
		// Drop the older half: cheap, and bounded.
		var oldest []time.Time
		for _, v := range r.cache {
			oldest = append(oldest, v.at)
		}
		cut := median(oldest)
		for k, v := range r.cache {
			if !v.at.After(cut) {
				delete(r.cache, k)
			}
		}
		r.Counters.Add("ec2_cache_evictions", 1)
	}
	c.at = r.now()
	r.cache[key] = c
}

func median(ts []time.Time) time.Time {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts[len(ts)/2]
}

func (r *Resolver) foreign(account string) bool {
	if r.Account != "" && account != "" && account != r.Account {
		r.Counters.Add("ec2_other_account", 1)
		return true
	}
	return false
}

func (r *Resolver) ctx() (context.Context, context.CancelFunc) {
	t := r.Timeout
	if t <= 0 {
		t = 5 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

// Instance returns an instance's tags and addresses.
func (r *Resolver) Instance(account, region, id string) (correlate.Instance, bool) {
	key := "i|" + account + "|" + region + "|" + id
	if c, ok := r.lookup(key); ok {
		return c.inst, c.ok
	}
	if r.foreign(account) {
		return correlate.Instance{}, false
	}
	ctx, cancel := r.ctx()
	defer cancel()
	client := r.Client(region)
	r.Counters.Add("ec2_describe_instances_calls", 1)
	out, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	var c cached
	switch {
	case err == nil:
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				c.inst, c.ok = instanceOf(in), true
			}
		}
	case unauthorized(err):
		// Tags alone may still be allowed.
		r.Counters.Add("ec2_describe_tags_calls", 1)
		tags, terr := client.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
		if terr == nil {
			c.inst.Tags = map[string]string{}
			for _, t := range tags.Tags {
				c.inst.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			c.ok = true
		} else {
			r.Counters.Add("ec2_errors", 1)
		}
	default:
		r.Counters.Add("ec2_errors", 1)
	}
	r.keep(key, c)
	return c.inst, c.ok
}

func instanceOf(in ec2types.Instance) correlate.Instance {
	inst := correlate.Instance{Tags: map[string]string{}}
	for _, t := range in.Tags {
		inst.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	add := func(s *string) {
		if v := aws.ToString(s); v != "" {
			inst.Addresses = append(inst.Addresses, v)
		}
	}
	add(in.PublicIpAddress)
	add(in.PrivateIpAddress)
	for _, ni := range in.NetworkInterfaces {
		if ni.Association != nil {
			add(ni.Association.PublicIp)
		}
		for _, pa := range ni.PrivateIpAddresses {
			add(pa.PrivateIpAddress)
			if pa.Association != nil {
				add(pa.Association.PublicIp)
			}
		}
		for _, v6 := range ni.Ipv6Addresses {
			add(v6.Ipv6Address)
		}
	}
	return inst
}

func unauthorized(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "UnauthorizedOperation" || ae.ErrorCode() == "AccessDenied")
}

// VolumeInstance returns the instance a volume is attached to.
func (r *Resolver) VolumeInstance(account, region, volume string) (string, bool) {
	key := "v|" + account + "|" + region + "|" + volume
	if c, ok := r.lookup(key); ok {
		return c.volumeOf, c.ok
	}
	if r.foreign(account) {
		return "", false
	}
	ctx, cancel := r.ctx()
	defer cancel()
	r.Counters.Add("ec2_describe_volumes_calls", 1)
	out, err := r.Client(region).DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volume}})
	var c cached
	if err != nil {
		r.Counters.Add("ec2_errors", 1)
	} else {
		for _, v := range out.Volumes {
			for _, a := range v.Attachments {
				if id := aws.ToString(a.InstanceId); id != "" {
					c.volumeOf, c.ok = id, true
				}
			}
		}
	}
	r.keep(key, c)
	return c.volumeOf, c.ok
}
