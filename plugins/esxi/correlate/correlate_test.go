package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

func testConfig() Config {
	cli, _ := ParseCLIContext([]string{"shell", "ssh", "vim-cmd", "vmkfstools", "ua:govc/*"})
	return Config{AnalyticID: "AN0044", Platform: "esxi", DetectionID: "DET0014", TechniqueID: "T1074.002", Window: 15 * time.Minute,
		PerVM: 3, PerHost: 10, AccessUsers: []string{`VSPHERE.LOCAL\svc-report`}, BackupUsers: []string{"*backup*"}, CLI: cli}
}

var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

func ev(sec int, src string, a activity.Action, user, vm string) *activity.Event {
	return &activity.Event{Time: t0.Add(time.Duration(sec) * time.Second), Host: "esx01", Source: src, Action: a, User: user, VM: vm, Key: fmt.Sprintf("k%d%s%s", sec, vm, a)}
}

func kinds(c *Correlator, evs ...*activity.Event) map[string]int {
	out := map[string]int{}
	seen := map[string]bool{}
	for _, e := range evs {
		for _, d := range c.Add(e) {
			k := strings.SplitN(d.Process, ":", 2)[0]
			if !seen[d.UID] {
				seen[d.UID] = true
				out[k]++
			}
		}
	}
	return out
}

func TestRules(t *testing.T) {
	t.Parallel()
	// Snapshot burst on one VM by an admin through the API.
	c := New(testConfig())
	got := kinds(c, ev(0, "api", activity.SnapshotCreate, "admin", "db01"), ev(60, "api", activity.SnapshotCreate, "admin", "db01"), ev(120, "api", activity.SnapshotCreate, "admin", "db01"))
	if got[KindSnapshotBurst] != 1 || len(got) != 1 {
		t.Errorf("per-VM burst: %v", got)
	}
	// Backup: one snapshot per VM, 40 VMs, then removed: quiet.
	c = New(testConfig())
	var evs []*activity.Event
	for i := range 40 {
		evs = append(evs, ev(i*10, "api", activity.SnapshotCreate, "VSPHERE.LOCAL\\svc-backup", fmt.Sprintf("vm%02d", i)), ev(i*10+5, "api", activity.SnapshotRemove, "VSPHERE.LOCAL\\svc-backup", fmt.Sprintf("vm%02d", i)))
	}
	if got := kinds(c, evs...); len(got) != 0 {
		t.Errorf("backup cadence raised %v", got)
	}
	// The same 40 snapshots by an admin: a per-host burst.
	c = New(testConfig())
	evs = nil
	for i := range 40 {
		evs = append(evs, ev(i*10, "api", activity.SnapshotCreate, "admin", fmt.Sprintf("vm%02d", i)))
	}
	if got := kinds(c, evs...); got[KindSnapshotBurst] != 1 {
		t.Errorf("per-host burst: %v", got)
	}
	// SSH login, then vim-cmd over SSH and its hostd task (one action),
	// then vmkfstools -i: one session detection, counting two actions.
	c = New(testConfig())
	login := ev(0, "ssh", activity.Login, "root", "")
	login.Peer = "10.0.0.5"
	snapCLI := ev(30, "ssh", activity.SnapshotCreate, "root", "1")
	snapCLI.Tool = "vim-cmd"
	snapHostd := ev(31, "hostd", activity.SnapshotCreate, "root", "1")
	snapHostd.Tool = "vim-cmd"
	clone := ev(90, "ssh", activity.DiskCopy, "root", "")
	clone.Tool, clone.Path, clone.Dest = "vmkfstools", "/vmfs/volumes/ds1/db01/db01.vmdk", "/vmfs/volumes/ds2/x/db01.vmdk"
	var last []string
	for _, e := range []*activity.Event{login, snapCLI, snapHostd, clone} {
		for _, d := range c.Add(e) {
			last = []string{d.Process, d.Severity, d.Actor, fmt.Sprint(d.FileCount)}
		}
	}
	if c.Stats().Merged != 1 || len(last) == 0 || !strings.HasPrefix(last[0], KindSessionStaging) || last[1] != "high" || last[3] != "2" || !strings.Contains(last[2], "10.0.0.5") {
		t.Errorf("session staging: %v %+v", last, c.Stats())
	}
	// An AccessUserList account taking one snapshot.
	c = New(testConfig())
	if got := kinds(c, ev(0, "api", activity.SnapshotCreate, `vsphere.local\SVC-REPORT`, "web01")); got[KindAccessUser] != 1 {
		t.Errorf("access user: %v", got)
	}
	// A VM's disk copied by an admin through the API; a template clone is not.
	c = New(testConfig())
	cp := ev(0, "api", activity.DiskCopy, "admin", "")
	cp.Path, cp.Dest = "[ds1] db01/db01.vmdk", "[nfs] out/db01.vmdk"
	clone2 := ev(5, "api", activity.VMClone, "admin", "web-template")
	if got := kinds(c, cp, clone2); got[KindDiskCopy] != 1 || len(got) != 1 {
		t.Errorf("disk copy: %v", got)
	}
	// An API client by user agent (CLIContext ua:govc/*).
	c = New(testConfig())
	l := ev(0, "api", activity.Login, "admin", "")
	l.UserAgent = "govc/0.52.0"
	if got := kinds(c, l, ev(10, "api", activity.SnapshotCreate, "admin", "db01")); got[KindSessionStaging] != 1 {
		t.Errorf("govc agent: %v", got)
	}
	// Sensitive VM by name and tag.
	cfg := testConfig()
	r1, _ := ParseVMRule("fin-*")
	r2, _ := ParseVMRule("tag:Compliance:PCI")
	cfg.Sensitive = []VMRule{r1, r2}
	c = New(cfg)
	tagged := ev(10, "api", activity.SnapshotCreate, "admin", "pay01")
	tagged.Tags = []string{"Compliance:PCI"}
	if got := kinds(c, ev(0, "api", activity.SnapshotCreate, "admin", "FIN-db"), tagged); got[KindSensitiveVM] != 2 {
		t.Errorf("sensitive: %v", got)
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{{`VSPHERE.LOCAL\svc-*`, `vsphere.local\svc-report`, true}, {"*backup*", "veeam-backup@corp", true}, {"a?c", "abc", true}, {"a*c", "ab", false}} {
		if Glob(tc.p, tc.s) != tc.ok {
			t.Errorf("%q %q", tc.p, tc.s)
		}
	}
}

// TestInventorySnapshots: snapshots only the inventory read found count
// toward SnapshotFrequency as tasks do, with a task's snapshot of the
// same window.
func TestInventorySnapshots(t *testing.T) {
	t.Parallel()
	c := New(testConfig())
	got := kinds(c, ev(0, activity.SourceInventory, activity.SnapshotCreate, "", "db01"), ev(30, activity.SourceInventory, activity.SnapshotCreate, "", "db01"),
		ev(60, activity.SourceAPI, activity.SnapshotCreate, "admin", "db01"))
	if got[KindSnapshotBurst] != 1 {
		t.Fatalf("inventory and task snapshots of one VM: %v", got)
	}
}
