package an0044

import (
	"context"
	"crypto/tls"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/vsphere"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestVMIDsResolved: after an inventory read of a standalone host (vcsim's
// ESX model), a hostd task line naming vmid 12 on that host is the VM's
// name; on another host, or through a vCenter, it stays 12.
func TestVMIDsResolved(t *testing.T) {
	// Not parallel: govmomi's simulator keeps global state that two
	// models running at once race on (its license manager).
	for _, vpx := range []bool{false, true} {
		m := simulator.ESX()
		if vpx {
			m = simulator.VPX()
		}
		if err := m.Create(); err != nil {
			t.Fatal(err)
		}
		m.Service.TLS = new(tls.Config)
		s := m.Service.NewServer()
		ctx := context.Background()
		au := *s.URL
		au.User = url.UserPassword("a", "b")
		cl, err := govmomi.NewClient(ctx, &au, true)
		if err != nil {
			t.Fatal(err)
		}
		vms, err := find.NewFinder(cl.Client, true).VirtualMachineList(ctx, "/*/vm/*")
		if err != nil {
			t.Fatal(err)
		}
		vm := vms[0]
		name, err := vm.ObjectName(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vmid := vm.Reference().Value
		if len(vmid) > 3 && vmid[:3] == "vm-" {
			vmid = vmid[3:]
		}

		a := New()
		if _, err := a.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay, HostIdentifier: "collector-1"}); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(f, []byte("p"), 0o600)
		pw, _ := remote.ReadSecret("password", f, "")
		c := &vsphere.Collector{Config: vsphere.Config{URL: s.URL, Username: "u", Password: pw, Insecure: true, Tasks: "auto", Start: time.Now()},
			Cursors: remote.MemoryState(sdk.StateLimits{}), Names: func(server string, names map[string]string) { a.vmids.set(server, names) },
			Sink: func(context.Context, []activity.Event, map[string]string) (int, error) { return 0, nil }}
		if err := c.Inventory(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Close()
		m.Remove()

		host := s.URL.Hostname()
		evs := []activity.Event{
			{Time: time.Now(), Host: host, Source: activity.SourceHostd, Action: activity.SnapshotCreate, VM: vmid, Key: "k1"},
			{Time: time.Now(), Host: "esx-elsewhere", Source: activity.SourceHostd, Action: activity.SnapshotCreate, VM: vmid, Key: "k2"},
		}
		if _, err := a.Process(ctx, evs, nil); err != nil {
			t.Fatal(err)
		}
		want := name
		if vpx {
			want = vmid
		}
		if evs[0].VM != want || evs[1].VM != vmid {
			t.Errorf("vpx=%v: vmid %s on %s is %q, on another host %q; want %q and %q", vpx, vmid, host, evs[0].VM, evs[1].VM, want, vmid)
		}
		a.Close()
	}
}

func TestHostKeys(t *testing.T) {
	var v vmids
	v.set("esx01.example.com:443", map[string]string{"12": "db01", "host:esx01-mgmt.example.com": "x", "vm-13": "web"})
	for _, tc := range []struct{ host, id, want string }{
		{"esx01", "12", "db01"}, {"ESX01.example.com", "13", "web"}, {"esx01-mgmt", "12", "db01"}, {"esx02", "12", ""}, {"esx01", "14", ""},
	} {
		if got, _ := v.resolve(tc.host, tc.id); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.host, tc.id, got, tc.want)
		}
	}
}
