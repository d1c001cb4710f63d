//go:build linux

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

var buildAWSPlugin = sync.OnceValue(func() error {
	out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "plugins", "stagewatch-aws"),
		"github.com/stagewatch/stagewatch/plugins/aws").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build stagewatch-aws: %v\n%s", err, out)
	}
	return nil
})

// historyRecord is an object read an hour before the fixture's burst: a
// collector judges no burst in its first TimeWindow of history.
const historyRecord = `{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAQXAMPLEOPS","arn":"arn:aws:iam::111122223333:user/ops","accountId":"111122223333","userName":"ops"},"eventTime":"2026-03-02T08:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.20","userAgent":"[aws-cli/2.15.30]","requestParameters":{"bucketName":"corp-app-config","key":"a.yaml"},"responseElements":null,"additionalEventData":{"bytesTransferredOut":12},"requestID":"HIST0001","eventID":"7d1f0c4e-0000-4000-8000-000000000001","readOnly":true,"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}]}`

// TestEndToEndAWSCollector is AN0043 as an operator runs it on a
// collector host: stagewatchd run with remote_analytics enabling it and
// its section in the YAML file, the stagewatch-aws plugin reading an
// organization trail's files from a real S3 protocol server with the
// SDK's default credential chain (the environment), and the detection
// answered by SQL over the control socket.
func TestEndToEndAWSCollector(t *testing.T) {
	if err := buildAWSPlugin(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	client := s3.New(s3.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDE2E", "e2e-secret", ""),
		BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("org-trail")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("org-trail"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var hist bytes.Buffer
	zw := gzip.NewWriter(&hist)
	zw.Write([]byte(historyRecord))
	zw.Close()
	prefix := "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/03/02/111122223333_CloudTrail_us-east-1_"
	put(prefix+"20260302T0805Z_history.json.gz", hist.Bytes())
	burst, err := os.ReadFile("../../../plugins/aws/testdata/tp-instance-burst-cross-account.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	put(prefix+"20260302T0910Z_burst.json.gz", burst)

	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	cfg := filepath.Join(dir, "stagewatch.yaml")
	text := fmt.Sprintf(`stagewatch:
  plugin_dir: %s
  plugins: [stagewatch-aws]
  remote_analytics: [AN0043]
  host_identifier: collector-e2e
  socket: %s
  state_dir: %s
AN0043:
  CloudBucketList: ["staging:partner-dropbox-*"]
  ObjectWriteThreshold: {objects: 100}
  aws:
    region: us-east-1
    endpoints: {s3: %q}
    s3_path_style: true
    trail: {bucket: org-trail, prefix: "AWSLogs/", start: "2026-03-02T00:00:00Z"}
    instances: {resolve: false}
    poll_interval: 5s
`, filepath.Join(binDir, "plugins"), filepath.Join(dir, "run", "stagewatchd.sock"), filepath.Join(dir, "state"), srv.URL)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(dir, "aws.conf")
	os.WriteFile(pack, []byte(`{"queries":{"aws":{"query":"SELECT uid, severity FROM staging_detections WHERE analytic_id = 'AN0043'","interval":1}}}`), 0o644)

	cmd := exec.Command(stagewatchd, "run", "--config", cfg, "--pack", pack, "--results-log", filepath.Join(dir, "results.log"))
	// The SDK's default chain: credentials from the environment.
	cmd.Env = append(os.Environ(), "STAGEWATCH_CONFIG=", "AWS_ACCESS_KEY_ID=AKIDE2E", "AWS_SECRET_ACCESS_KEY=e2e-secret", "AWS_EC2_METADATA_DISABLED=true")
	stderr := &sdktest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	var rows []map[string]string
	for {
		r := runCLI(t, -1, "query", "--config", cfg, "SELECT uid, severity, file_count, reason FROM staging_detections WHERE analytic_id = 'AN0043'")
		rows = nil
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &rows) == nil && len(rows) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no AN0043 detection after 60s: %s %s", r.stdout, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(rows) != 1 || rows[0]["severity"] != "high" || rows[0]["file_count"] != "121" || !strings.Contains(rows[0]["reason"], "partner-dropbox-7731") {
		t.Errorf("detections %v", rows)
	}
	r := runCLI(t, -1, "query", "--config", cfg, "SELECT state, counters FROM staging_analytics WHERE analytic_id = 'AN0043'")
	if !strings.Contains(r.stdout, `"state":"running"`) || !strings.Contains(r.stdout, `files_read`) {
		t.Errorf("staging_analytics: %s %s", r.stdout, r.stderr)
	}
	// The credentials the plugin used are nowhere in what it said.
	if strings.Contains(stderr.String(), "e2e-secret") {
		t.Error("the secret key reached the log")
	}
}
