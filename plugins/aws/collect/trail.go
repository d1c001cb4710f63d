package collect

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
)

// S3API is what the collectors call on S3.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// MarkScope is the marks' scope for trail files (bucket/key), shared by
// polling and queue mode.
const MarkScope = "trail-file"

// BatchRecords is how many records go to the sink at a time, so memory
// stays flat however large a file is.
const BatchRecords = 4096

// Reader reads trail files into a sink.
type Reader struct {
	S3       S3API
	Sink     Sink
	Counters *remote.Counters
}

// ReadFile reads one delivery file in batches; the last batch carries
// cursors and the file's mark, so the file counts as read only once all
// of it is kept. A file read again after a crash mid-way yields its
// first batches again, which the state drops as duplicates.
func (r *Reader) ReadFile(ctx context.Context, bucket, key string, cursors map[string]string) error {
	r.Counters.Add("s3_get_calls", 1)
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	var (
		batch   []*cloudtrail.Record
		sinkErr error
	)
	counted := &counting{r: out.Body}
	st, err := cloudtrail.Decode(counted, func(rec *cloudtrail.Record) {
		if sinkErr != nil {
			return
		}
		batch = append(batch, rec)
		if len(batch) == BatchRecords {
			_, sinkErr = r.Sink(ctx, batch, nil, nil)
			batch = nil
		}
	})
	r.Counters.Add("s3_bytes", counted.n)
	r.Counters.Add("records", st.Records)
	r.Counters.Add("records_of_no_interest", st.Skipped)
	if st.ParseErrors > 0 {
		r.Counters.Add("parse_errors", st.ParseErrors)
	}
	if sinkErr != nil {
		return sinkErr
	}
	if err != nil {
		// A file that is not CloudTrail JSON (truncated, foreign) is
		// counted and marked, not retried for ever.
		r.Counters.Add("files_unreadable", 1)
		r.Counters.Add("parse_errors", 1)
	}
	mark := []remote.Mark{{Scope: MarkScope, Key: bucket + "/" + key, Time: time.Now()}}
	if _, err := r.Sink(ctx, batch, cursors, mark); err != nil {
		return err
	}
	r.Counters.Add("files_read", 1)
	return nil
}

type counting struct {
	r io.Reader
	n uint64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// TrailPoller is polling mode: it lists each account's and region's
// prefix of the trail bucket from its cursor on, with StartAfter, so a
// poll costs what is new, not the bucket's size.
type TrailPoller struct {
	Reader
	Bucket   string
	Prefix   string // AWSLogs/ (organization trails: AWSLogs/o-…/ below it)
	Start    time.Time
	Margin   time.Duration
	Accounts []string
	Regions  []string
	State    *remote.State
	Now      func() time.Time
	// Rediscover is how often accounts and regions are listed again.
	Rediscover time.Duration

	mu         sync.Mutex
	prefixes   []string
	discovered time.Time
}

// Prefixes are the region prefixes found (AWSLogs/[o-…/]ACCOUNT/CloudTrail/REGION/).
func (p *TrailPoller) Prefixes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.prefixes)
}

