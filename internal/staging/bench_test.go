package staging

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// mixedStream builds a stream shaped like a busy Linux host: most events are
// file writes outside staging roots and execs of ordinary programs; one in
// ten touches /tmp or /var/tmp (browser caches, compilers, staged files), and
// one in a thousand is an archiver. Group names rotate with round so that a
// long run keeps creating (and expiring) groups.
func mixedStream(n, round int) []event.Event {
	users := []event.Actor{alice, bob, aliceRoot, daemon}
	var out []event.Event
	for i := 0; len(out) < n; i++ {
		a := users[i%len(users)]
		pid := int64(1000 + i%5000)
		switch r := i % 1000; {
		case r == 999:
			out = append(out, event.Event{Kind: event.KindExec, Actor: a, Process: event.Process{PID: pid, PPID: 1,
				Exe: "/usr/bin/tar", Argv: []string{"tar", "czf", fmt.Sprintf("/tmp/s%d-%d.tgz", round, i%97), fmt.Sprintf("s%d-%d", round, i%97)}, Cwd: "/tmp"}})
		case r < 600:
			out = append(out, event.Event{Kind: event.KindFileWrite, Actor: a, Size: 4096,
				Path:    fmt.Sprintf("/home/%s/.cache/app/%d/entry-%d", a.User, i%50, i%700),
				Process: event.Process{PID: pid, Exe: "/usr/lib/firefox/firefox"}})
		case r < 700:
			out = append(out, event.Event{Kind: event.KindFileCreate, Actor: a, Size: -1,
				Path: fmt.Sprintf("/var/log/journal/abc/system@%d.journal", i%13), Process: event.Process{PID: pid, Exe: "/usr/lib/systemd/systemd-journald"}})
		case r < 900:
			exes := []string{"/usr/bin/ls", "/usr/bin/grep", "/usr/bin/bash", "/usr/bin/python3", "/usr/bin/git", "/usr/bin/sed", "/usr/sbin/sshd", "/usr/bin/cat"}
			exe := exes[i%len(exes)]
			out = append(out, event.Event{Kind: event.KindExec, Actor: a, Process: event.Process{PID: pid, PPID: 1, Exe: exe,
				Argv: []string{exe, "-q", "/etc/hosts"}, Cwd: "/home/alice"}})
		case r < 950:
			out = append(out, event.Event{Kind: event.KindFileWrite, Actor: a, Size: 1000,
				Path:    fmt.Sprintf("/tmp/cc%05d.o", i%1000),
				Process: event.Process{PID: pid, Exe: "/usr/lib/gcc/x86_64-linux-gnu/13/cc1", Ancestors: []string{"/usr/bin/gcc", "/usr/bin/make"}}})
		default:
			out = append(out, event.Event{Kind: event.KindFileWrite, Actor: a, Size: 20_000,
				Path:    fmt.Sprintf("/tmp/s%d-%d/doc-%d.docx", round, i%97, i%40),
				Process: event.Process{PID: pid, Exe: "/usr/bin/cp"}})
		}
	}
	return out
}

// BenchmarkObserve measures the correlator on the mixed stream, one core.
func BenchmarkObserve(b *testing.B) {
	c, err := New(linuxCfg)
	if err != nil {
		b.Fatal(err)
	}
	stream := mixedStream(1<<16, 0)
	const step = 200 * time.Microsecond // 5,000 events per second of event time
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &stream[i&(len(stream)-1)]
		ev.Time = t0.Add(time.Duration(i) * step)
		c.Observe(ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	s := c.Stats()
	b.ReportMetric(float64(s.Detections+s.Updates), "detections")
}

// heapAfterGC returns the live heap in bytes.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// runLong feeds total events over rolling windows (group names change every
// window) and returns the live heap held by the correlator (the heap less
// the pre-built input) after the first two windows and at the end.
func runLong(tb testing.TB, total int) (c *Correlator, after2, end int64) {
	const chunk = 1 << 16
	const step = time.Millisecond // 1,000 events/s of event time
	rounds := make([][]event.Event, 4)
	for r := range rounds {
		rounds[r] = mixedStream(chunk, r)
	}
	base := int64(heapAfterGC())
	var err error
	c, err = New(Config{AnalyticID: "AN0041", Platform: "linux", TimeWindow: 10 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	window := int(10 * time.Minute / step)
	for i := 0; i < total; i++ {
		round := (i / window) % len(rounds)
		ev := &rounds[round][i%chunk]
		ev.Time = t0.Add(time.Duration(i) * step)
		c.Observe(ev)
		if i == 2*window {
			after2 = int64(heapAfterGC()) - base
		}
	}
	end = int64(heapAfterGC()) - base
	runtime.KeepAlive(rounds)
	return c, after2, end
}

// TestMemoryFlat runs five TimeWindows of events and checks that the heap
// the correlator holds at the end is no larger than after two: expiry keeps
// up with the stream.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long run")
	}
	const total = 3_000_000 // 5 windows of 10 minutes at 1,000 events/s
	c, after, end := runLong(t, total)
	s := c.Stats()
	t.Logf("correlator heap after 2 windows %.2f MB, after %d events %.2f MB; groups %d files %d steps %d detections %d expired %d",
		float64(after)/1e6, total, float64(end)/1e6, s.Groups, s.FilesTracked, s.Steps, s.Detections, s.ExpiredGroups)
	if s.ExpiredGroups == 0 || s.Detections == 0 {
		t.Errorf("the run did not exercise expiry and detection: %+v", s)
	}
	if end > after+4<<20 {
		t.Errorf("heap grew from %d to %d bytes", after, end)
	}
}

// BenchmarkLongRunMemory reports the heap the correlator holds after two
// windows and after b.N events over rolling windows (run with
// -benchtime=10000000x for a 10M-event run).
func BenchmarkLongRunMemory(b *testing.B) {
	b.ReportAllocs()
	c, after2, end := runLong(b, b.N)
	b.ReportMetric(float64(after2)/1e6, "heap-2windows-MB")
	b.ReportMetric(float64(end)/1e6, "heap-end-MB")
	b.ReportMetric(float64(c.Stats().Groups), "groups")
}

// BenchmarkFloodOneGroup is a flood into one staging directory, far past
// MaxFilesPerGroup: every event finds its group full. The cost per event
// must stay that of an ordinary one.
func BenchmarkFloodOneGroup(b *testing.B) {
	c, err := New(linuxCfg)
	if err != nil {
		b.Fatal(err)
	}
	ev := event.Event{Kind: event.KindFileCreate, Actor: alice, Size: 64, Process: event.Process{PID: 4242, Exe: "/tmp/flood"}}
	paths := make([]string, 1<<18)
	for i := range paths {
		paths[i] = fmt.Sprintf("/dev/shm/flood/f%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Path = paths[i&(len(paths)-1)]
		ev.Time = t0.Add(time.Duration(i) * 5 * time.Microsecond) // 200,000 files a second
		c.Observe(&ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
