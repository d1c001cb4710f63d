package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

const putObject = `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAX:i-0a1b2c3d4e5f67890","arn":"arn:aws:sts::111122223333:assumed-role/web/i-0a1b2c3d4e5f67890","accountId":"111122223333","accessKeyId":"ASIAX","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/web","accountId":"111122223333","userName":"web"},"ec2RoleDelivery":"2.0"}},"eventTime":"2026-03-02T09:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 Python/3.11.8]","requestParameters":{"bucketName":"drop","Host":"drop.s3.us-east-1.amazonaws.com","key":"a \"quoted\" key\\"},"responseElements":null,"additionalEventData":{"bytesTransferredIn":1024,"bytesTransferredOut":0},"requestID":"R1","eventID":"E1","readOnly":false,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::drop/k"},{"accountId":"444455556666","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::drop"}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}`

const noise = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"eventTime":"2026-03-02T09:00:01Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","requestParameters":{"encryptionContext":{"eventName":"ModifyVolume"}},"eventID":"E2"}`

const modifyVolumeRecord = `{
  "eventTime": "2026-03-02T09:00:02Z",
  "eventSource": "ec2.amazonaws.com",
  "eventName": "ModifyVolume",
  "awsRegion": "us-east-1",
  "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "accountId": "111122223333"},
  "requestParameters": {"ModifyVolumeRequest": {"VolumeId": "vol-1", "Size": 500}},
  "responseElements": {"ModifyVolumeResponse": {"volumeModification": {"volumeId": "vol-1", "targetSize": 500, "originalSize": "8"}}},
  "eventID": "E3"
}`

func decodeAll(t *testing.T, in []byte) ([]*Event, Stats) {
	t.Helper()
	var evs []*Event
	st, err := Decode(bytes.NewReader(in), func(r *Record) {
		if e, ok := Normalize(r); ok {
			evs = append(evs, e)
		}
	})
	if err != nil {
		t.Fatalf("%v (%s)", err, in[:min(len(in), 60)])
	}
	return evs, st
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestShapes: every shape CloudTrail JSON arrives in gives the same
// events: a delivery file (compact, pretty, gzipped, with a BOM, with a
// key before Records), a JSON array (an event-history export, a
// detonation log), JSON lines, and a LookupEvents answer.
func TestShapes(t *testing.T) {
	t.Parallel()
	recs := []string{putObject, noise, modifyVolumeRecord}
	var lookup []map[string]any
	for _, r := range recs {
		lookup = append(lookup, map[string]any{"EventId": "x", "EventName": "n", "CloudTrailEvent": r})
	}
	lk, _ := json.Marshal(map[string]any{"Events": lookup, "NextToken": "t"})
	lkArray, _ := json.Marshal(lookup)
	compact := `{"Records":[` + strings.Join(recs, ",") + `]}`
	shapes := map[string][]byte{
		"delivery":            []byte(compact),
		"delivery, gzip":      gz([]byte(compact)),
		"delivery, BOM":       []byte("\ufeff" + compact),
		"delivery, pretty":    []byte("{\n  \"Records\": [\n    " + strings.Join(recs, ",\n    ") + "\n  ]\n}\n"),
		"delivery, key first": []byte(`{"Digest":{"a":[1,2,{"b":"]"}]},"Records":[` + strings.Join(recs, ",") + `]}`),
		"array":               []byte("[\n" + strings.Join(recs, ",\n") + "\n]"),
		"lines":               []byte(strings.ReplaceAll(putObject, "\n", "") + "\n" + noise + "\n" + strings.ReplaceAll(modifyVolumeRecord, "\n", "") + "\n"),
		"lookup answer":       lk,
		"lookup array":        lkArray,
	}
	for name, in := range shapes {
		evs, st := decodeAll(t, in)
		if st.Records != 3 || st.Skipped != 1 || st.ParseErrors != 0 || len(evs) != 2 {
			t.Errorf("%s: %+v, %d events", name, st, len(evs))
			continue
		}
		put, mv := evs[0], evs[1]
		if put.Name != "PutObject" || put.Bucket != "drop" || put.Key != `a "quoted" key\` || put.Bytes != 1024 || put.Instance != "i-0a1b2c3d4e5f67890" ||
			put.Role != "web" || put.BucketOwner != "444455556666" || put.UserAgent != "aws-cli/2.15.30 Python/3.11.8" || !put.Time.Equal(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: PutObject %+v", name, put)
		}
		if mv.Volume != "vol-1" || mv.Size != 500 || mv.OriginalSize != 8 || mv.Kind != KindVolumeModify {
			t.Errorf("%s: ModifyVolume %+v", name, mv)
		}
	}
}

// TestMalformed: a bad line or element is counted and reading goes on
// where the shape allows; a truncated file is an error, not a hang.
func TestMalformed(t *testing.T) {
	t.Parallel()
	lines := noise + "\nnot json at all\n{\"eventName\":\"PutObject\",\"eventTime\":\n" + putObject + "\n"
	evs, st := decodeAll(t, []byte(lines))
	if len(evs) != 1 || st.ParseErrors == 0 {
		t.Errorf("lines: %+v %d", st, len(evs))
	}
	noName := `{"Records":[{"eventTime":"2026-03-02T09:00:00Z"},` + putObject + `]}`
	evs, st = decodeAll(t, []byte(noName))
	if len(evs) != 1 || st.ParseErrors != 1 || !strings.Contains(st.FirstError, "no eventName") {
		t.Errorf("no eventName: %+v", st)
	}
	for _, trunc := range []string{`{"Records":[` + putObject[:200], `[` + putObject + `,`, `{"Records":`} {
		if _, err := Decode(strings.NewReader(trunc), func(*Record) {}); err == nil {
			t.Errorf("truncated %q read without error", trunc[max(0, len(trunc)-30):])
		}
	}
	if _, err := Decode(strings.NewReader("<xml/>"), func(*Record) {}); err == nil {
		t.Error("XML read as CloudTrail")
	}
	if st, err := Decode(strings.NewReader(""), func(*Record) {}); err != nil || st.Records != 0 {
		t.Errorf("empty: %v %+v", err, st)
	}
}

// TestLongRecordAcrossReads: a record far longer than the scanner's
// buffer is read whole.
func TestLongRecordAcrossReads(t *testing.T) {
	t.Parallel()
	long := strings.Replace(putObject, `"Host":"drop.s3.us-east-1.amazonaws.com"`, `"Host":"`+strings.Repeat(`x\"`, 400000)+`"`, 1)
	in := `{"Records":[` + long + `,` + long + `]}`
	evs, st := decodeAll(t, []byte(in))
	if len(evs) != 2 || st.ParseErrors != 0 {
		t.Errorf("%+v %d", st, len(evs))
	}
}

// TestNormalizeEvents: the shapes of the staging calls as CloudTrail
// records them.
func TestNormalizeEvents(t *testing.T) {
	t.Parallel()
	rec := func(name, params, resp string) *Record {
		r, err := ParseRecord([]byte(fmt.Sprintf(`{"eventTime":"2026-03-02T09:00:00Z","eventSource":"ec2.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","accountId":"111122223333","arn":"arn:aws:iam::111122223333:user/u"},"requestParameters":%s,"responseElements":%s,"eventID":"e"}`, name, params, resp)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		r     *Record
		check func(e *Event) bool
	}{
		{rec("ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"444455556666"},{"group":"all"}]}}}`, `{"_return":true}`),
			func(e *Event) bool { return e.Snapshot == "snap-1" && e.Public && len(e.SharedWith) == 1 }},
		{rec("ModifySnapshotAttribute", `{"snapshotId":"snap-1","createVolumePermission":{"remove":{"items":[{"userId":"444455556666"}]}}}`, `{"_return":true}`),
			func(e *Event) bool { return !e.Public && len(e.SharedWith) == 0 }},
		{rec("ModifyImageAttribute", `{"imageId":"ami-1","launchPermission":{"add":{"items":[{"userId":"444455556666"}]}}}`, `null`),
			func(e *Event) bool { return e.Image == "ami-1" && e.SharedWith[0] == "444455556666" }},
		{rec("ModifyDBSnapshotAttribute", `{"dBSnapshotIdentifier":"db1","attributeName":"restore","valuesToAdd":["all"]}`, `null`),
			func(e *Event) bool { return e.Snapshot == "db1" && e.Public }},
		{rec("CreateVolume", `{"size":"200","snapshotId":"snap-9"}`, `{"volumeId":"vol-2","size":"200"}`),
			func(e *Event) bool { return e.Volume == "vol-2" && e.Size == 200 && e.FromSnapshot == "snap-9" }},
		{rec("AttachVolume", `{"volumeId":"vol-2","instanceId":"i-1"}`, `{}`),
			func(e *Event) bool { return e.Volume == "vol-2" && e.TargetInstance == "i-1" }},
		{rec("CreateSnapshots", `{"instanceSpecification":{"instanceId":"i-1"}}`, `{"snapshotSet":{"items":[{"snapshotId":"snap-3"}]}}`),
			func(e *Event) bool { return e.Snapshot == "snap-3" && e.TargetInstance == "i-1" }},
		{rec("CopySnapshot", `{"sourceSnapshotId":"snap-4","sourceRegion":"eu-west-1"}`, `{"snapshotId":"snap-5"}`),
			func(e *Event) bool { return e.Snapshot == "snap-5" && e.Kind == KindSnapshotCreate }},
	} {
		e, ok := Normalize(tc.r)
		if !ok || !tc.check(e) {
			t.Errorf("%s: %+v", tc.r.EventName, e)
		}
	}
	// A multipart upload: parts carry bytes, the completion is the object.
	for name, kind := range map[string]Kind{"UploadPart": KindObjectPart, "CompleteMultipartUpload": KindObjectWrite, "CopyObject": KindObjectWrite, "GetObject": KindObjectRead} {
		if kinds[name] != kind {
			t.Errorf("%s is %v", name, kinds[name])
		}
	}
}
