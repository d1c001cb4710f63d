package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/procconn"
)

// archiverExecs is how many distinctive archiver execs the capture-rate
// test runs under background exec load.
const archiverExecs = 400

// collector is what both exec collectors offer.
type collector interface {
	Run(ctx context.Context, emit func([]*event.Event)) error
	Close() error
}

type captureResult struct {
	full, argvOnly, seen int   // archivers delivered with argv+cwd+uid, argv only, at all
	background           int64 // /bin/true execs run meanwhile
	elapsed              time.Duration
}

// runCaptureLoad runs background /bin/true execs in workers goroutines as
// fast as they go while running archiverExecs `gzip -c DIR/capture-NNN.txt`
// one after the other, then counts which archivers c delivered.
func runCaptureLoad(t *testing.T, c collector, dir string, workers int) captureResult {
	t.Helper()
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, s.emit) }()

	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	files := []uintptr{devnull.Fd(), devnull.Fd(), devnull.Fd()}
	attr := &syscall.ProcAttr{Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}, Files: files}
	spawn := func(argv []string) error {
		pid, err := syscall.ForkExec(argv[0], argv, attr)
		if err != nil {
			return err
		}
		var ws syscall.WaitStatus
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		return err
	}

	var background atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if spawn([]string{"/bin/true"}) == nil {
					background.Add(1)
				}
			}
		})
	}
	start := time.Now()
	for i := range archiverExecs {
		if err := spawn([]string{"/usr/bin/gzip", "-c", capturePath(dir, i)}); err != nil {
			t.Errorf("gzip %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	time.Sleep(time.Second) // let the collector drain its socket
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}

	var r captureResult
	r.background, r.elapsed = background.Load(), elapsed
	s.mu.Lock()
	defer s.mu.Unlock()
	got := make(map[string]*event.Event)
	for _, ev := range s.events {
		if len(ev.Process.Argv) == 3 && ev.Process.Argv[1] == "-c" {
			got[ev.Process.Argv[2]] = ev
		}
	}
	for i := range archiverExecs {
		p := capturePath(dir, i)
		ev, ok := got[p]
		if !ok {
			continue
		}
		r.seen++
		if slices.Equal(ev.Process.Argv, []string{"/usr/bin/gzip", "-c", p}) {
			r.argvOnly++
			if ev.Process.Cwd == dir && ev.Actor.UID == int64(os.Getuid()) {
				r.full++
			}
		}
	}
	return r
}

func capturePath(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("capture-%03d.txt", i))
}

// TestCaptureRate measures, under as many background execs as the machine
// runs, how many of 400 short-lived archiver execs each collector delivers
// with full argv, cwd and uid. Audit must deliver all of them: that is why it
// is the mechanism AN0041 uses.
func TestCaptureRate(t *testing.T) {
	if testing.Short() {
		t.Skip("capture-rate load test skipped in -short mode")
	}
	requireAudit(t)
	dir := t.TempDir()
	for i := range archiverExecs {
		if err := os.WriteFile(capturePath(dir, i), []byte("staged data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const workers = 3

	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ra := runCaptureLoad(t, a, dir, workers)
	as := a.Stats()
	if err := a.Close(); err != nil {
		t.Error(err)
	}

	p, err := procconn.New(procconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp := runCaptureLoad(t, p, dir, workers)
	ps := p.Stats()
	if err := p.Close(); err != nil {
		t.Error(err)
	}

	rate := func(r captureResult) float64 { return float64(r.background) / r.elapsed.Seconds() }
	t.Logf("audit:          %d/%d archivers with argv+cwd+uid (%d argv, %d seen); background %d execs in %v (%.0f/s); kernel lost %d, overruns %d, records %d, parse errors %d",
		ra.full, archiverExecs, ra.argvOnly, ra.seen, ra.background, ra.elapsed.Round(time.Millisecond), rate(ra), as.KernelLost, as.Overruns, as.Records, as.ParseErrors)
	t.Logf("proc connector: %d/%d archivers with argv+cwd+uid (%d argv, %d seen); background %d execs in %v (%.0f/s); vanished %d, overruns %d",
		rp.full, archiverExecs, rp.argvOnly, rp.seen, rp.background, rp.elapsed.Round(time.Millisecond), rate(rp), ps.Vanished, ps.Overruns)
	if ra.full != archiverExecs {
		t.Errorf("audit delivered %d of %d archiver execs with full argv, cwd and uid; want all", ra.full, archiverExecs)
	}
	if as.KernelLost != 0 || as.Overruns != 0 {
		t.Errorf("audit lost records: kernel lost %d, overruns %d", as.KernelLost, as.Overruns)
	}
}
