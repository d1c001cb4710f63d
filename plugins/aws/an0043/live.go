package an0043

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stagewatch/stagewatch/internal/remote"
	ct "github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
	"github.com/stagewatch/stagewatch/plugins/aws/collect"
	"github.com/stagewatch/stagewatch/plugins/aws/correlate"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// testHooks point the SDK at a test's own servers with its own
// credentials, HTTP client and short back-offs. Unset in production.
type testHooks struct {
	httpClient  *http.Client
	credentials aws.CredentialsProvider
	maxBackoff  time.Duration
	interval    time.Duration
	extendEvery time.Duration
}

// liveRun is the collectors running.
type liveRun struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	resolver correlate.Resolver
	sources  []string

	mu       sync.Mutex
	failures map[string]string // collector -> last error, while failing
}

func startLive(ctx context.Context, a *Analytic) (*liveRun, error) {
	conn := a.set.conn
	hooks := a.hooks
	c := collect.Connection{
		Region: conn.Region, Profile: conn.Profile, AssumeRoleARN: conn.AssumeRoleARN, ExternalID: conn.ExternalID,
		S3PathStyle: conn.S3PathStyle, HTTPClient: hooks.httpClient, Credentials: hooks.credentials, MaxBackoff: hooks.maxBackoff,
		Endpoints: map[string]string{"s3": conn.Endpoints.S3, "sqs": conn.Endpoints.SQS, "cloudtrail": conn.Endpoints.CloudTrail, "ec2": conn.Endpoints.EC2, "sts": conn.Endpoints.STS},
	}
	counters := a.Counters()
	cfg, err := collect.Load(ctx, c, counters)
	if err != nil {
		return nil, err
	}
	endpoint := func(name string) *string {
		if u := c.Endpoints[name]; u != "" {
			return aws.String(u)
		}
		return nil
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = endpoint("s3"), conn.S3PathStyle
		// S3-compatible stores often send no checksum: nothing to warn of.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	perRegion := func(mk func(region string) any) func(string) any {
		var mu sync.Mutex
		clients := map[string]any{}
		return func(region string) any {
			mu.Lock()
			defer mu.Unlock()
			if cl, ok := clients[region]; ok {
				return cl
			}
			cl := mk(region)
			clients[region] = cl
			return cl
		}
	}
	ec2For := perRegion(func(region string) any {
		return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region, o.BaseEndpoint = orRegion(region, cfg.Region), endpoint("ec2") })
	})
	ctFor := perRegion(func(region string) any {
		return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) {
			o.Region, o.BaseEndpoint = orRegion(region, cfg.Region), endpoint("cloudtrail")
		})
	})

	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	lv := &liveRun{cancel: cancel, failures: map[string]string{}}
	if *conn.Instances.Resolve {
		account := ""
		if id, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = endpoint("sts") }).GetCallerIdentity(lctx, &sts.GetCallerIdentityInput{}); err == nil {
			account = aws.ToString(id.Account)
		}
		lv.resolver = &collect.Resolver{
			Client: func(region string) collect.EC2API { return ec2For(region).(collect.EC2API) }, Account: account,
			TTL: time.Duration(conn.Instances.TTL), Max: conn.Instances.Max, Counters: counters,
		}
	}
	sink := collect.Sink(func(ctx context.Context, recs []*ct.Record, cursors map[string]string, marks []remote.Mark) (int, error) {
		return a.Process(ctx, recs, cursors, marks)
	})
	a.pmu.Lock()
	state := a.state
	a.pmu.Unlock()
	reader := collect.Reader{S3: s3c, Sink: sink, Counters: counters}
	interval := time.Duration(conn.PollInterval)
	if hooks.interval > 0 {
		interval = hooks.interval
	}
	now := time.Now()
	var pollers []*remote.Poller
	if conn.Trail.Bucket != "" {
		tp := &collect.TrailPoller{Reader: reader, Bucket: conn.Trail.Bucket, Prefix: conn.Trail.Prefix, Start: conn.Trail.Start.From(now),
			Margin: time.Duration(conn.Trail.Margin), Accounts: conn.Trail.Accounts, Regions: conn.Trail.Regions, State: state, Rediscover: 10 * time.Minute}
		pollers = append(pollers, &remote.Poller{Name: "trail s3://" + conn.Trail.Bucket + "/" + conn.Trail.Prefix, Interval: interval, Step: tp.Step})
	}
	if conn.Queue.URL != "" {
		sqc := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpoint("sqs") })
		q := &collect.QueueConsumer{Reader: reader, SQS: sqc, URL: conn.Queue.URL, Wait: time.Duration(conn.Queue.Wait), Visibility: time.Duration(conn.Queue.Visibility),
			Marked: func(bucket, key string) bool { return state.Marked(collect.MarkScope, bucket+"/"+key) }, ExtendEvery: hooks.extendEvery}
		// Long polling is the wait: no interval between receives.
		pollers = append(pollers, &remote.Poller{Name: "queue " + conn.Queue.URL, Interval: 0, Step: q.Step})
	}
	if len(conn.LookupEvents.Regions) > 0 {
		lp := &collect.LookupPoller{Client: func(region string) collect.CloudTrailAPI { return ctFor(region).(collect.CloudTrailAPI) },
			Regions: conn.LookupEvents.Regions, Start: conn.LookupEvents.Start.From(now), State: state, Sink: sink, Counters: counters}
		pollers = append(pollers, &remote.Poller{Name: "lookup_events " + strings.Join(conn.LookupEvents.Regions, ","), Interval: interval, Step: lp.Step})
	}
	for _, p := range pollers {
		p.Backoff = remote.Backoff{Min: time.Second, Max: 5 * time.Minute}
		if hooks.maxBackoff > 0 {
			p.Backoff = remote.Backoff{Min: hooks.maxBackoff, Max: 4 * hooks.maxBackoff}
		}
		step := p.Step
		name := p.Name
		p.Step = func(ctx context.Context) (bool, error) {
			more, err := step(ctx)
			if err == nil {
				lv.setFailure(name, "")
			}
			return more, err
		}
		p.Failed = func(name string, err error, wait time.Duration) {
			counters.Add("collector_errors", 1)
			msg := fmt.Sprintf("%v (retrying in %v)", err, wait.Round(time.Millisecond))
			if lv.setFailure(name, msg) {
				logf("%s: %s", name, msg)
			}
		}
		lv.sources = append(lv.sources, p.Name)
		lv.wg.Add(1)
		go func() {
			defer lv.wg.Done()
			_ = p.Run(lctx)
		}()
	}
	return lv, nil
}

func orRegion(region, def string) string {
	if region != "" {
		return region
	}
	return def
}

// setFailure records a collector's failure (msg "" when it works again)
// and reports whether it is new, so a failing collector is logged once.
func (lv *liveRun) setFailure(name, msg string) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	prev, had := lv.failures[name]
	if msg == "" {
		delete(lv.failures, name)
		return false
	}
	lv.failures[name] = msg
	return !had || prev == ""
}

func (lv *liveRun) health(h *sdk.Health) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	h.State = sdk.StateRunning
	h.Message = "running, reading " + strings.Join(lv.sources, "; ")
	if len(lv.failures) > 0 {
		h.State = sdk.StateDegraded
		for name, msg := range lv.failures {
			h.Message += "; " + name + ": " + msg
		}
	}
}

func (lv *liveRun) stop() {
	lv.cancel()
	lv.wg.Wait()
}
