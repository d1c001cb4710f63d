package an0043

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	d := New().Describe()
	if d.AnalyticID != "AN0043" || d.DetectionID != "DET0014" || d.TechniqueID != "T1074.002" || d.Platform != "aws" || !d.Remote ||
		!slices.Equal(d.InputFormats, []string{"cloudtrail"}) {
		t.Fatalf("descriptor %+v", d)
	}
	var names []string
	for _, e := range d.MutableElements {
		names = append(names, e.Name)
	}
	// DET0014's names, exactly, then AN0043's own.
	if !slices.Equal(names[:4], []string{"CloudBucketList", "InstanceTag", "ObjectWriteThreshold", "TimeWindow"}) {
		t.Errorf("elements %v", names)
	}
	var tables []string
	for _, tb := range d.Tables {
		tables = append(tables, tb.Name)
	}
	if !slices.Equal(tables, []string{"staging_detections", "staging_cloud_events"}) {
		t.Errorf("tables %v", tables)
	}
	var descs []sdk.MutableElement
	for _, e := range d.MutableElements {
		if e.Name != ObjectWriteThreshold && e.Name != InstanceTag {
			descs = append(descs, e)
		}
	}
	if err := elements.CheckDefaults(descs); err != nil {
		t.Error(err)
	}
}

// TestConfigure: the contract's keys are accepted with their defaults
// filled, every bad key or value is refused naming it, and live mode
// needs a source.
func TestConfigure(t *testing.T) {
	t.Parallel()
	ok := `{"CloudBucketList": ["corp-tmp-exchange", "staging:partner-*", "usual:corp-app-*/uploads/"], "InstanceTag": {"isolated": "true"},
		"ObjectWriteThreshold": {"objects": 50, "bytes": "10GB"}, "TimeWindow": "20m",
		"aws": {"region": "us-east-1", "assume_role_arn": "arn:aws:iam::111122223333:role/stagewatch-reader", "endpoints": {"s3": "", "sqs": "", "cloudtrail": "", "ec2": ""},
		"s3_path_style": false, "trail": {"bucket": "my-trail-bucket", "prefix": "AWSLogs/", "start": "24h"}, "queue": {"url": ""},
		"lookup_events": {"regions": []}, "poll_interval": "60s"}}`
	a := New()
	eff, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(ok), Mode: sdk.ModeLive})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(eff, &got)
	thr := got["ObjectWriteThreshold"].(map[string]any)
	conn := got["aws"].(map[string]any)
	if thr["objects"] != float64(50) || thr["bytes"] != float64(10<<30) || got["TimeWindow"] != "20m" || got["SnapshotThreshold"] != float64(5) ||
		conn["poll_interval"] != "1m0s" || conn["trail"].(map[string]any)["relist_margin"] != "15m0s" {
		t.Errorf("in effect: %s", eff)
	}
	if !strings.Contains(string(eff), `"isolated=true"`) {
		t.Errorf("InstanceTag in effect: %s", eff)
	}
	// The contract's own example: a bare object count.
	if _, err := New().Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(`{"ObjectWriteThreshold": 50, "InstanceTag": ["isolated"]}`), Mode: sdk.ModeReplay}); err != nil {
		t.Errorf("bare count: %v", err)
	}
	for _, tc := range []struct{ cfg, key, reason string }{
		{`{"CloudBucketLst": []}`, "CloudBucketLst", "unknown"},
		{`{"ObjectWriteThreshold": {"object": 5}}`, ObjectWriteThreshold, "unknown key"},
		{`{"ObjectWriteThreshold": 0}`, ObjectWriteThreshold, "1 or more"},
		{`{"ObjectWriteThreshold": {"bytes": "lots"}}`, ObjectWriteThreshold, "not a size"},
		{`{"TimeWindow": "10s"}`, TimeWindow, "expected 1m0s to 24h0m0s"},
		{`{"InstanceTag": [""]}`, InstanceTag, "names no tag key"},
		{`{"CloudBucketList": ["staging:"]}`, CloudBucketList, "names no bucket"},
		{`{"SnapshotThreshold": -1}`, SnapshotThreshold, "0 (off)"},
		{`{"aws": {"regoin": "x"}}`, "aws.regoin", "unknown key"},
		{`{"aws": {"trail": {"bucket": "b", "prefix": "AWSLogs"}}}`, "aws.trail.prefix", "must end with /"},
		{`{"aws": {"trail": {"bucket": "b", "start": "last week"}}}`, "aws.trail.start", "RFC 3339"},
		{`{"aws": {"poll_interval": "1s", "trail": {"bucket": "b"}}}`, "aws.poll_interval", "at least 5s"},
		{`{"aws": {"queue": {"url": "sqs-queue"}}}`, "aws.queue.url", "not a queue URL"},
		{`{"aws": {"queue": {"url": "https://sqs.us-east-1.amazonaws.com/1/q", "wait": "30s"}}}`, "aws.queue.wait", "0 to 20s"},
		{`{"aws": {"trail": {"bucket": "b"}, "queue": {"url": "https://sqs.us-east-1.amazonaws.com/1/q"}}}`, "aws.queue.url", "choose one"},
		{`{"aws": {"endpoints": {"s3": "localhost:9000"}, "trail": {"bucket": "b"}}}`, "aws.endpoints.s3", "not an http(s) URL"},
		{`{"aws": {"assume_role_arn": "stagewatch", "trail": {"bucket": "b"}}}`, "aws.assume_role_arn", "not a role ARN"},
		{`{}`, "aws", "no source to read"},
		{`[]`, "config", "mapping"},
	} {
		_, err := New().Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(tc.cfg), Mode: sdk.ModeLive})
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Reason, tc.reason) {
			t.Errorf("%s: %v, want key %s reason with %q", tc.cfg, err, tc.key, tc.reason)
		}
	}
	// Replay needs no source.
	if _, err := New().Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeReplay}); err != nil {
		t.Errorf("replay with defaults: %v", err)
	}
}
