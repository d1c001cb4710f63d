package vsphere

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// sim is one in-process vcsim server.
type sim struct {
	model  *simulator.Model
	server *simulator.Server
}

func newSim(t *testing.T, vpx bool) *sim {
	t.Helper()
	m := simulator.ESX()
	if vpx {
		m = simulator.VPX()
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m.Service.TLS = new(tlsConfigMarker).config()
	s := &sim{model: m, server: m.Service.NewServer()}
	t.Cleanup(func() { s.server.Close(); m.Remove() })
	return s
}

// attacker is a real govmomi client, as a script would drive vSphere.
func attacker(t *testing.T, s *sim) *govmomi.Client {
	t.Helper()
	u := *s.server.URL
	u.User = url.UserPassword("attacker", "pass")
	c, err := govmomi.NewClient(context.Background(), &u, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wait(t *testing.T, task *object.Task) {
	t.Helper()
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// pipeline is a collector's sink into a state, counting what is fresh.
type pipeline struct {
	mu    sync.Mutex
	state *remote.State
	fresh []activity.Event
}

func (p *pipeline) sink(_ context.Context, evs []activity.Event, cursors map[string]string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := remote.Batch{Cursors: cursors}
	for _, e := range evs {
		b.Events = append(b.Events, remote.Item{Key: e.Key, Time: e.Time, Data: []byte(e.Key)})
	}
	flags, err := p.state.Commit(b)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, f := range flags {
		if f {
			p.fresh = append(p.fresh, evs[i])
			n++
		}
	}
	return n, nil
}

func (p *pipeline) actions() map[activity.Action]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[activity.Action]int{}
	for _, e := range p.fresh {
		m[e.Action]++
	}
	return m
}

func secretFile(t *testing.T, v string) remote.Secret {
	f := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(f, []byte(v), 0o600)
	s, err := remote.ReadSecret("password", f, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func drain(t *testing.T, c *Collector) {
	t.Helper()
	for range 50 {
		more, err := c.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

func snapshotBurst(t *testing.T, s *sim, n int) *object.VirtualMachine {
	t.Helper()
	c := attacker(t, s)
	ctx := context.Background()
	vms, err := find.NewFinder(c.Client, true).VirtualMachineList(ctx, "/*/vm/*")
	if err != nil || len(vms) == 0 {
		t.Fatal(err)
	}
	vm := vms[0]
	for i := range n {
		task, err := vm.CreateSnapshot(ctx, "x"+string(rune('a'+i)), "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		wait(t, task)
	}
	return vm
}

// TestCollectorVPXAndESX: against both models, a script's snapshot burst,
// disk clone and datastore file copy come back as events, incrementally:
// a second poll reads nothing again.
func TestCollectorVPXAndESX(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	for _, vpx := range []bool{true, false} {
		for _, tasks := range []string{"auto", "recent"} {
			if vpx && tasks == "recent" {
				continue
			}
			name := map[bool]string{true: "vcenter", false: "esx"}[vpx] + "-" + tasks
			t.Run(name, func(t *testing.T) {
				s := newSim(t, vpx)
				p := &pipeline{state: remote.MemoryState(sdk.StateLimits{})}
				c := &Collector{Config: Config{URL: s.server.URL, Username: "stagewatch", Password: secretFile(t, "s3cret-pw"), Insecure: true, Tasks: tasks, Start: time.Now().Add(-time.Hour)},
					Cursors: p.state, Sink: p.sink, Counters: &remote.Counters{}}
				defer c.Close()
				drain(t, c)
				before := len(p.fresh)
				vm := snapshotBurst(t, s, 4)
				ctx := context.Background()
				cl := attacker(t, s)
				fd := find.NewFinder(cl.Client)
				dc, err := fd.DefaultDatacenter(ctx)
				if err != nil {
					t.Fatal(err)
				}
				fd.SetDatacenter(dc)
				ds, err := fd.DefaultDatastore(ctx)
				if err != nil {
					t.Fatal(err)
				}
				dsName := ds.Name()
				vdm := object.NewVirtualDiskManager(cl.Client)
				fm := object.NewFileManager(cl.Client)
				if err := fm.MakeDirectory(ctx, "["+dsName+"] stage", dc, true); err != nil {
					t.Fatal(err)
				}
				if task, err := vdm.CreateVirtualDisk(ctx, "["+dsName+"] stage/src.vmdk", dc, &types.FileBackedVirtualDiskSpec{VirtualDiskSpec: types.VirtualDiskSpec{DiskType: "thin", AdapterType: "lsiLogic"}, CapacityKb: 1024}); err == nil {
					wait(t, task)
				}
				task, err := vdm.CopyVirtualDisk(ctx, "["+dsName+"] stage/src.vmdk", dc, "["+dsName+"] stage/copy.vmdk", dc, nil, false)
				if err != nil {
					t.Fatal(err)
				}
				wait(t, task)
				task, err = fm.CopyDatastoreFile(ctx, "["+dsName+"] stage/copy.vmdk", dc, "["+dsName+"] stage/copy2.vmdk", dc, true)
				if err != nil {
					t.Fatal(err)
				}
				if err := task.Wait(ctx); err != nil {
					t.Logf("CopyDatastoreFile: %v", err)
				}
				_ = vm
				drain(t, c)
				got := p.actions()
				if got[activity.SnapshotCreate] != 4 || got[activity.DiskCopy] < 1 || got[activity.FileCopy]+got[activity.DiskCopy] < 2 || len(p.fresh) <= before {
					t.Fatalf("%s: actions %v", name, got)
				}
				n := len(p.fresh)
				drain(t, c)
				if len(p.fresh) != n {
					t.Errorf("a second poll read %d events again", len(p.fresh)-n)
				}
				for _, e := range p.fresh {
					if e.Action == activity.SnapshotCreate && (e.VM == "" || e.User == "" || e.Host == "") {
						t.Errorf("snapshot event %+v", e)
					}
				}
			})
		}
	}
}

// TestReconnectAndRestart: the session invalidated mid-run is logged in
// again with nothing lost or repeated; a new collector over the same
// durable state (a restart) reads only what is new; a simulator
// restarted under the collector is read from the cursor on.
func TestReconnectAndRestart(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	s := newSim(t, true)
	dir := t.TempDir()
	state, err := remote.OpenState(dir, sdk.StateLimits{}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{state: state}
	cfg := Config{URL: s.server.URL, Username: "stagewatch", Password: secretFile(t, "pw-xyz"), Insecure: true, Tasks: "auto", Start: time.Now().Add(-time.Hour)}
	counters := &remote.Counters{}
	c := &Collector{Config: cfg, Cursors: state, Sink: p.sink, Counters: counters}
	drain(t, c)
	snapshotBurst(t, s, 2)
	// The session is lost: the next step fails, the one after logs in
	// again and reads from the cursor.
	c.sm.Logout(context.Background())
	if _, err := c.Step(context.Background()); err == nil {
		t.Fatal("a step with a lost session succeeded")
	} else if strings.Contains(err.Error(), "pw-xyz") {
		t.Fatalf("the password is in an error: %v", err)
	}
	drain(t, c)
	if got := p.actions()[activity.SnapshotCreate]; got != 2 || counters.Get("vsphere_reconnects") != 1 {
		t.Fatalf("after reconnect: %d snapshots, %d reconnects", got, counters.Get("vsphere_reconnects"))
	}
	c.Close()
	state.Close()
	// A restart: the state is opened again, a new collector reads only
	// the new snapshot.
	state, err = remote.OpenState(dir, sdk.StateLimits{}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	p.state = state
	c = &Collector{Config: cfg, Cursors: state, Sink: p.sink, Counters: counters}
	defer c.Close()
	snapshotBurst(t, s, 1)
	drain(t, c)
	if got := p.actions()[activity.SnapshotCreate]; got != 3 {
		t.Fatalf("after restart: %d snapshots, want 3", got)
	}
	// The simulator restarts on the same address: its keys start again,
	// its queue times tell them apart.
	u := *s.server.URL
	u.User = nil
	s.server.Close()
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m.Service.TLS = new(tlsConfigMarker).config()
	m.Service.Listen = &u
	s = &sim{model: m, server: m.Service.NewServer()}
	t.Cleanup(func() { s.server.Close(); m.Remove() })
	if _, err := c.Step(context.Background()); err == nil {
		t.Log("the step after the restart succeeded")
	}
	snapshotBurst(t, s, 1)
	drain(t, c)
	if got := p.actions()[activity.SnapshotCreate]; got != 4 {
		t.Fatalf("after the simulator restarted: %d snapshots, want 4", got)
	}
}

// TestThumbprintPinned: a pinned SHA-256 or SHA-1 thumbprint connects
// with verification on; a wrong one is refused.
func TestThumbprintPinned(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	s := newSim(t, false)
	cert := s.server.Certificate()
	sum := sha256.Sum256(cert.Raw)
	p := &pipeline{state: remote.MemoryState(sdk.StateLimits{})}
	for _, tc := range []struct {
		tp string
		ok bool
	}{{hex.EncodeToString(sum[:]), true}, {strings.Repeat("ab", 32), false}} {
		c := &Collector{Config: Config{URL: s.server.URL, Username: "u", Password: secretFile(t, "p"), Thumbprint: tc.tp, Tasks: "auto", Start: time.Now()}, Cursors: p.state, Sink: p.sink}
		_, err := c.Step(context.Background())
		c.Close()
		if (err == nil) != tc.ok {
			t.Errorf("thumbprint %s: %v", tc.tp, err)
		}
	}
}
