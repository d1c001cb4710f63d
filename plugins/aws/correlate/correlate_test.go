package correlate

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	acct  = "111122223333"
	other = "444455556666"
	inst  = "i-0a1b2c3d4e5f67890"
)

func cfg() Config {
	return Config{AnalyticID: "AN0043", Platform: "aws", DetectionID: "DET0014", TechniqueID: "T1074.002",
		ObjectThreshold: 10, SnapshotThreshold: 3, Window: 15 * time.Minute}
}

var seq atomic.Int64

func write(at time.Duration, principal, instance, bucket string, kind cloudtrail.Kind) *cloudtrail.Event {
	n := seq.Add(1)
	name := map[cloudtrail.Kind]string{cloudtrail.KindObjectWrite: "PutObject", cloudtrail.KindObjectPart: "UploadPart", cloudtrail.KindObjectRead: "GetObject"}[kind]
	return &cloudtrail.Event{Time: t0.Add(at), EventID: fmt.Sprintf("e%05d", n), Account: acct, Region: "us-east-1", Source: "s3.amazonaws.com",
		Name: name, Kind: kind, Principal: principal, Instance: instance, SourceIP: "203.0.113.10", Bucket: bucket, Key: fmt.Sprintf("k%d", n), Bytes: 1 << 20}
}

func instanceWrite(at time.Duration, bucket string) *cloudtrail.Event {
	return write(at, "arn:aws:sts::"+acct+":assumed-role/web/"+inst, inst, bucket, cloudtrail.KindObjectWrite)
}

func run(c *Correlator, evs ...*cloudtrail.Event) []event.Detection {
	for _, e := range evs {
		c.Add(e)
	}
	return c.Flush()
}

type fakeResolver struct {
	tags    map[string]map[string]string
	volumes map[string]string
	calls   int
}

func (f *fakeResolver) Instance(account, region, id string) (Instance, bool) {
	f.calls++
	t, ok := f.tags[id]
	return Instance{Tags: t, Addresses: []string{"203.0.113.10"}}, ok
}

func (f *fakeResolver) VolumeInstance(account, region, volume string) (string, bool) {
	i, ok := f.volumes[volume]
	return i, ok
}

func TestBurstOutOfOrderAndLate(t *testing.T) {
	t.Parallel()
	c := New(cfg())
	var evs []*cloudtrail.Event
	for i := range 12 {
		evs = append(evs, instanceWrite(time.Duration(i)*time.Second, "drop"))
	}
	// Delivered in reverse, as a later file can hold earlier calls.
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	dets := run(c, evs...)
	if len(dets) != 1 || dets[0].FileCount != 12 || !strings.HasPrefix(dets[0].Process, KindObjectBurst) || dets[0].Severity != "medium" {
		t.Fatalf("%+v", dets)
	}
	// Two more arrive late, in a later file: the same detection grows.
	dets = run(c, instanceWrite(30*time.Second, "drop"), instanceWrite(2*time.Second, "drop"))
	if len(dets) != 1 || dets[0].FileCount != 14 {
		t.Fatalf("late: %+v", dets)
	}
	// Hours behind everything seen: too late to correlate, counted.
	c.Add(instanceWrite(6*time.Hour, "elsewhere"))
	c.Add(instanceWrite(time.Minute, "drop"))
	if c.Stats().Late != 1 {
		t.Errorf("late %d", c.Stats().Late)
	}
}

func TestMultipartIsOneObject(t *testing.T) {
	t.Parallel()
	c := New(cfg())
	var evs []*cloudtrail.Event
	for i := range 50 {
		evs = append(evs, write(time.Duration(i)*time.Second, "arn:aws:sts::"+acct+":assumed-role/web/"+inst, inst, "drop", cloudtrail.KindObjectPart))
	}
	if dets := run(c, evs...); len(dets) != 0 {
		t.Fatalf("50 parts made a burst: %+v", dets)
	}
}

