package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQSAPI is what queue mode calls on SQS.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// QueueConsumer is queue mode: S3 event notifications of new trail files
// on an SQS queue (sent directly or through SNS), received with long
// polling. A message is deleted only once every file it names is kept;
// while a file is read its visibility is extended, so a large file is
// not handed to another collector meanwhile. Any number of collectors
// share one queue: SQS gives each message to one of them, and one that
// dies mid-file leaves the message to reappear for another.
type QueueConsumer struct {
	Reader
	SQS        SQSAPI
	URL        string
	Wait       time.Duration // long polling wait, at most 20s
	Visibility time.Duration
	// Marked says whether a file was kept before (a redelivery after a
	// crash between keeping and deleting).
	Marked func(bucket, key string) bool
	// ExtendEvery is how often a message in hand has its visibility
	// extended; 0 means a third of Visibility.
	ExtendEvery time.Duration
}

// Step receives one batch of messages and handles each.
func (q *QueueConsumer) Step(ctx context.Context) (bool, error) {
	q.Counters.Add("sqs_receive_calls", 1)
	out, err := q.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10,
		WaitTimeSeconds:   int32(q.Wait / time.Second),
		VisibilityTimeout: int32(q.Visibility / time.Second),
	})
	if err != nil {
		return false, fmt.Errorf("receiving from %s: %w", q.URL, err)
	}
	// Every message of the batch stays invisible while the ones before
	// it are read.
	stops := make([]func(), len(out.Messages))
	for i, m := range out.Messages {
		stops[i] = q.keepInvisible(ctx, m.ReceiptHandle)
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for i, m := range out.Messages {
		q.Counters.Add("sqs_messages", 1)
		if err := q.handle(ctx, m.Body, m.ReceiptHandle, stops[i]); err != nil {
			return false, err
		}
	}
	return len(out.Messages) > 0, nil
}

func (q *QueueConsumer) handle(ctx context.Context, body, receipt *string, stop func()) error {
	objects, err := NotificationObjects(aws.ToString(body))
	if err != nil {
		// Not a notification we can read: counted and left to the
		// queue's redrive policy (a dead-letter queue), never lost here.
		q.Counters.Add("sqs_unreadable", 1)
		q.Counters.Add("parse_errors", 1)
		return nil
	}
	for _, o := range objects {
		if !strings.HasSuffix(o.Key, ".json.gz") && !strings.HasSuffix(o.Key, ".json") {
			q.Counters.Add("sqs_objects_ignored", 1)
			continue
		}
		if q.Marked != nil && q.Marked(o.Bucket, o.Key) {
			q.Counters.Add("files_already_read", 1)
			continue
		}
		if err := q.ReadFile(ctx, o.Bucket, o.Key, nil); err != nil {
			return err
		}
	}
	stop()
	q.Counters.Add("sqs_delete_calls", 1)
	if _, err := q.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: receipt}); err != nil {
		// Kept but not deleted: the redelivery is known by its mark.
		return fmt.Errorf("deleting a message from %s: %w", q.URL, err)
	}
	return nil
}

// keepInvisible extends the message's visibility every third of the
// timeout until stopped.
func (q *QueueConsumer) keepInvisible(ctx context.Context, receipt *string) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := q.ExtendEvery
		if every <= 0 {
			every = max(q.Visibility/3, 10*time.Millisecond)
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				q.Counters.Add("sqs_visibility_extensions", 1)
				_, err := q.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
					QueueUrl: aws.String(q.URL), ReceiptHandle: receipt, VisibilityTimeout: int32(q.Visibility / time.Second),
				})
				if err != nil {
					q.Counters.Add("collector_errors", 1)
				}
			}
		}
	}()
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// Object is one S3 object a notification names.
type Object struct {
	Bucket, Key string
	Size        int64
}

// NotificationObjects reads the objects an S3 event notification names,
// sent to SQS directly or wrapped in an SNS notification; a test event
// names none.
func NotificationObjects(body string) ([]Object, error) {
	var sns struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &sns); err != nil {
		return nil, err
	}
	if sns.Type == "Notification" && sns.Message != "" {
		body = sns.Message
	}
	var n struct {
		Event   string `json:"Event"`
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key  string `json:"key"`
					Size int64  `json:"size"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		return nil, err
	}
	if n.Event == "s3:TestEvent" {
		return nil, nil
	}
	if n.Records == nil {
		return nil, fmt.Errorf("not an S3 event notification")
	}
	var out []Object
	for _, r := range n.Records {
		if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		// S3 URL-encodes keys in notifications (spaces as +).
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			key = r.S3.Object.Key
		}
		out = append(out, Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size})
	}
	return out, nil
}
