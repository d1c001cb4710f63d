package an0043

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var testCreds = credentials.NewStaticCredentialsProvider("AKIDSTAGEWATCHTEST", "test-secret-not-real", "")

// fakeS3 is gofakes3, a real S3 protocol server, in process, with a
// client of the unmodified SDK to put objects in it.
type fakeS3 struct {
	url    string
	client *s3.Client
}

func newFakeS3(t *testing.T, buckets ...string) *fakeS3 {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	for _, b := range buckets {
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeS3{url: srv.URL, client: c}
}

func (f *fakeS3) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	if _, err := f.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// fixtureRecords reads a fixture's records, their times moved so the
// first is at start (and the rest keep their spacing).
func fixtureRecords(t *testing.T, name string, start time.Time) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Records []map[string]any }
	if err := json.NewDecoder(zr).Decode(&file); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for _, r := range file.Records {
		at, _ := time.Parse(time.RFC3339, r["eventTime"].(string))
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	for _, r := range file.Records {
		at, _ := time.Parse(time.RFC3339, r["eventTime"].(string))
		r["eventTime"] = start.Add(at.Sub(first)).UTC().Format(time.RFC3339)
	}
	return file.Records
}

// trailFile gzips records as CloudTrail delivers them.
func trailFile(t *testing.T, recs []map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(map[string]any{"Records": recs}); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

// trailKey is where CloudTrail puts a file written at t.
func trailKey(org, account, region string, t time.Time, suffix string) string {
	t = t.UTC()
	prefix := "AWSLogs/"
	if org != "" {
		prefix += org + "/"
	}
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz", prefix, account, region, t.Format("2006/01/02"), account, region, t.Format("20060102T1504Z"), suffix)
}

// history is one earlier object read, so a collector has history before
// the records a test is about.
func history(t *testing.T, at time.Time) []map[string]any {
	t.Helper()
	r := fixtureRecords(t, "tp-instance-burst-cross-account.json.gz", at)[:1]
	r[0]["eventName"], r[0]["eventID"] = "GetObject", "history-0000-0000-0000-"+at.Format("150405")
	return r
}

// live starts AN0043 live against test servers.
func live(t *testing.T, cfg, stateDir string, hooks testHooks) *Analytic {
	t.Helper()
	a := New()
	if hooks.credentials == nil {
		hooks.credentials = testCreds
	}
	if hooks.interval == 0 {
		hooks.interval = 30 * time.Millisecond
	}
	if hooks.maxBackoff == 0 {
		hooks.maxBackoff = 10 * time.Millisecond
	}
	a.hooks = hooks
	if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(cfg), Mode: sdk.ModeLive, HostIdentifier: "collector-1", StateDir: stateDir}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTrailPollingAcrossRestart: trail files in the real layout of an
// organization trail (AWSLogs/o-…/ACCOUNT/CloudTrail/REGION/Y/M/D/) on a
// real S3 protocol server, read incrementally by listing with
// StartAfter; a restart rereads nothing and skips nothing, a file that
// lands late with an earlier name is still read, a record delivered
// twice counts once, and a poll's calls do not grow with the bucket.
func TestTrailPollingAcrossRestart(t *testing.T) {
	t.Parallel()
	s3f := newFakeS3(t, "org-trail")
	now := time.Now().UTC()
	// Old files, before trail.start: never listed however many.
	for i := range 200 {
		s3f.put(t, "org-trail", trailKey("o-abc123", "111122223333", "us-east-1", now.Add(-72*time.Hour+time.Duration(i)*time.Minute), fmt.Sprintf("old%03d", i)), trailFile(t, nil))
	}
	// A digest file: not a trail file.
	s3f.put(t, "org-trail", "AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/"+now.Format("2006/01/02")+"/x.json.gz", []byte("{}"))
	burst := fixtureRecords(t, "tp-instance-burst-cross-account.json.gz", now.Add(-2*time.Hour))
	// History before the burst: a collector judges no burst in its first
	// TimeWindow (it cannot tell a steady writer yet).
	s3f.put(t, "org-trail", trailKey("o-abc123", "111122223333", "us-east-1", now.Add(-3*time.Hour), "history"), trailFile(t, history(t, now.Add(-3*time.Hour))))
	// Delivery files hold events out of order and late: the burst's
	// records spread over three files, shuffled, one record late.
	files := [][]map[string]any{burst[:40], burst[40:90], burst[90:]}
	for i, recs := range files {
		s3f.put(t, "org-trail", trailKey("o-abc123", "111122223333", "us-east-1", now.Add(-2*time.Hour+time.Duration(5*i+5)*time.Minute), fmt.Sprintf("f%d", i)), trailFile(t, recs))
	}
	s3f.put(t, "org-trail", trailKey("o-abc123", "444455556666", "eu-west-1", now.Add(-90*time.Minute), "eu"), trailFile(t, burst[:1]))

	state := filepath.Join(t.TempDir(), "AN0043")
	cfg := fmt.Sprintf(`{"aws": {"region": "us-east-1", "endpoints": {"s3": %q}, "s3_path_style": true,
		"trail": {"bucket": "org-trail", "start": "24h"}, "instances": {"resolve": false}}}`, s3f.url)
	a := live(t, cfg, state, testHooks{})
	waitFor(t, "five files read", func() bool { return a.Counters().Get("files_read") == 5 })
	dets := detections(t, a)
	if len(dets) != 1 || !strings.HasPrefix(dets[0]["process"], "object_burst") || dets[0]["file_count"] != "121" || dets[0]["severity"] != "high" {
		t.Fatalf("detections after the first polls: %v", dets)
	}
	uid := dets[0]["uid"]
	// Steady state: a poll lists each region prefix's day once (two
	// prefixes here), not the bucket's 200 old files.
	lists, polls := a.Counters().Get("s3_list_calls"), a.Counters().Get("trail_polls")
	waitFor(t, "five more polls", func() bool { return a.Counters().Get("trail_polls") >= polls+5 })
	dl, dp := a.Counters().Get("s3_list_calls")-lists, a.Counters().Get("trail_polls")-polls
	t.Logf("%.2f ListObjectsV2 calls per poll for 2 region prefixes and 200 older files, %d keys listed in all", float64(dl)/float64(dp), a.Counters().Get("s3_keys_listed"))
	if per := float64(dl) / float64(dp); per > 4 {
		t.Errorf("%.1f list calls per poll for 2 prefixes", per)
	}
	if got := a.Counters().Get("s3_keys_listed"); got > 100 {
		t.Errorf("%d keys listed: the old files were listed", got)
	}
	gets := a.Counters().Get("s3_get_calls")
	if gets != 5 {
		t.Errorf("%d GetObject calls for 5 files", gets)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// While it is down: a file named a minute before the last one read
	// lands late, and a new file repeats a record already read.
	s3f.put(t, "org-trail", trailKey("o-abc123", "111122223333", "us-east-1", now.Add(-2*time.Hour+14*time.Minute), "late"), trailFile(t, burst[100:103]))
	extra := fixtureRecords(t, "tp-instance-burst-cross-account.json.gz", now.Add(-2*time.Hour+7*time.Minute))[:5]
	for i, r := range extra {
		r["eventID"] = fmt.Sprintf("0b8e61a2-5c1d-4e3f-9a7b-%012d", i)
	}
	s3f.put(t, "org-trail", trailKey("o-abc123", "111122223333", "us-east-1", now.Add(-time.Hour), "new"), trailFile(t, append(extra, burst[0])))

	b := live(t, cfg, state, testHooks{})
	waitFor(t, "the two new files", func() bool { return b.Counters().Get("files_read") == 2 })
	if got := b.Counters().Get("s3_get_calls"); got != 2 {
		t.Errorf("after the restart %d GetObject calls, want the 2 new files only", got)
	}
	if got := b.Counters().Get("duplicates"); got < 4 {
		t.Errorf("%d duplicates dropped, want the late file's 3 and the repeated record", got)
	}
	dets = detections(t, b)
	if len(dets) != 1 || dets[0]["uid"] != uid {
		t.Fatalf("after the restart: %v, want the detection %s back, updated", dets, uid)
	}
	var events int
	for _, r := range rows(t, b, schema.CloudEvents) {
		if r["principal"] != "" {
			events++
		}
	}
	if events != len(burst)+5+1 {
		t.Errorf("%d cloud events kept, want %d (each once)", events, len(burst)+5+1)
	}
	h := b.Health(context.Background())
	if h.State != sdk.StateRunning || !strings.Contains(h.Message, "trail s3://org-trail/AWSLogs/") {
		t.Errorf("health %v %s", h.State, h.Message)
	}
}
