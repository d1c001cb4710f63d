package an0044

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestSyslogLive: an SSH session's lines sent over UDP and TCP syslog
// on loopback, in ESXi 7 and 8 layouts, raise the detection; a garbage
// line is a parse error, not a failure.
func TestSyslogLive(t *testing.T) {
	t.Parallel()
	a := New()
	ctx := context.Background()
	if _, err := a.Configure(ctx, sdk.ConfigureRequest{Config: []byte(`{"syslog":{"listen":["udp://127.0.0.1:0","tcp://127.0.0.1:0"]}}`), Mode: sdk.ModeLive, HostIdentifier: "collector-1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addrs := a.live.syslog.Addrs()
	now := time.Now().UTC()
	ts := func(s int) string { return now.Add(time.Duration(s) * time.Second).Format("2006-01-02T15:04:05.000Z") }
	u, _ := net.Dial("udp", strings.TrimPrefix(addrs[0], "udp://"))
	fmt.Fprintf(u, "<38>%s esx07 sshd[1]: Accepted password for root from 203.0.113.9 port 4242 ssh2", ts(0))
	u.Close()
	time.Sleep(100 * time.Millisecond)
	c, _ := net.Dial("tcp", strings.TrimPrefix(addrs[1], "tcp://"))
	m := fmt.Sprintf(`<86>1 %s esx07 shell 2 - - [root]: vmkfstools -i /vmfs/volumes/ds1/db/db.vmdk /vmfs/volumes/ds9/x.vmdk`, ts(5))
	fmt.Fprintf(c, "%d %snot a syslog line at all\n", len(m), m)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var rows []sdk.Row
		a.Generate(ctx, schema.Detections, nil, func(b []sdk.Row) error { rows = append(rows, b...); return nil })
		if len(rows) == 1 && strings.HasPrefix(rows[0]["process"], "session_staging") && rows[0]["host"] == "esx07" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detections %v; health %+v", rows, a.Health(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := a.Health(ctx)
	if h.State != sdk.StateRunning || h.ParseErrors != 1 || h.Extra["syslog_messages"] != 3 {
		t.Errorf("health %+v", h)
	}
}

// TestVSphereLive: AN0044 polling a vcsim vCenter: a script's snapshot
// burst on one VM is a detection; the password is never in the logs,
// the health message or the configuration in effect; insecure is
// warned of.
func TestVSphereLive(t *testing.T) {
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	defer m.Remove()
	m.Service.TLS = new(tls.Config)
	s := m.Service.NewServer()
	defer s.Close()
	pass := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pass, []byte("Sup3rSecret!\n"), 0o600)
	var logged strings.Builder
	var logMu sync.Mutex
	logf = func(format string, args ...any) {
		logMu.Lock()
		fmt.Fprintf(&logged, format+"\n", args...)
		logMu.Unlock()
	}
	testInterval, testBackoff = 50*time.Millisecond, 20*time.Millisecond
	u := *s.URL
	u.User = nil
	cfg := fmt.Sprintf(`{"vsphere":[{"url":%q,"username":"stagewatch","password_file":%q,"insecure":true}]}`, u.String(), pass)
	a := New()
	ctx := context.Background()
	eff, err := a.Configure(ctx, sdk.ConfigureRequest{Config: []byte(cfg), Mode: sdk.ModeLive, HostIdentifier: "collector-1", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The attacker acts once the collector's first inventory read is done:
	// govmomi's simulator races with itself (datastore searches against
	// snapshot tasks) when both run at once, which the race detector sees.
	for wait := time.Now().Add(10 * time.Second); a.Health(ctx).Extra["vsphere_inventory_reads"] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("no inventory read: %+v", a.Health(ctx))
		}
	}
	au := *s.URL
	au.User = url.UserPassword("attacker", "x")
	cl, err := govmomi.NewClient(ctx, &au, true)
	if err != nil {
		t.Fatal(err)
	}
	vms, _ := find.NewFinder(cl.Client, true).VirtualMachineList(ctx, "/*/vm/*")
	for i := range 3 {
		task, err := vms[0].CreateSnapshot(ctx, fmt.Sprint("s", i), "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		task.Wait(ctx)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows []sdk.Row
		a.Generate(ctx, schema.Detections, nil, func(b []sdk.Row) error { rows = append(rows, b...); return nil })
		if len(rows) == 1 && strings.HasPrefix(rows[0]["process"], "snapshot_burst") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detections %v; health %+v", rows, a.Health(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := a.Health(ctx)
	logMu.Lock()
	all := logged.String() + h.Message + string(eff) + fmt.Sprintf("%+v %#v", a.set, a.set)
	logMu.Unlock()
	if strings.Contains(all, "Sup3rSecret") {
		t.Fatalf("the password was shown: %s", all)
	}
	if !strings.Contains(h.Message, "certificate verification is off") {
		t.Errorf("insecure not warned of: %s", h.Message)
	}
}