func TestSteadyWriterAndOwnBuckets(t *testing.T) {
	t.Parallel()
	// An instance writing 17 objects per window for two hours, the
	// collector meeting it mid-stream: live, the warm-up keeps its first
	// window quiet and every later one is steady.
	var evs []*cloudtrail.Event
	for i := range 140 {
		evs = append(evs, instanceWrite(time.Duration(i)*7*time.Minute/8, "logs"))
	}
	live := cfg()
	live.WarmUp = live.Window
	c := New(live)
	dets := run(c, evs...)
	if len(dets) != 0 || c.Stats().Steady == 0 || c.Stats().WarmUp == 0 {
		t.Errorf("steady writer met mid-stream: %d detections, stats %+v", len(dets), c.Stats())
	}
	// Replayed alone, with no history, its first window is a burst.
	if dets := run(New(cfg()), evs...); len(dets) != 1 {
		t.Errorf("replayed: %d detections", len(dets))
	}
	// A user (not an instance) writing 50 objects to its own bucket.
	var ci []*cloudtrail.Event
	for i := range 50 {
		ci = append(ci, write(2*time.Hour+time.Duration(i)*time.Second, "arn:aws:iam::"+acct+":user/ci", "", "artifacts", cloudtrail.KindObjectWrite))
	}
	if dets := run(c, ci...); len(dets) != 0 {
		t.Errorf("CI into its own bucket: %+v", dets)
	}
	// The same user into another account's bucket, or a watched one.
	var out []*cloudtrail.Event
	for i := range 12 {
		e := write(2*time.Hour+time.Duration(i)*time.Second, "arn:aws:iam::"+acct+":user/ci", "", "partner", cloudtrail.KindObjectWrite)
		e.BucketOwner = other
		out = append(out, e)
	}
	dets = run(c, out...)
	if len(dets) != 1 || dets[0].Severity != "high" || !strings.Contains(dets[0].Reason, "owned by another account ("+other+")") {
		t.Errorf("into another account: %+v", dets)
	}
}

func TestBucketListAndInstanceTag(t *testing.T) {
	t.Parallel()
	stage, _ := ParseBucketRule("staging:exfil-*")
	usual, _ := ParseBucketRule("usual:corp-app/uploads/")
	tag, _ := ParseTagRule("isolated=true")
	res := &fakeResolver{tags: map[string]map[string]string{inst: {"isolated": "true", "env": "prod"}, "i-0other000000000": {"isolated": "false"}}}
	cf := cfg()
	cf.Buckets, cf.InstanceTags, cf.Resolver = []BucketRule{stage, usual}, []TagRule{tag}, res
	c := New(cf)
	var evs []*cloudtrail.Event
	for i := range 10 {
		evs = append(evs, instanceWrite(time.Duration(i)*time.Second, "exfil-1"))
		e := write(time.Duration(i)*time.Second, "arn:aws:sts::"+acct+":assumed-role/web/i-0other000000000", "i-0other000000000", "exfil-1", cloudtrail.KindObjectWrite)
		evs = append(evs, e)
	}
	dets := run(c, evs...)
	if len(dets) != 1 || dets[0].Severity != "high" || !strings.Contains(dets[0].Actor, "tags env=prod,isolated=true") || !strings.Contains(dets[0].Reason, "staging destination") {
		t.Fatalf("%+v", dets)
	}
	if c.Stats().OutOfScope == 0 {
		t.Error("the instance tagged isolated=false counted")
	}
	var usualEvs []*cloudtrail.Event
	for i := range 10 {
		e := instanceWrite(time.Hour+time.Duration(i)*time.Second, "corp-app")
		e.Key = "uploads/" + e.Key
		usualEvs = append(usualEvs, e)
	}
	if dets := run(c, usualEvs...); len(dets) != 1 || dets[0].Severity != "medium" {
		t.Errorf("a burst into a usual bucket: %+v", dets)
	}
	if calls := res.calls; calls > 40 {
		t.Errorf("%d resolver calls", calls)
	}
}

func TestVolumeThenWritesEitherOrder(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"attach first", "modify first"} {
		c := New(cfg())
		attach := &cloudtrail.Event{Time: t0.Add(-time.Hour), EventID: "att", Account: acct, Region: "us-east-1", Name: "AttachVolume", Kind: cloudtrail.KindVolumeAttach, Volume: "vol-1", TargetInstance: inst, Principal: "arn:aws:iam::" + acct + ":user/ops"}
		grow := &cloudtrail.Event{Time: t0, EventID: "mv", Account: acct, Region: "us-east-1", Name: "ModifyVolume", Kind: cloudtrail.KindVolumeModify, Volume: "vol-1", Size: 500, OriginalSize: 8, Principal: "arn:aws:iam::" + acct + ":user/ops"}
		first, second := attach, grow
		if order == "modify first" {
			first, second = grow, attach
		}
		var writes []*cloudtrail.Event
		for i := range 3 {
			writes = append(writes, instanceWrite(time.Minute+time.Duration(i)*time.Second, "corp-app"))
		}
		dets := run(c, append([]*cloudtrail.Event{first, second}, writes...)...)
		var vol *event.Detection
		for i := range dets {
			if strings.HasPrefix(dets[i].Process, KindVolumeExpansion) {
				vol = &dets[i]
			}
		}
		if vol == nil || vol.Severity != "high" || vol.FileCount != 3 || !strings.Contains(vol.Reason, "instance "+inst) || !strings.Contains(vol.Reason, "grown from 8 to 500 GiB") {
			t.Errorf("%s: %+v", order, dets)
		}
	}
	// A type change of the same size is no expansion.
	c := New(cfg())
	if dets := run(c, &cloudtrail.Event{Time: t0, EventID: "x", Kind: cloudtrail.KindVolumeModify, Volume: "vol-2", Size: 8, OriginalSize: 8}); len(dets) != 0 {
		t.Errorf("same size: %+v", dets)
	}
}

