// Package collect is AN0043's collection from AWS with aws-sdk-go-v2:
// trail files listed from S3 (polling) or announced by S3 event
// notifications on SQS (queue mode), management events from CloudTrail
// LookupEvents, and instance tags, addresses and volume attachments from
// EC2. Each collector hands CloudTrail records to a Sink with the cursor
// and marks that go past them, and counts its calls, retries and
// throttles; cursors, dedupe and back-off are the shared remote layer's.
package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
)

// Sink takes one batch of records from a source, with the cursors and
// marks that are true once the batch is kept; an error means nothing was
// kept and the source must read the batch again.
type Sink func(ctx context.Context, recs []*cloudtrail.Record, cursors map[string]string, marks []remote.Mark) (int, error)

// Connection is how to reach AWS.
type Connection struct {
	Region        string
	Profile       string
	AssumeRoleARN string
	ExternalID    string
	S3PathStyle   bool
	// Endpoints by service: s3, sqs, cloudtrail, ec2, sts.
	Endpoints map[string]string
	// HTTPClient and Credentials replace the SDK's (tests).
	HTTPClient  *http.Client
	Credentials aws.CredentialsProvider
	// MaxBackoff bounds the SDK's retry back-off (default 20s, the SDK's).
	MaxBackoff  time.Duration
	MaxAttempts int
}

// Load builds the SDK configuration: the default credential chain (or
// the given credentials), the region, an assumed role when asked, and a
// retryer that counts retries and throttles into counters.
func Load(ctx context.Context, c Connection, counters *remote.Counters) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	// The SDK's own log lines would reach the plugin's stderr unasked;
	// what matters is counted and said in health instead.
	opts = append(opts, config.WithLogger(logging.Nop{}))
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		std := retry.NewStandard(func(o *retry.StandardOptions) {
			if c.MaxBackoff > 0 {
				o.MaxBackoff = c.MaxBackoff
			}
			if c.MaxAttempts > 0 {
				o.MaxAttempts = c.MaxAttempts
			}
		})
		return &countingRetryer{RetryerV2: std, counters: counters}
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("aws: loading the SDK configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if c.HTTPClient != nil {
		// Set after loading: the SDK's CA-bundle setting would refuse a
		// client that is not its own buildable one.
		cfg.HTTPClient = c.HTTPClient
	}
	if c.AssumeRoleARN != "" {
		client := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if u := c.Endpoints["sts"]; u != "" {
				o.BaseEndpoint = aws.String(u)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, c.AssumeRoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "stagewatch-an0043"
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID)
			}
		}))
	}
	return cfg, nil
}

// countingRetryer is the SDK's standard retryer (exponential back-off
// with jitter on throttling, 5xx and transport errors), counting.
type countingRetryer struct {
	aws.RetryerV2
	counters *remote.Counters
}

func (r *countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	r.counters.Add("aws_retries", 1)
	return r.RetryerV2.RetryDelay(attempt, err)
}

// IsErrorRetryable is asked of every failed attempt: it counts throttles
// and server errors, retried or not.
func (r *countingRetryer) IsErrorRetryable(err error) bool {
	if Throttled(err) {
		r.counters.Add("aws_throttled", 1)
	} else {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			r.counters.Add("aws_server_errors", 1)
		}
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// Throttled reports whether err is AWS saying slow down.
func Throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"SlowDown", "RequestThrottled", "EC2ThrottledException":
		return true
	}
	return false
}
