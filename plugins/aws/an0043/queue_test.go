package an0043

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/aws/awstest"
)

// stallTransport holds every GET of a key containing stall until the
// request is abandoned: a collector reading a large file when it dies.
type stallTransport struct {
	stall   string
	stalled atomic.Int32
}

func (s *stallTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, s.stall) {
		s.stalled.Add(1)
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestQueueModeSharedByCollectors: S3 notifications of trail files on an
// SQS queue (direct and through SNS), two collectors sharing the queue
// with the JSON protocol: every file is read, none twice; a collector
// holding a large file keeps it invisible to the other, and when it dies
// mid-file the message comes back to the other, which reads it: nothing
// is lost.
func TestQueueModeSharedByCollectors(t *testing.T) {
	t.Parallel()
	s3f := newFakeS3(t, "org-trail")
	sqs := awstest.NewSQS(t)
	sqs.Second = 20 * time.Millisecond
	queue := sqs.QueueURL("trail-files")
	now := time.Now().UTC()
	burst := fixtureRecords(t, "tp-instance-burst-cross-account.json.gz", now.Add(-time.Hour))
	keys := []string{trailKey("", "111122223333", "us-east-1", now.Add(-2*time.Hour), "history")}
	s3f.put(t, "org-trail", keys[0], trailFile(t, history(t, now.Add(-2*time.Hour))))
	for i := range 10 {
		recs := burst[i*12 : i*12+12]
		key := trailKey("", "111122223333", "us-east-1", now.Add(-time.Hour+time.Duration(i)*time.Minute), fmt.Sprintf("q%02d", i))
		s3f.put(t, "org-trail", key, trailFile(t, recs))
		keys = append(keys, key)
	}
	for i, key := range keys {
		body := awstest.S3Notification("org-trail", key)
		if i%5 == 4 {
			body = awstest.SNSWrapped(body)
		}
		sqs.Send(queue, body)
	}
	sqs.Send(queue, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-03-02T09:00:00.000Z","Bucket":"org-trail","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`)

	cfg := fmt.Sprintf(`{"aws": {"region": "us-east-1", "endpoints": {"s3": %q, "sqs": %q}, "s3_path_style": true,
		"queue": {"url": %q, "wait": "1s", "visibility_timeout": "30s"}, "instances": {"resolve": false}}}`, s3f.url, sqs.URL, queue)
	hooks := testHooks{extendEvery: 5 * sqs.Second}
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := live(t, cfg, dirA, hooks)
	b := live(t, cfg, dirB, hooks)
	waitFor(t, "the queue drained", func() bool { left, _ := sqs.Stats(queue); return left == 0 })
	read := a.Counters().Get("files_read") + b.Counters().Get("files_read")
	if read != 11 {
		t.Errorf("%d files read by the two collectors, want 11", read)
	}
	_, receives := sqs.Stats(queue)
	for body, n := range receives {
		if n != 1 {
			t.Errorf("a message received %d times: %.80s", n, body)
		}
	}
	if a.Counters().Get("files_read") == 0 || b.Counters().Get("files_read") == 0 {
		t.Logf("one collector took every message (a %d, b %d): allowed, SQS gives to whoever asks", a.Counters().Get("files_read"), b.Counters().Get("files_read"))
	}
	// The SDK speaks the JSON protocol with the documented shapes.
	var sawReceive, sawDelete bool
	for _, r := range sqs.Requests() {
		switch r.Target {
		case "AmazonSQS.ReceiveMessage":
			sawReceive = true
			if r.Body["QueueUrl"] != queue || r.Body["MaxNumberOfMessages"] != float64(10) || r.Body["WaitTimeSeconds"] != float64(1) || r.Body["VisibilityTimeout"] != float64(30) {
				t.Errorf("ReceiveMessage %v", r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
				t.Errorf("content type %q", ct)
			}
		case "AmazonSQS.DeleteMessage":
			sawDelete = true
			if r.Body["ReceiptHandle"] == "" {
				t.Errorf("DeleteMessage %v", r.Body)
			}
		}
	}
	if !sawReceive || !sawDelete {
		t.Errorf("requests: receive %v delete %v", sawReceive, sawDelete)
	}

	// A large file: collector c holds it (its GET never ends) past the
	// visibility timeout, extending it, while b polls the same queue.
	big := trailKey("", "111122223333", "us-east-1", now.Add(-10*time.Minute), "big")
	more := fixtureRecords(t, "tp-instance-burst-cross-account.json.gz", now.Add(-20*time.Minute))
	for i, r := range more {
		r["eventID"] = fmt.Sprintf("9c7e61a2-5c1d-4e3f-9a7b-%012d", i)
	}
	s3f.put(t, "org-trail", big, trailFile(t, more))
	a.Close()
	b.Close()
	stall := &stallTransport{stall: "big"}
	c := live(t, cfg, filepath.Join(t.TempDir(), "c"), testHooks{extendEvery: 5 * sqs.Second, httpClient: &http.Client{Transport: stall}})
	sqs.Send(queue, awstest.S3Notification("org-trail", big))
	waitFor(t, "c holding the large file", func() bool { return stall.stalled.Load() > 0 })
	// d takes over a's state, and with it the history a read: a
	// collector judges no burst in its first TimeWindow of history.
	state := dirA
	if a.Counters().Get("files_read") < b.Counters().Get("files_read") {
		state = dirB
	}
	d := live(t, cfg, state, hooks)
	time.Sleep(60 * sqs.Second) // twice the visibility timeout
	if _, rc := sqs.Stats(queue); rc[awstest.S3Notification("org-trail", big)] > 1 || c.Counters().Get("sqs_visibility_extensions") == 0 {
		t.Fatalf("the message held by c was handed out again (extensions %d)", c.Counters().Get("sqs_visibility_extensions"))
	}
	// c dies mid-file: its message reappears and d reads the file.
	c.Close()
	waitFor(t, "the large file read after c died", func() bool { return d.Counters().Get("files_read") >= 1 })
	waitFor(t, "the queue drained again", func() bool { left, _ := sqs.Stats(queue); return left == 0 })
	// d has the detection a raised (its state) and the large file's.
	var found bool
	for _, det := range detections(t, d) {
		first, _ := strconv.ParseInt(det["first_seen"], 10, 64)
		if first >= now.Add(-21*time.Minute).Unix() && det["file_count"] == "121" {
			found = true
		}
	}
	if !found {
		t.Errorf("no detection of the large file: %v", detections(t, d))
	}
}
