package vsphere

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// BenchmarkCollector: events read per second from vcsim's vCenter with
// a 1,000-VM inventory, and the API calls one idle poll makes (the same
// whatever the inventory: the collectors return what is new only).
func BenchmarkCollector(b *testing.B) {
	m := simulator.VPX()
	m.Host, m.Cluster, m.Machine = 1, 0, 1000
	if err := m.Create(); err != nil {
		b.Fatal(err)
	}
	defer m.Remove()
	m.Service.TLS = new(tls.Config)
	s := m.Service.NewServer()
	defer s.Close()
	ctx := context.Background()
	au := *s.URL
	au.User = url.UserPassword("a", "b")
	cl, err := govmomi.NewClient(ctx, &au, true)
	if err != nil {
		b.Fatal(err)
	}
	vms, _ := find.NewFinder(cl.Client, true).VirtualMachineList(ctx, "/*/vm/*")
	b.Logf("%d VMs", len(vms))
	f := filepathTemp(b)
	pw, _ := remote.ReadSecret("password", f, "")
	var n int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range 200 {
			t, err := vms[j%len(vms)].CreateSnapshot(ctx, fmt.Sprint("b", i, j), "", false, false)
			if err == nil {
				t.Wait(ctx)
			}
		}
		state := remote.MemoryState(sdk.StateLimits{})
		counters := &remote.Counters{}
		c := &Collector{Config: Config{URL: s.URL, Username: "u", Password: pw, Insecure: true, Tasks: "auto", Start: time.Now().Add(-time.Hour)}, Cursors: state, Counters: counters,
			Sink: func(_ context.Context, evs []activity.Event, _ map[string]string) (int, error) {
				n += len(evs)
				return len(evs), nil
			}}
		b.StartTimer()
		for {
			more, err := c.Step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !more {
				break
			}
		}
		calls := counters.Get("vsphere_calls")
		c.Step(ctx) // idle poll
		b.ReportMetric(float64(counters.Get("vsphere_calls")-calls), "calls/idle-poll")
		c.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func filepathTemp(b *testing.B) string {
	f := b.TempDir() + "/pw"
	if err := writeFile(f, "p"); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkInventory: one inventory read of vcsim's vCenter with 50 and
// 1,000 VMs, each with a snapshot: the API calls a read makes and its
// time.
func BenchmarkInventory(b *testing.B) {
	for _, n := range []int{50, 1000} {
		b.Run(fmt.Sprint(n, "vms"), func(b *testing.B) {
			m := simulator.VPX()
			m.Host, m.Cluster, m.Machine = 1, 0, n
			if err := m.Create(); err != nil {
				b.Fatal(err)
			}
			defer m.Remove()
			m.Service.TLS = new(tls.Config)
			s := m.Service.NewServer()
			defer s.Close()
			ctx := context.Background()
			au := *s.URL
			au.User = url.UserPassword("a", "b")
			cl, err := govmomi.NewClient(ctx, &au, true)
			if err != nil {
				b.Fatal(err)
			}
			vms, _ := find.NewFinder(cl.Client, true).VirtualMachineList(ctx, "/*/vm/*")
			for _, vm := range vms {
				if t, err := vm.CreateSnapshot(ctx, "s", "", false, false); err == nil {
					t.Wait(ctx)
				}
			}
			pw, _ := remote.ReadSecret("password", filepathTemp(b), "")
			c := &Collector{Config: Config{URL: s.URL, Username: "u", Password: pw, Insecure: true, Tasks: "auto", Start: time.Now().Add(-time.Hour)},
				Cursors: remote.MemoryState(sdk.StateLimits{}), Counters: &remote.Counters{},
				Sink: func(context.Context, []activity.Event, map[string]string) (int, error) { return 0, nil }}
			defer c.Close()
			if err := c.Inventory(ctx); err != nil { // log in, first read
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.Inventory(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.LastInventoryCalls), "calls/read")
			b.ReportMetric(float64(len(c.invValue())), "state-bytes")
		})
	}
}
