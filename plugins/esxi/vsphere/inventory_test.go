package vsphere

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// forgetRecentTasks empties the host's TaskManager.recentTask, as hostd
// forgets its tasks after some minutes: what happened while the
// collector was down is then in no task the collector can read.
func forgetRecentTasks(t *testing.T, s *sim) {
	t.Helper()
	c := attacker(t, s)
	ref := *c.ServiceContent.TaskManager
	tm := s.model.Map().Get(ref).(*simulator.TaskManager)
	s.model.Map().WithLock(&simulator.Context{}, tm, func() { tm.RecentTask = nil })
}

// standalone is a collector of a standalone host (no task history: its
// recentTask) over state.
func standalone(t *testing.T, s *sim, state *remote.State, p *pipeline) *Collector {
	p.state = state
	return &Collector{Config: Config{URL: s.server.URL, Username: "stagewatch", Password: secretFile(t, "pw"), Insecure: true, Tasks: "recent",
		Start: time.Now().Add(-time.Hour), InventoryInterval: time.Hour}, Cursors: state, Sink: p.sink, Counters: &remote.Counters{}}
}

// staged is the staging events among evs (logins left out).
func staged(evs []activity.Event) []activity.Event {
	var out []activity.Event
	for _, e := range evs {
		if e.Action.Staging() {
			out = append(out, e)
		}
	}
	return out
}

func bySource(evs []activity.Event, source string, a activity.Action) []activity.Event {
	var out []activity.Event
	for _, e := range evs {
		if e.Source == source && e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

// TestInventorySnapshotsWhileDown: snapshots taken through the API while
// the collector was stopped, on a host whose recentTask has forgotten
// them, are reported once by the next inventory read (the first step of
// the restarted collector), not again after another restart, and a
// steady inventory reports nothing.
func TestInventorySnapshotsWhileDown(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	s := newSim(t, false)
	dir := t.TempDir()
	open := func() *remote.State {
		st, err := remote.OpenState(dir, sdk.StateLimits{}, func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	p := &pipeline{}
	state := open()
	c := standalone(t, s, state, p)
	drain(t, c)
	if n := len(bySource(p.fresh, activity.SourceInventory, activity.SnapshotCreate)); n != 0 {
		t.Fatalf("the first read reported %d snapshots of a VM that has none", n)
	}
	c.Close()
	state.Close()

	snapshotBurst(t, s, 3)
	forgetRecentTasks(t, s)

	state = open()
	c = standalone(t, s, state, p)
	drain(t, c)
	got := bySource(p.fresh, activity.SourceInventory, activity.SnapshotCreate)
	if len(got) != 3 || len(staged(p.fresh)) != 3 {
		t.Fatalf("after the restart: %d inventory snapshots of %d staging events, want 3: %+v", len(got), len(staged(p.fresh)), p.fresh)
	}
	for _, e := range got {
		if e.VM == "" || e.Snapshot == "" || e.Time.IsZero() || e.Host == "" {
			t.Errorf("inventory snapshot %+v", e)
		}
	}
	if calls := c.LastInventoryCalls; calls <= 0 || calls > 20 {
		t.Errorf("an inventory read of a small host made %d calls", calls)
	}
	// A steady inventory: nothing new.
	if err := c.Inventory(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(staged(p.fresh)); n != 3 {
		t.Fatalf("a steady inventory reported %d events", n-3)
	}
	c.Close()
	state.Close()

	// Another restart: read again, reported by no one again.
	state = open()
	defer state.Close()
	c = standalone(t, s, state, p)
	defer c.Close()
	drain(t, c)
	if n := len(staged(p.fresh)); n != 3 {
		t.Fatalf("after a second restart: %d new events: %+v", n-3, staged(p.fresh))
	}
}

// TestInventoryDedupeWithTasks: snapshots the collector read as tasks
// are not reported again by the inventory read after them.
func TestInventoryDedupeWithTasks(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	for _, vpx := range []bool{false, true} {
		s := newSim(t, vpx)
		p := &pipeline{}
		tasks := map[bool]string{false: "recent", true: "auto"}[vpx]
		c := standalone(t, s, remote.MemoryState(sdk.StateLimits{}), p)
		c.Config.Tasks = tasks
		drain(t, c)
		snapshotBurst(t, s, 2)
		drain(t, c)
		if err := c.Inventory(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n, inv := len(bySource(p.fresh, activity.SourceAPI, activity.SnapshotCreate)), len(bySource(p.fresh, activity.SourceInventory, activity.SnapshotCreate)); n != 2 || inv != 0 {
			t.Errorf("vpx=%v: %d snapshots from tasks, %d from the inventory; want 2 and 0", vpx, n, inv)
		}
		c.Close()
	}
}

// TestInventoryDiskCopied: a VM's disk copied into another folder while
// the collector was down is a disk copy at the next inventory read, with
// its path; the copy already read as a task is not reported twice.
func TestInventoryDiskCopied(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	s := newSim(t, false)
	p := &pipeline{}
	state := remote.MemoryState(sdk.StateLimits{})
	c := standalone(t, s, state, p)
	drain(t, c)
	c.Close()

	ctx := context.Background()
	cl := attacker(t, s)
	fd := find.NewFinder(cl.Client, true)
	dc, err := fd.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vms, err := fd.VirtualMachineList(ctx, "/*/vm/*")
	if err != nil {
		t.Fatal(err)
	}
	var vm mo.VirtualMachine
	if err := vms[0].Properties(ctx, vms[0].Reference(), []string{"layoutEx", "name"}, &vm); err != nil {
		t.Fatal(err)
	}
	var disk string
	for _, f := range vm.LayoutEx.File {
		if f.Type == "diskDescriptor" {
			disk = f.Name
		}
	}
	if disk == "" {
		t.Fatalf("%s has no disk in its layout", vm.Name)
	}
	ds := activity.DatastoreOf(disk)
	fm := object.NewFileManager(cl.Client)
	if err := fm.MakeDirectory(ctx, "["+ds+"] stage", dc, true); err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualDiskManager(cl.Client).CopyVirtualDisk(ctx, disk, dc, "["+ds+"] stage/loot.vmdk", dc, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	forgetRecentTasks(t, s)

	c = standalone(t, s, state, p)
	defer c.Close()
	drain(t, c)
	got := bySource(p.fresh, activity.SourceInventory, activity.DiskCopy)
	if len(got) != 1 || got[0].Path != "["+ds+"] stage/loot.vmdk" || got[0].Datastore != ds {
		t.Fatalf("disk copies from the inventory: %+v (all: %+v)", got, p.fresh)
	}
	n := len(staged(p.fresh))
	// The same copy made again, read as a task this time: one event.
	task, err = object.NewVirtualDiskManager(cl.Client).CopyVirtualDisk(ctx, disk, dc, "["+ds+"] stage/loot2.vmdk", dc, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	drain(t, c)
	if err := c.Inventory(ctx); err != nil {
		t.Fatal(err)
	}
	if st := staged(p.fresh); len(st) != n+1 || st[n].Source != activity.SourceAPI {
		t.Fatalf("a copy read as a task, then the inventory: %+v", st[n:])
	}
	for _, e := range p.fresh {
		if strings.Contains(e.Path, "-flat") {
			t.Errorf("an extent reported: %+v", e)
		}
	}
}
