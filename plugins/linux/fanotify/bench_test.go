//go:build linux

package fanotify

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

// BenchmarkSustainedCreate measures file creation in a staging directory
// while the watcher runs: one op is one run of the C loop over
// STAGEWATCH_BENCH_FILES files (default 200000). Run with -benchtime=1x.
// Reported: the loop's own files/s, files whose create or write never
// arrived, kernel queue overflows, the watcher's CPU per 100k events (this
// process's user+system time) and its resident memory.
func BenchmarkSustainedCreate(b *testing.B) {
	requireFanotify(b)
	files := 200000
	if s := os.Getenv("STAGEWATCH_BENCH_FILES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("STAGEWATCH_BENCH_FILES=%q", s)
		}
		files = n
	}
	bin := testenv.BuildCreateLoop(b)
	// The created files are removed only when every run is over: ext4 skips
	// recently deleted inodes when it allocates new ones, so deleting 200,000
	// files slows the next run's creates tenfold, whatever watches them.
	var created []string
	b.Cleanup(func() {
		for _, dir := range created {
			os.RemoveAll(dir)
		}
	})
	for _, base := range []string{"/tmp", "/dev/shm"} {
		// filtered: the files land next to the staging directory, not in
		// it, which is the hot path for unrelated writes on a marked
		// filesystem.
		for _, mode := range []string{"unwatched", "bounded", "unbounded", "filtered"} {
			b.Run(strings.TrimPrefix(base, "/")+"/"+mode, func(b *testing.B) {
				for range b.N {
					created = append(created, benchOnce(b, bin, base, mode, files))
				}
			})
		}
	}
}

// benchOnce runs one measurement and returns the directory it filled, for
// the caller to remove.
func benchOnce(b *testing.B, bin, base, mode string, files int) string {
	b.StopTimer()
	dir, err := os.MkdirTemp(base, "stagewatch-bench-")
	if err != nil {
		b.Fatal(err)
	}
	prefix := dir + "/"

	var creates, writes atomic.Int64
	var w *Watcher
	var cancel context.CancelFunc
	done := make(chan error, 1)
	if mode != "unwatched" {
		opts := Options{Dirs: []string{base}, UnboundedQueue: mode == "unbounded"}
		if mode == "filtered" {
			elsewhere, err := os.MkdirTemp(base, "stagewatch-bench-staging-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(elsewhere)
			opts.Dirs = []string{elsewhere}
		}
		if s := os.Getenv("STAGEWATCH_BENCH_COALESCE"); s != "" {
			if opts.Coalesce, err = time.ParseDuration(s); err != nil {
				b.Fatal(err)
			}
		}
		w, err = New(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		var ctx context.Context
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		go func() {
			done <- w.Run(ctx, func(batch []*event.Event) {
				for _, e := range batch {
					if !strings.HasPrefix(e.Path, prefix) {
						continue
					}
					switch e.Kind {
					case event.KindFileCreate:
						creates.Add(1)
					case event.KindFileWrite:
						writes.Add(1)
					}
				}
			})
		}()
	}
	cpuBefore := cpuTime()
	b.StartTimer()
	out, err := exec.Command(bin, dir, strconv.Itoa(files)).Output()
	if err != nil {
		b.Fatalf("create loop: %v", err)
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("create loop printed %q", out)
	}
	b.ReportMetric(rate, "files/s")
	if w == nil {
		b.StopTimer()
		return dir
	}
	// Drain: wait until every file is accounted for or nothing moves for
	// 2s. Polled slowly so the wait itself does not show in the CPU figure.
	last, lastChange := int64(-1), time.Now()
	for mode == "filtered" || creates.Load() < int64(files) || writes.Load() < int64(files) {
		if n := creates.Load() + writes.Load() + int64(w.Stats().EventsRead); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpuBefore
	rss := residentKiB()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("Run: %v", err)
	}
	st := w.Stats()
	if mode == "filtered" {
		b.ReportMetric(float64(st.Filtered), "filtered-events")
	} else {
		lost := max(int64(files)-creates.Load(), int64(files)-writes.Load())
		b.ReportMetric(float64(lost), "lost-files")
	}
	b.ReportMetric(float64(st.Overflows), "overflows")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(st.EventsRead)*100000, "cpu-ms/100k-events")
	b.ReportMetric(float64(st.EventsRead), "kernel-events")
	b.ReportMetric(float64(st.Kept), "kept-events")
	b.ReportMetric(float64(st.CacheMisses), "resolves")
	b.ReportMetric(float64(st.ResolveFailures), "resolve-failures")
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	return dir
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentKiB is VmHWM, the process's peak resident set.
func residentKiB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kib
		}
	}
	return -1
}