func (p *TrailPoller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

var accountDir = regexp.MustCompile(`^\d{12}$`)

// Step polls once.
func (p *TrailPoller) Step(ctx context.Context) (bool, error) {
	p.Counters.Add("trail_polls", 1)
	now := p.now().UTC()
	p.mu.Lock()
	stale := p.prefixes == nil || now.Sub(p.discovered) >= max(p.Rediscover, time.Minute)
	p.mu.Unlock()
	if stale {
		found, err := p.discover(ctx)
		if err != nil {
			return false, err
		}
		p.mu.Lock()
		p.prefixes, p.discovered = found, now
		p.mu.Unlock()
	}
	for _, prefix := range p.Prefixes() {
		if err := p.pollPrefix(ctx, prefix, now); err != nil {
			return false, err
		}
	}
	return false, nil
}

// discover lists accounts (and organizations' accounts) and regions by
// delimiter: a handful of calls, whatever the bucket holds.
func (p *TrailPoller) discover(ctx context.Context) ([]string, error) {
	var accounts []string
	tops, err := p.dirs(ctx, p.Prefix)
	if err != nil {
		return nil, err
	}
	for _, top := range tops {
		name := strings.TrimSuffix(strings.TrimPrefix(top, p.Prefix), "/")
		switch {
		case strings.HasPrefix(name, "o-"):
			below, err := p.dirs(ctx, top)
			if err != nil {
				return nil, err
			}
			for _, b := range below {
				if accountDir.MatchString(strings.TrimSuffix(strings.TrimPrefix(b, top), "/")) {
					accounts = append(accounts, b)
				}
			}
		case accountDir.MatchString(name):
			accounts = append(accounts, top)
		}
	}
	var out []string
	for _, acct := range accounts {
		id := strings.TrimSuffix(acct[strings.LastIndexByte(strings.TrimSuffix(acct, "/"), '/')+1:], "/")
		if len(p.Accounts) > 0 && !slices.Contains(p.Accounts, id) {
			continue
		}
		regions, err := p.dirs(ctx, acct+"CloudTrail/")
		if err != nil {
			return nil, err
		}
		for _, r := range regions {
			region := strings.TrimSuffix(strings.TrimPrefix(r, acct+"CloudTrail/"), "/")
			if len(p.Regions) > 0 && !slices.Contains(p.Regions, region) {
				continue
			}
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (p *TrailPoller) dirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	var token *string
	for {
		p.Counters.Add("s3_list_calls", 1)
		res, err := p.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(p.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"), ContinuationToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", p.Bucket, prefix, err)
		}
		for _, cp := range res.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
		if !aws.ToBool(res.IsTruncated) || res.NextContinuationToken == nil {
			return out, nil
		}
		token = res.NextContinuationToken
	}
}

// fileTime reads the time CloudTrail names a delivery file by:
// ACCOUNT_CloudTrail_REGION_20230710T1205Z_random.json.gz.
var fileTime = regexp.MustCompile(`_(\d{8}T\d{4}Z)_`)

func timeOfKey(key string) (time.Time, bool) {
	m := fileTime.FindStringSubmatch(key[strings.LastIndexByte(key, '/')+1:])
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504Z", m[1])
	return t, err == nil
}

// pollPrefix reads the files of one region prefix written since its
// cursor less the margin, day by day up to today, skipping those marked.
func (p *TrailPoller) pollPrefix(ctx context.Context, prefix string, now time.Time) error {
	cursorName := "trail:" + p.Bucket + "/" + prefix
	since := p.Start
	cursor, ok := p.State.Cursor(cursorName)
	if ok {
		if t, ok := timeOfKey(cursor); ok {
			since = t
		}
	}
	since = since.Add(-p.Margin).UTC()
	parts := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	account, region := parts[len(parts)-3], parts[len(parts)-1]
	for day := since.Truncate(24 * time.Hour); !day.After(now); day = day.Add(24 * time.Hour) {
		dayPrefix := prefix + day.Format("2006/01/02/")
		var startAfter *string
		if day.Equal(since.Truncate(24 * time.Hour)) {
			startAfter = aws.String(dayPrefix + account + "_CloudTrail_" + region + "_" + since.Format("20060102T1504Z"))
		}
		var token *string
		for {
			p.Counters.Add("s3_list_calls", 1)
			in := &s3.ListObjectsV2Input{Bucket: aws.String(p.Bucket), Prefix: aws.String(dayPrefix), ContinuationToken: token}
			if token == nil {
				in.StartAfter = startAfter
			}
			res, err := p.S3.ListObjectsV2(ctx, in)
			if err != nil {
				return fmt.Errorf("listing s3://%s/%s: %w", p.Bucket, dayPrefix, err)
			}
			for _, obj := range res.Contents {
				key := aws.ToString(obj.Key)
				p.Counters.Add("s3_keys_listed", 1)
				if !strings.HasSuffix(key, ".json.gz") && !strings.HasSuffix(key, ".json") {
					continue
				}
				if p.State.Marked(MarkScope, p.Bucket+"/"+key) {
					p.Counters.Add("files_already_read", 1)
					continue
				}
				next := key
				if cursor > next {
					next = cursor
				}
				if err := p.ReadFile(ctx, p.Bucket, key, map[string]string{cursorName: next}); err != nil {
					return err
				}
				cursor = next
			}
			if !aws.ToBool(res.IsTruncated) || res.NextContinuationToken == nil {
				break
			}
			token = res.NextContinuationToken
		}
	}
	return nil
}
