package an0043

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/aws/awstest"
)

// ec2Record is a management event as CloudTrail records it.
func ec2Record(at time.Time, id, name string, params, resp map[string]any) map[string]any {
	return map[string]any{
		"eventVersion": "1.09", "eventTime": at.UTC().Format(time.RFC3339), "eventSource": "ec2.amazonaws.com", "eventName": name,
		"awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.20", "userAgent": "aws-cli/2.15.30 md/command#ec2",
		"userIdentity": map[string]any{"type": "IAMUser", "principalId": "AIDAQXAMPLEOPS", "arn": "arn:aws:iam::111122223333:user/ops-admin",
			"accountId": "111122223333", "accessKeyId": "AKIAQXAMPLEOPS", "userName": "ops-admin"},
		"requestParameters": params, "responseElements": resp, "requestID": "req-" + id, "eventID": id,
		"readOnly": false, "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management",
	}
}

func modifyVolume(at time.Time, id, volume string, from, to int) map[string]any {
	return ec2Record(at, id, "ModifyVolume", map[string]any{"ModifyVolumeRequest": map[string]any{"VolumeId": volume, "Size": to}},
		map[string]any{"ModifyVolumeResponse": map[string]any{"volumeModification": map[string]any{"volumeId": volume, "originalSize": from, "targetSize": to, "modificationState": "modifying"}}})
}

// TestLookupEventsAndEC2: management events read with LookupEvents
// (awsJson1_1, pages newest first, each record an escaped JSON string)
// from a local server, throttling and a 5xx retried with back-off and
// counted; ModifyVolume, which names no instance, resolved with
// DescribeVolumes and the instance's tags with DescribeInstances (query
// protocol), cached; InstanceTag keeps an instance out of scope; a
// restart reads the overlap again and drops it as duplicates.
func TestLookupEventsAndEC2(t *testing.T) {
	t.Parallel()
	api := awstest.NewAPI(t, "111122223333")
	now := time.Now().UTC()
	api.AddInstance(awstest.Instance{ID: "i-0a1b2c3d4e5f67890", PrivateIP: "10.0.12.34", PublicIP: "203.0.113.10", Tags: map[string]string{"isolated": "true", "env": "prod"}})
	api.AddInstance(awstest.Instance{ID: "i-0bbbbbbbbbbbbbbbb", PrivateIP: "10.0.12.99", Tags: map[string]string{"isolated": "false"}})
	api.AttachVolume("vol-0123456789abcdef0", "i-0a1b2c3d4e5f67890")
	api.AttachVolume("vol-0fffffffffffffff0", "i-0bbbbbbbbbbbbbbbb")
	var recs []map[string]any
	for i := range 120 {
		recs = append(recs, ec2Record(now.Add(-14*time.Minute+time.Duration(i)*5*time.Second), fmt.Sprintf("noise-%03d", i), "DescribeInstances", map[string]any{}, nil))
	}
	recs = append(recs,
		modifyVolume(now.Add(-9*time.Minute), "mv-in-scope", "vol-0123456789abcdef0", 8, 500),
		modifyVolume(now.Add(-8*time.Minute), "mv-out-of-scope", "vol-0fffffffffffffff0", 8, 500),
		ec2Record(now.Add(-7*time.Minute), "share-1", "ModifySnapshotAttribute",
			map[string]any{"snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
				"createVolumePermission": map[string]any{"add": map[string]any{"items": []any{map[string]any{"userId": "444455556666"}}}}},
			map[string]any{"_return": true}))
	api.AddEvents(recs...)
	api.SetFail("throttle", "5xx", "throttle")

	state := filepath.Join(t.TempDir(), "AN0043")
	cfg := fmt.Sprintf(`{"InstanceTag": {"isolated": "true"}, "aws": {"region": "us-east-1",
		"endpoints": {"cloudtrail": %q, "ec2": %q, "sts": %q}, "lookup_events": {"regions": ["us-east-1"]}}}`, api.URL, api.URL, api.URL)
	a := live(t, cfg, state, testHooks{})
	waitFor(t, "two detections", func() bool { return len(detections(t, a)) == 2 })
	dets := detections(t, a)
	vol, share := dets[0], dets[1]
	if !strings.HasPrefix(vol["process"], "volume_expansion") || !strings.Contains(vol["actor"], "instance i-0a1b2c3d4e5f67890, tags env=prod,isolated=true") || vol["severity"] != "medium" {
		t.Errorf("volume detection %v", vol)
	}
	if !strings.HasPrefix(share["process"], "share") || share["archive_path"] != "account 444455556666" {
		t.Errorf("share detection %v", share)
	}
	c := a.Counters()
	waitFor(t, "the poll counted", func() bool { return c.Get("lookup_polls") >= 2 })
	// Throttled, 5xx, throttled: the SDK's three attempts, two retried
	// with its back-off; the poll then backs off and tries again.
	if c.Get("aws_throttled") < 2 || c.Get("aws_server_errors") < 1 || c.Get("aws_retries") < 2 || c.Get("collector_errors") < 1 {
		t.Errorf("retries %d, throttled %d, 5xx %d", c.Get("aws_retries"), c.Get("aws_throttled"), c.Get("aws_server_errors"))
	}
	if c.Get("correlator_out_of_scope") == 0 && a.Health(t.Context()).Extra["correlator_out_of_scope"] == 0 {
		t.Error("the instance tagged isolated=false was not kept out of scope")
	}
	if got := c.Get("ec2_describe_volumes_calls"); got != 2 {
		t.Errorf("%d DescribeVolumes calls for two volumes", got)
	}
	if got := c.Get("ec2_describe_instances_calls"); got != 2 {
		t.Errorf("%d DescribeInstances calls for two instances (cached after)", got)
	}
	// The shapes the SDK sent, as the services document them.
	var pages, vols int
	for _, r := range api.Requests() {
		switch r.Target {
		case "CloudTrail_20131101.LookupEvents":
			attrs, _ := r.Body["LookupAttributes"].([]any)
			at, _ := attrs[0].(map[string]any)
			if at["AttributeKey"] != "EventSource" || r.Body["StartTime"] == nil || r.Body["EndTime"] == nil || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
				t.Errorf("LookupEvents %v", r.Body)
			}
			if r.Body["NextToken"] != nil {
				pages++
			}
		case "DescribeVolumes":
			vols++
			if r.Body["Version"] != "2016-11-15" || !strings.HasPrefix(r.Body["VolumeId.1"].(string), "vol-0") {
				t.Errorf("DescribeVolumes %v", r.Body)
			}
		}
	}
	if pages < 2 || vols != 2 {
		t.Errorf("%d LookupEvents follow-up pages, %d DescribeVolumes", pages, vols)
	}
	a.Close()

	b := live(t, cfg, state, testHooks{})
	waitFor(t, "a poll after the restart", func() bool { return b.Counters().Get("lookup_polls") >= 1 && b.Counters().Get("records") > 0 })
	waitFor(t, "the overlap dropped", func() bool { return b.Counters().Get("duplicates") > 0 })
	after := detections(t, b)
	if len(after) != 2 || after[0]["uid"] != vol["uid"] || after[1]["uid"] != share["uid"] {
		t.Errorf("after the restart %v", after)
	}
}
