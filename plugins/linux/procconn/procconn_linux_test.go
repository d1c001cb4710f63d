package procconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Malformed datagrams are counted, never a panic.
func TestHandleMalformed(t *testing.T) {
	t.Parallel()
	c := &Collector{opts: Options{ProcRoot: "/proc"}, parents: map[uint32]uint32{}}
	var st Stats
	for _, b := range [][]byte{
		nil,
		make([]byte, 15),
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{16, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if evs := c.handle(b, &st); len(evs) != 0 {
			t.Errorf("handle(%x) = %d events", b, len(evs))
		}
	}
	if st.ParseErrors != 2 {
		t.Errorf("ParseErrors = %d, want 2 (bad length, short message)", st.ParseErrors)
	}
}

type sink struct {
	mu     sync.Mutex
	events []*event.Event
}

func (s *sink) emit(b []*event.Event) {
	s.mu.Lock()
	s.events = append(s.events, b...)
	s.mu.Unlock()
}

func (s *sink) find(marker string) *event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if slices.Contains(ev.Process.Argv, marker) {
			return ev
		}
	}
	return nil
}

// A process that keeps running long enough for /proc to be read is reported
// with argv, cwd, uid and its parent chain.
func TestLiveExec(t *testing.T) {
	testenv.RequireRoot(t, "CAP_NET_ADMIN for the proc connector")
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, s.emit) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("sw-pc-%d.tgz", time.Now().UnixNano())
	// tar waits on its stdin-fed gzip, so it lives long enough to be read.
	argv := []string{"tar", "czf", marker, "a.txt"}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	var ev *event.Event
	for start := time.Now(); ev == nil && time.Since(start) < time.Second; {
		time.Sleep(5 * time.Millisecond)
		ev = s.find(marker)
	}
	if ev == nil {
		t.Skipf("tar exited before /proc was read (the proc connector's known race); stats %+v", c.Stats())
	}
	if !slices.Equal(ev.Process.Argv, argv) || ev.Process.Cwd != dir || ev.Actor.UID != int64(os.Getuid()) {
		t.Errorf("event argv=%q cwd=%q uid=%d", ev.Process.Argv, ev.Process.Cwd, ev.Actor.UID)
	}
	if ev.Process.PPID != int64(os.Getpid()) {
		t.Errorf("ppid = %d, want %d", ev.Process.PPID, os.Getpid())
	}
	if self, _ := os.Executable(); ev.Process.Parent != self {
		t.Errorf("parent = %q, want %q", ev.Process.Parent, self)
	}
	if st := c.Stats(); st.Execs == 0 || st.Forks == 0 {
		t.Errorf("stats = %+v", st)
	}
}
