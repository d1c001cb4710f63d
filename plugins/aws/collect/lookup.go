package collect

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/stagewatch/stagewatch/internal/remote"
	ct "github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
)

// CloudTrailAPI is what LookupEvents polling calls.
type CloudTrailAPI interface {
	LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

// LookupSources are the event sources whose management events staging
// is made of; one LookupEvents query each (the API takes one attribute).
var LookupSources = []string{"ec2.amazonaws.com", "rds.amazonaws.com"}

// LookupOverlap is how far back past its cursor each poll asks again:
// LookupEvents shows an event minutes after it happened.
const LookupOverlap = 15 * time.Minute

// LookupPoller reads management events with CloudTrail LookupEvents where
// no trail bucket is configured: per region, from its cursor (less the
// overlap) to now, every page (newest first), each record the escaped
// JSON string CloudTrailEvent. The cursor moves to the poll's end once
// every page is kept; what the overlap reads again is dropped by eventID.
type LookupPoller struct {
	Client   func(region string) CloudTrailAPI
	Regions  []string
	Start    time.Time
	State    *remote.State
	Sink     Sink
	Counters *remote.Counters
	Now      func() time.Time
}

// Step polls every region once.
func (p *LookupPoller) Step(ctx context.Context) (bool, error) {
	p.Counters.Add("lookup_polls", 1)
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	end := now().UTC()
	for _, region := range p.Regions {
		name := "lookup:" + region
		start := p.Start
		if v, ok := p.State.Cursor(name); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				start = t.Add(-LookupOverlap)
			}
		}
		client := p.Client(region)
		for i, source := range LookupSources {
			var cursors map[string]string
			if i == len(LookupSources)-1 {
				cursors = map[string]string{name: end.Format(time.RFC3339Nano)}
			}
			if err := p.query(ctx, client, region, source, start, end, cursors); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func (p *LookupPoller) query(ctx context.Context, client CloudTrailAPI, region, source string, start, end time.Time, cursors map[string]string) error {
	var token *string
	var recs []*ct.Record
	for {
		p.Counters.Add("cloudtrail_lookup_calls", 1)
		out, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{
			LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventSource, AttributeValue: aws.String(source)}},
			StartTime:        aws.Time(start), EndTime: aws.Time(end), MaxResults: aws.Int32(50), NextToken: token,
		})
		if err != nil {
			return fmt.Errorf("LookupEvents in %s: %w", region, err)
		}
		for _, e := range out.Events {
			if e.CloudTrailEvent == nil {
				p.Counters.Add("parse_errors", 1)
				continue
			}
			r, err := ct.ParseRecord([]byte(*e.CloudTrailEvent))
			if err != nil {
				p.Counters.Add("parse_errors", 1)
				continue
			}
			if ct.Interesting(r.EventName) {
				recs = append(recs, r)
			}
		}
		p.Counters.Add("records", uint64(len(out.Events)))
		if len(recs) >= BatchRecords {
			if _, err := p.Sink(ctx, recs, nil, nil); err != nil {
				return err
			}
			recs = nil
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		token = out.NextToken
	}
	_, err := p.Sink(ctx, recs, cursors, nil)
	return err
}
