package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// requireAudit skips unless the test can drive the kernel audit subsystem.
func requireAudit(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "CAP_AUDIT_CONTROL and CAP_AUDIT_READ for the kernel audit subsystem")
	c, err := dial(0)
	if err != nil {
		testenv.Unavailable(t, "kernel audit netlink unavailable: %v", err)
	}
	c.close()
}

func kernelStatus(t *testing.T) Status {
	t.Helper()
	c, err := dial(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.setTimeout(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	s, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sink collects emitted events for assertions while Run is running.
type sink struct {
	mu     sync.Mutex
	events []*event.Event
}

func (s *sink) emit(b []*event.Event) {
	s.mu.Lock()
	s.events = append(s.events, b...)
	s.mu.Unlock()
}

// find returns the first exec whose argv contains marker.
func (s *sink) find(marker string) *event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Kind == event.KindExec && slices.Contains(ev.Process.Argv, marker) {
			return ev
		}
	}
	return nil
}

func startCollector(t *testing.T, opts Options) (*Collector, *sink, func() Stats) {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, s.emit) }()
	stop := func() Stats {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
		st := c.Stats()
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		return st
	}
	return c, s, stop
}

// The audit subsystem must look exactly as before once the collector is
// closed, and the archivers run meanwhile must arrive with argv, cwd and uid
// within a second.
func TestLiveArchiverExecs(t *testing.T) {
	requireAudit(t)
	before := kernelStatus(t)
	_, s, stop := startCollector(t, Options{})

	dir := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("data "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	marker := fmt.Sprintf("sw-live-%d", time.Now().UnixNano())
	cases := []struct {
		name string
		argv []string
	}{
		{"tar", []string{"tar", "czf", marker + ".tgz", "a.txt", "b.txt"}},
		{"zip", []string{"zip", "-q", marker + ".zip", "a.txt", "b.txt"}},
	}
	for _, tc := range cases {
		cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
		finished := time.Now()
		var ev *event.Event
		for ev == nil && time.Since(finished) < time.Second {
			time.Sleep(5 * time.Millisecond)
			ev = s.find(tc.argv[2])
		}
		if ev == nil {
			t.Errorf("%s exec not delivered within 1 s", tc.name)
			continue
		}
		if !slices.Equal(ev.Process.Argv, tc.argv) {
			t.Errorf("%s argv = %q, want %q", tc.name, ev.Process.Argv, tc.argv)
		}
		if ev.Process.Cwd != dir {
			t.Errorf("%s cwd = %q, want %q", tc.name, ev.Process.Cwd, dir)
		}
		if ev.Actor.UID != int64(os.Getuid()) || ev.Actor.EUID != int64(os.Geteuid()) {
			t.Errorf("%s uid/euid = %d/%d", tc.name, ev.Actor.UID, ev.Actor.EUID)
		}
		if want := "/usr/bin/" + tc.name; !strings.HasSuffix(ev.Process.Exe, "/"+tc.name) {
			t.Errorf("%s exe = %q, want %s", tc.name, ev.Process.Exe, want)
		}
		if ev.Process.PID <= 0 || ev.Process.PPID != int64(os.Getpid()) {
			t.Errorf("%s pid/ppid = %d/%d, want ppid %d", tc.name, ev.Process.PID, ev.Process.PPID, os.Getpid())
		}
	}
	st := stop()
	if st.Records == 0 || st.Events == 0 || st.RulesAdded == 0 {
		t.Errorf("stats = %+v", st)
	}
	after := kernelStatus(t)
	if after.Enabled != before.Enabled || after.PID != before.PID || after.BacklogLimit != before.BacklogLimit {
		t.Errorf("audit state not restored: before enabled=%d pid=%d backlog_limit=%d, after enabled=%d pid=%d backlog_limit=%d",
			before.Enabled, before.PID, before.BacklogLimit, after.Enabled, after.PID, after.BacklogLimit)
	}
}

// A rule that was already installed is left alone on Close; another audit
// daemon owning the socket makes the collector read the multicast group.
func TestExistingRuleAndMulticast(t *testing.T) {
	requireAudit(t)
	before := kernelStatus(t)
	if before.PID != 0 {
		testenv.Unavailable(t, "an audit daemon (pid %d) is running; this test plays one itself", before.PID)
	}
	ctl, err := dial(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	if err := ctl.setTimeout(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Play an audit daemon: own the socket from this connection, which
	// never reads, so records for it queue in the kernel.
	if err := ctl.set(Status{Mask: statusPID, PID: uint32(os.Getpid())}, nil); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ctl.set(Status{Mask: statusPID, PID: 0}, nil); err != nil {
			t.Error(err)
		}
	}()
	mine := ExecRules[0]
	b, err := mine.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.request(unix.AUDIT_ADD_RULE, b, 0, nil); err != nil {
		t.Fatal(err)
	}

	c, s, stop := startCollector(t, Options{})
	if c.mode != ModeMulticast {
		t.Errorf("mode %s, want %s", c.mode, ModeMulticast)
	}
	dir := t.TempDir()
	marker := fmt.Sprintf("sw-mc-%d.tgz", time.Now().UnixNano())
	cmd := exec.Command("tar", "czf", marker, "--files-from", "/dev/null")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	var ev *event.Event
	for start := time.Now(); ev == nil && time.Since(start) < time.Second; {
		time.Sleep(5 * time.Millisecond)
		ev = s.find(marker)
	}
	if ev == nil || ev.Process.Cwd != dir {
		t.Errorf("tar exec via multicast: %+v", ev)
	}
	st := stop()
	if st.Mode != ModeMulticast || st.RulesPresent != 1 {
		t.Errorf("stats %+v, want multicast with 1 rule already present", st)
	}
	// The pre-existing rule must still be there: deleting it succeeds.
	if _, err := ctl.request(unix.AUDIT_DEL_RULE, b, 0, nil); err != nil {
		t.Errorf("pre-existing rule was removed by Close: %v", err)
	}
	if after := kernelStatus(t); after.Enabled != before.Enabled || after.BacklogLimit != before.BacklogLimit {
		t.Errorf("audit state not restored: enabled %d→%d backlog_limit %d→%d", before.Enabled, after.Enabled, before.BacklogLimit, after.BacklogLimit)
	}
}

// RuleKeys sees the collector's rules while it runs and not after Close.
func TestRuleKeys(t *testing.T) {
	requireAudit(t)
	count := func() int {
		t.Helper()
		keys, err := RuleKeys()
		if err != nil {
			t.Fatal(err)
		}
		return len(slices.DeleteFunc(keys, func(k string) bool { return k != Key }))
	}
	before := count()
	c, _, stop := startCollector(t, Options{})
	added := c.Stats().RulesAdded
	if got := count(); got != before+added || added == 0 {
		t.Errorf("%d rules keyed %q while running (%d before, %d added)", got, Key, before, added)
	}
	stop()
	if got := count(); got != before {
		t.Errorf("%d rules keyed %q after Close, want %d", got, Key, before)
	}
}

// Rules with our key that a killed collector left behind are adopted by the
// next one that owns the socket and removed when it closes.
func TestLeftoverRulesAdopted(t *testing.T) {
	requireAudit(t)
	if st := kernelStatus(t); st.PID != 0 {
		testenv.Unavailable(t, "an audit daemon (pid %d) is running", st.PID)
	}
	ctl, err := dial(0)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	if err := ctl.setTimeout(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	leftover := ExecRules[0]
	b, err := leftover.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.request(unix.AUDIT_ADD_RULE, b, 0, nil); err != nil {
		t.Fatal(err)
	}
	c, _, stop := startCollector(t, Options{})
	if c.mode != ModeOwner {
		t.Fatalf("mode %s, want %s", c.mode, ModeOwner)
	}
	st := stop()
	if st.RulesAdopted != 1 || st.RulesPresent != 0 {
		t.Errorf("stats %+v, want the leftover rule adopted", st)
	}
	if _, err := ctl.request(unix.AUDIT_DEL_RULE, b, 0, nil); !errors.Is(err, unix.ENOENT) {
		t.Errorf("leftover rule still there after Close (delete: %v)", err)
	}
}
