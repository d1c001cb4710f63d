// Package awstest holds the AWS API servers AN0043's tests run against,
// in process, speaking the documented wire formats to the unmodified
// aws-sdk-go-v2 clients: SQS's JSON protocol (awsJson1_0: POST /,
// X-Amz-Target AmazonSQS.Action), CloudTrail's (awsJson1_1,
// CloudTrail_20131101.Action), and
// the EC2 and STS query protocol (form-encoded Action=…, XML answers).
// No emulator served here speaks SQS's JSON protocol (goaws speaks only
// the older query one), so this is a small faithful one: visibility
// timeouts, receipt handles that change with each receipt, redelivery,
// long polling.
package awstest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SQS is an in-process SQS speaking the JSON protocol, one queue per URL
// path. Second is how long one SQS second lasts here, so a test can run
// a 30 s visibility timeout in milliseconds; requests keep SQS's units.
type SQS struct {
	URL    string
	Second time.Duration

	mu       sync.Mutex
	cond     *sync.Cond
	queues   map[string][]*message // path -> messages
	seq      int
	requests []Request
}

// Request is one call as the server received it, for tests to check the
// shapes the SDK sends.
type Request struct {
	Target string
	Header http.Header
	Body   map[string]any
}

type message struct {
	id, body, receipt string
	visibleAt         time.Time
	receives          int
	deleted           bool
}

// NewSQS starts an SQS server for the test.
func NewSQS(t testing.TB) *SQS {
	s := &SQS{Second: time.Second, queues: map[string][]*message{}}
	s.cond = sync.NewCond(&s.mu)
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
		srv.Close()
	})
	s.URL = srv.URL
	return s
}

// QueueURL is the URL of queue name.
func (s *SQS) QueueURL(name string) string { return s.URL + "/123456789012/" + name }

// Send adds a message to a queue, as S3 or SNS would.
func (s *SQS) Send(queueURL, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	path := pathOf(queueURL)
	s.queues[path] = append(s.queues[path], &message{id: fmt.Sprintf("msg-%04d", s.seq), body: body})
	s.cond.Broadcast()
}

// Stats says how many messages are left and how often each was received.
func (s *SQS) Stats(queueURL string) (left int, receives map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	receives = map[string]int{}
	for _, m := range s.queues[pathOf(queueURL)] {
		receives[m.body] = m.receives
		if !m.deleted {
			left++
		}
	}
	return left, receives
}

// Requests returns the calls received so far.
func (s *SQS) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		return u[i:]
	}
	return "/"
}

func (s *SQS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || !strings.HasPrefix(target, "AmazonSQS.") || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.0") {
		jsonError(w, 400, "com.amazonaws.sqs#InvalidAction", "expected a JSON-protocol POST with X-Amz-Target AmazonSQS.*")
		return
	}
	var in map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &in); err != nil {
		jsonError(w, 400, "com.amazonaws.sqs#InvalidParameterValue", "malformed JSON")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Target: target, Header: r.Header.Clone(), Body: in})
	s.mu.Unlock()
	queue := pathOf(str(in["QueueUrl"]))
	switch strings.TrimPrefix(target, "AmazonSQS.") {
	case "ReceiveMessage":
		s.receive(w, r, queue, in)
	case "DeleteMessage":
		s.mu.Lock()
		defer s.mu.Unlock()
		m, ok := s.byReceipt(queue, str(in["ReceiptHandle"]))
		if !ok {
			jsonError(w, 400, "com.amazonaws.sqs#ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
			return
		}
		// A stale handle (the message was received again since) is
		// accepted and deletes nothing, as SQS documents.
		if m.receipt == str(in["ReceiptHandle"]) {
			m.deleted = true
		}
		writeJSON(w, map[string]any{})
	case "ChangeMessageVisibility":
		s.mu.Lock()
		defer s.mu.Unlock()
		m, ok := s.byReceipt(queue, str(in["ReceiptHandle"]))
		if !ok || m.receipt != str(in["ReceiptHandle"]) || m.deleted {
			jsonError(w, 400, "com.amazonaws.sqs#MessageNotInflight", "The message referred to isn't in flight.")
			return
		}
		m.visibleAt = time.Now().Add(time.Duration(num(in["VisibilityTimeout"])) * s.Second)
		writeJSON(w, map[string]any{})
	default:
		jsonError(w, 400, "com.amazonaws.sqs#UnsupportedOperation", target+" is not served by this test server")
	}
}

func (s *SQS) byReceipt(queue, handle string) (*message, bool) {
	id, _, ok := strings.Cut(handle, "#")
	if !ok {
		return nil, false
	}
	for _, m := range s.queues[queue] {
		if m.id == id {
			return m, true
		}
	}
	return nil, false
}

func (s *SQS) receive(w http.ResponseWriter, r *http.Request, queue string, in map[string]any) {
	max := int(num(in["MaxNumberOfMessages"]))
	if max <= 0 {
		max = 1
	}
	visibility := time.Duration(num(in["VisibilityTimeout"]))
	if visibility == 0 {
		visibility = 30
	}
	deadline := time.Now().Add(time.Duration(num(in["WaitTimeSeconds"])) * s.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var out []map[string]any
		now := time.Now()
		for _, m := range s.queues[queue] {
			if len(out) == max {
				break
			}
			if m.deleted || m.visibleAt.After(now) {
				continue
			}
			m.receives++
			m.receipt = fmt.Sprintf("%s#%d", m.id, m.receives)
			m.visibleAt = now.Add(visibility * s.Second)
			sum := md5.Sum([]byte(m.body))
			out = append(out, map[string]any{
				"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": hex.EncodeToString(sum[:]), "Body": m.body,
				"Attributes": map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.receives)},
			})
		}
		if len(out) > 0 || !time.Now().Before(deadline) || r.Context().Err() != nil {
			if len(out) == 0 {
				writeJSON(w, map[string]any{})
			} else {
				writeJSON(w, map[string]any{"Messages": out})
			}
			return
		}
		// Long polling: wait for a message or the deadline.
		t := time.AfterFunc(min(time.Until(deadline), s.Second/4), func() {
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
		})
		s.cond.Wait()
		t.Stop()
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case string:
		f, _ := strconv.ParseFloat(n, 64)
		return f
	}
	return 0
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// S3Notification is the body S3 sends to SQS for new objects.
func S3Notification(bucket string, keys ...string) string {
	var recs []map[string]any
	for _, k := range keys {
		recs = append(recs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": time.Now().UTC().Format(time.RFC3339Nano),
			"eventName": "ObjectCreated:Put",
			"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "trail-files",
				"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
				"object": map[string]any{"key": strings.ReplaceAll(k, " ", "+"), "size": 1024, "sequencer": "0055AED6DCD90281E5"}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

// SNSWrapped is body as SNS delivers it to an SQS subscription (raw
// message delivery off).
func SNSWrapped(body string) string {
	b, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:trail-files", "Subject": "Amazon S3 Notification", "Message": body,
		"Timestamp": time.Now().UTC().Format(time.RFC3339Nano), "SignatureVersion": "1"})
	return string(b)
}
