package an0043

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// corpusDetection is one detection the real corpus yields, and why.
type corpusDetection struct {
	process, stagingPath, archivePath, severity string
	why                                         string
}

// TestCorpus replays the shared corpus of real CloudTrail: the
// invictus-ir data set (55 delivery files of one Stratus Red Team run,
// as CloudTrail wrote them to S3: unsorted, events late, in later files)
// and Stratus Red Team's own detonation logs (JSON arrays of events, one
// technique each). Every file parses without error, and every detection
// is explained here; nothing else may be raised.
func TestCorpus(t *testing.T) {
	t.Parallel()
	root := testenv.Corpus(t, "aws")
	var files []string
	for _, sub := range []string{"invictus-ir-aws_dataset/CloudTrail", "stratus-red-team-detonation-logs"} {
		got, err := filepath.Glob(filepath.Join(root, sub, "*.json"))
		if err != nil || len(got) == 0 {
			t.Fatalf("no corpus files under %s: %v", sub, err)
		}
		files = append(files, got...)
	}
	slices.Sort(files)
	a := configured(t, "", "", sdk.ModeReplay)
	var records uint64
	for _, f := range files {
		st := ingestFile(t, a, f)
		if st.ParseErrors != 0 {
			t.Errorf("%s: %d parse errors, first %q", filepath.Base(f), st.ParseErrors, st.FirstError)
		}
		records += st.Records
	}
	if records != 3210 {
		t.Errorf("read %d records from %d files; the corpus holds 3210", records, len(files))
	}
	want := []corpusDetection{
		// invictus-ir, 12:11:01: bert-jan (IAM user, Stratus) adds
		// launchPermission for 012345678901 to ami-0aa1d83d0b0985c86
		// (aws.exfiltration.ec2-share-ami); the remove at 12:11:57 in the
		// same file is not staging and raises nothing.
		{"share: ModifyImageAttribute×1", "ami-0aa1d83d0b0985c86", "account 012345678901", "high",
			"AMI shared with another account: anyone there can launch it and read its volumes"},
		// invictus-ir, 12:11:28, in the 1220Z file although its remove
		// (12:11:57) is in the 1215Z one: createVolumePermission add for
		// 012345678912 on snap-083d3b857c13988bc (ec2-share-ebs-snapshot).
		// Read in file order, the late add still counts.
		{"share: ModifySnapshotAttribute×1", "snap-083d3b857c13988bc", "account 012345678912", "high",
			"EBS snapshot shared with another account, delivered in a later file than its removal"},
		// invictus-ir, 12:22:06: restore permission for 193672423079 on the
		// RDS snapshot "exfiltration" (rds-share-snapshot); the valuesToRemove
		// at 12:28:24 raises nothing.
		{"share: ModifyDBSnapshotAttribute×1", "exfiltration", "account 193672423079", "high",
			"RDS snapshot shared with another account"},
		// Stratus detonation logs, one sharing call each, 2024-08-01.
		{"share: ModifyImageAttribute×1", "ami-de1fbCab6ccB03e6D", "account 846424999548", "high", "aws.exfiltration.ec2-share-ami"},
		{"share: ModifySnapshotAttribute×1", "snap-041993b54a9b3af6f", "account 098797384747", "high", "aws.exfiltration.ec2-share-ebs-snapshot"},
		{"share: ModifyDBSnapshotAttribute×1", "exfiltration", "account 503161813013", "high", "aws.exfiltration.rds-share-snapshot"},
	}
	// Not raised, on purpose: the two CreateSnapshot and two CreateVolume
	// calls of the invictus run (Terraform setting up the share
	// techniques) are under SnapshotThreshold and never attached to an
	// instance; SharedSnapshotVolumeCreated is EC2 acting for itself;
	// ec2-steal-instance-credentials uses the instance role from outside
	// but for GetCallerIdentity and DescribeInstances only, no object read
	// or write, so it is not staging.
	got := detections(t, a)
	if len(got) != len(want) {
		for _, d := range got {
			t.Logf("got %s %s %s %s", d["process"], d["staging_path"], d["archive_path"], d["reason"])
		}
		t.Fatalf("%d detections, want %d", len(got), len(want))
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(d sdk.Row) bool {
			return d["process"] == w.process && d["staging_path"] == w.stagingPath && d["archive_path"] == w.archivePath
		})
		if i < 0 {
			t.Errorf("missing %s on %s (%s)", w.process, w.stagingPath, w.why)
			continue
		}
		d := got[i]
		if d["severity"] != w.severity || d["technique_id"] != "T1074.002" || d["analytic_id"] != "AN0043" || d["platform"] != "aws" {
			t.Errorf("%s: %v", w.why, d)
		}
		if !strings.Contains(d["evidence"], "T1537") || !strings.Contains(d["reason"], "shared") {
			t.Errorf("%s: evidence %s reason %s", w.why, d["evidence"], d["reason"])
		}
	}
	// Every event it used is in staging_cloud_events once.
	ev := rows(t, a, "staging_cloud_events")
	ids := map[string]bool{}
	for _, r := range ev {
		if ids[r["event_id"]] {
			t.Errorf("event %s twice", r["event_id"])
		}
		ids[r["event_id"]] = true
	}
	// 13 staging calls: in the invictus run 2 CreateSnapshot, 2
	// CreateVolume and an add and a remove each of ModifyImageAttribute,
	// ModifySnapshotAttribute and ModifyDBSnapshotAttribute (removals are
	// events, not staging); one sharing call in each of 3 detonation logs.
	if len(ev) != 13 {
		t.Errorf("%d cloud events, want the corpus's 13 staging calls", len(ev))
	}
}