func TestSharingAndServices(t *testing.T) {
	t.Parallel()
	c := New(cfg())
	share := func(id string, with []string, public bool) *cloudtrail.Event {
		return &cloudtrail.Event{Time: t0, EventID: id, Account: acct, Region: "us-east-1", Name: "ModifySnapshotAttribute", Kind: cloudtrail.KindShare,
			Snapshot: "snap-" + id, SharedWith: with, Public: public, Principal: "arn:aws:iam::" + acct + ":user/u"}
	}
	dets := run(c, share("1", []string{other}, false), share("2", nil, true), share("3", []string{acct}, false), share("4", nil, false))
	if len(dets) != 2 || dets[0].Score != 85 || dets[1].Score != 95 || dets[1].ArchivePath != "public" {
		t.Fatalf("%+v", dets)
	}
	svc := share("5", []string{other}, false)
	svc.InvokedBy = "backup.amazonaws.com"
	slr := share("6", []string{other}, false)
	slr.Principal, slr.Role = "arn:aws:sts::"+acct+":assumed-role/AWSServiceRoleForEC2Fleet/x", "AWSServiceRoleForEC2Fleet"
	failed := share("7", []string{other}, false)
	failed.ErrorCode = "Client.UnauthorizedOperation"
	if dets := run(c, svc, slr, failed); len(dets) != 0 {
		t.Errorf("services and failures: %+v", dets)
	}
	if s := c.Stats(); s.Service != 2 || s.Failed != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSnapshotBurstAndAllowed(t *testing.T) {
	t.Parallel()
	cf := cfg()
	cf.AllowedPrincipals = []string{"arn:aws:sts::*:assumed-role/AWSBackupDefaultServiceRole/*"}
	c := New(cf)
	snap := func(i int, principal string) *cloudtrail.Event {
		return &cloudtrail.Event{Time: t0.Add(time.Duration(i) * time.Minute), EventID: fmt.Sprintf("s%d-%s", i, principal[len(principal)-3:]), Account: acct, Region: "us-east-1",
			Name: "CreateSnapshot", Kind: cloudtrail.KindSnapshotCreate, Snapshot: fmt.Sprintf("snap-%d", i), Principal: principal}
	}
	var evs []*cloudtrail.Event
	for i := range 4 {
		evs = append(evs, snap(i, "arn:aws:iam::"+acct+":user/contractor"), snap(i, "arn:aws:sts::"+acct+":assumed-role/AWSBackupDefaultServiceRole/job"))
	}
	dets := run(c, evs...)
	if len(dets) != 1 || dets[0].FileCount != 4 || !strings.Contains(dets[0].Evidence[0].Note, "T1578.001") {
		t.Fatalf("%+v", dets)
	}
	if c.Stats().Allowed != 4 {
		t.Errorf("allowed %d", c.Stats().Allowed)
	}
}

func TestGlobAndRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{{"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "abbbc", true}, {"arn:aws:sts::*:assumed-role/R/*", "arn:aws:sts::1:assumed-role/R/x/y", true}, {"a*b*c", "acb", false}, {"abc", "abcd", false}} {
		if Glob(tc.p, tc.s) != tc.want {
			t.Errorf("Glob(%q, %q)", tc.p, tc.s)
		}
	}
	if r, err := ParseBucketRule("s3://staging:x"); err != nil || r.Bucket != "staging:x" {
		t.Errorf("%+v %v", r, err)
	}
	if r, _ := ParseBucketRule("usual:b/p/"); r.Class != BucketUsual || r.Bucket != "b" || r.Prefix != "p/" {
		t.Errorf("%+v", r)
	}
	if _, err := ParseTagRule("=v"); err == nil {
		t.Error("empty tag key accepted")
	}
}
