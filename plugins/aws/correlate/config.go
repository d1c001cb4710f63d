// Package correlate is AN0043's pure logic: normalized CloudTrail events
// in, data-staging detections out. It keeps hopping windows per principal
// and destination for object writes and snapshot creation, the volumes
// created, attached and grown per instance, each instance session's
// addresses, and the detections still open, all bounded by TimeWindow and
// lateness behind the newest event seen. It never calls AWS itself: the
// collectors hand it a Resolver for instance tags, addresses and volume
// attachments, nil offline.
package correlate

import (
	"fmt"
	"strings"
	"time"
)

// Destination classes of CloudBucketList entries.
const (
	BucketWatched = "watched" // bucket or bucket/prefix: writes by any principal count
	BucketStaging = "staging" // staging:bucket[/prefix]: a staging destination
	BucketUsual   = "usual"   // usual:bucket[/prefix]: where instances normally write
)

// BucketRule is one CloudBucketList entry: a bucket (a glob: * matches any
// run of characters) and an optional key prefix.
type BucketRule struct {
	Class, Bucket, Prefix string
}

// ParseBucketRule reads "[staging:|usual:]bucket[/prefix]".
func ParseBucketRule(s string) (BucketRule, error) {
	r := BucketRule{Class: BucketWatched}
	for _, c := range []string{BucketStaging, BucketUsual} {
		if rest, ok := strings.CutPrefix(s, c+":"); ok {
			r.Class, s = c, rest
		}
	}
	s = strings.TrimPrefix(s, "s3://")
	r.Bucket, r.Prefix, _ = strings.Cut(s, "/")
	if r.Bucket == "" {
		return r, fmt.Errorf("%q names no bucket (want [staging:|usual:]bucket[/prefix])", s)
	}
	if strings.ContainsAny(r.Bucket, " \t") {
		return r, fmt.Errorf("%q: a bucket name has no spaces", s)
	}
	return r, nil
}

func (r BucketRule) matches(bucket, key string) bool {
	return Glob(r.Bucket, bucket) && strings.HasPrefix(key, r.Prefix)
}

// TagRule is one InstanceTag entry: key (any value) or key=value; both
// may be globs.
type TagRule struct{ Key, Value string }

// ParseTagRule reads "key" or "key=value".
func ParseTagRule(s string) (TagRule, error) {
	k, v, ok := strings.Cut(s, "=")
	if strings.TrimSpace(k) == "" {
		return TagRule{}, fmt.Errorf("%q names no tag key (want key or key=value)", s)
	}
	if !ok {
		v = "*"
	}
	return TagRule{Key: k, Value: v}, nil
}

// Config is what the correlator runs with.
type Config struct {
	AnalyticID, Platform, DetectionID, TechniqueID string
	Buckets                                        []BucketRule
	InstanceTags                                   []TagRule
	// ObjectThreshold and ByteThreshold: a burst is at least this many
	// objects, or bytes (0: bytes alone never make one), in TimeWindow.
	ObjectThreshold, ByteThreshold int64
	// SnapshotThreshold snapshots or images made by one principal in
	// TimeWindow are a snapshot burst.
	SnapshotThreshold int64
	Window            time.Duration
	// Lateness is how far behind the newest event an event may arrive and
	// still be correlated: CloudTrail delivers most files within 15
	// minutes, some hours late.
	Lateness time.Duration
	// WarmUp is how much history a burst needs before it: a window that
	// starts less than WarmUp after the first event seen has no earlier
	// window to tell a steady writer (a backup agent met mid-stream) from
	// a burst, so it raises nothing. Live collection sets it to
	// TimeWindow; replay of an incident's records sets none.
	WarmUp time.Duration
	// AllowedPrincipals are ARN globs whose calls are never staging.
	AllowedPrincipals []string
	Resolver          Resolver
}

// DefaultLateness is the default Config.Lateness.
const DefaultLateness = 2 * time.Hour

// Resolver answers what CloudTrail records do not say, from EC2. Every
// method may answer "not known"; the correlator then decides without.
type Resolver interface {
	// Instance returns an instance's tags and addresses.
	Instance(account, region, id string) (Instance, bool)
	// VolumeInstance returns the instance a volume is attached to.
	VolumeInstance(account, region, volume string) (string, bool)
}

// Instance is what EC2 says of one instance.
type Instance struct {
	Tags      map[string]string
	Addresses []string // public and private IPv4 and IPv6 addresses
}

// Glob matches s against pattern, where * matches any run of characters
// (slashes and colons included, as ARNs need) and the rest is literal.
func Glob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
