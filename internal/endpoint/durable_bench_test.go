package endpoint

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// A day on a busy build host, as the state would keep it: builds writing
// into /tmp, benign archivers (extraction, log compression), and every
// thousandth event a staging (five documents copied in, then tar).
func dayOfEvents(n int, end time.Time) []*event.Event {
	step := 24 * time.Hour / time.Duration(n)
	at := end.Add(-24 * time.Hour)
	actor := event.Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "dev", Session: "3", TTY: "pts1", Interactive: true}
	evs := make([]*event.Event, 0, n)
	add := func(ev *event.Event) {
		at = at.Add(step)
		ev.Time, ev.Actor, ev.Size, ev.Source = at, actor, event.Unknown, "bench"
		evs = append(evs, ev)
	}
	for i := 0; len(evs) < n; i++ {
		pid := int64(20000 + i%5000)
		switch {
		case i%1000 == 999:
			stage := fmt.Sprintf("/tmp/stage-%d", i)
			for f, name := range []string{"q3 report.docx", "salaries.xlsx", "terms.pdf", "id_rsa", "notes.txt"} {
				add(&event.Event{Kind: event.KindFileCreate, Path: stage + "/" + name,
					Process: event.Process{PID: pid + int64(f), Exe: "/usr/bin/cp", Argv: []string{"cp", "/home/dev/" + name, stage + "/"}, Cwd: "/home/dev"}})
			}
			add(&event.Event{Kind: event.KindExec, Path: "/usr/bin/tar",
				Process: event.Process{PID: pid + 7, PPID: pid, Exe: "/usr/bin/tar", Argv: []string{"tar", "czf", stage + ".tgz", "-C", "/tmp", stage[5:]}, Cwd: "/home/dev", Parent: "/usr/bin/bash"}})
		case i%20 == 0:
			add(&event.Event{Kind: event.KindExec, Path: "/usr/bin/tar",
				Process: event.Process{PID: pid, PPID: 1, Exe: "/usr/bin/tar", Argv: []string{"tar", "-xzf", "/home/dev/dl/src.tgz", "-C", "/tmp/build"}, Cwd: "/home/dev", Parent: "/usr/bin/make"}})
		default:
			add(&event.Event{Kind: event.KindFileCreate + event.Kind(i%2), Path: fmt.Sprintf("/tmp/build-%d/obj/%d.o", i%300, i),
				Process: event.Process{PID: pid, PPID: pid - 1, Exe: "/usr/bin/cc1", Argv: []string{"cc1", "-O2"}, Cwd: "/home/dev/src", Parent: "/usr/bin/gcc"}})
		}
	}
	return evs
}

// benchDefinition is an endpoint analytic whose one format replays the
// events a benchmark hands it.
func benchDefinition(feed *[]*event.Event) Definition {
	return Definition{
		ID: "AN0041", Platform: "linux", Version: "bench", PathStyle: staging.Posix,
		Names: Names{StagingDirectories: "StagingDirectoryList", Archivers: "ArchivingCommandPatterns", UserContext: "UserContext"},
		Formats: []Format{{Name: "bench", Decode: func(ctx context.Context, r io.Reader, emit func(*event.Event)) (DecodeStats, error) {
			for _, ev := range *feed {
				cp := *ev
				emit(&cp)
			}
			return DecodeStats{Records: uint64(len(*feed))}, nil
		}}},
	}
}

// BenchmarkStateSave is the write path: a batch of kept events committed
// in one transaction, as the live pipeline commits what it releases.
func BenchmarkStateSave(b *testing.B) {
	evs := dayOfEvents(200000, time.Now())
	for _, batch := range []int{1, 64, 512, 4096} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			d, err := openDurable(filepath.Join(b.TempDir(), "AN0041"), sdk.StateLimits{}, func(string) {})
			if err != nil {
				b.Fatal(err)
			}
			defer d.close()
			i := 0
			b.ResetTimer()
			for b.Loop() {
				if i+batch > len(evs) {
					i = 0
				}
				if err := d.save(evs[i:i+batch], nil, nil); err != nil {
					b.Fatal(err)
				}
				i += batch
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkReplayWithState is replay through the whole pipeline with and
// without a state: what keeping everything costs per event.
func BenchmarkReplayWithState(b *testing.B) {
	evs := dayOfEvents(100000, time.Now())
	for _, kept := range []bool{false, true} {
		b.Run(fmt.Sprintf("state=%v", kept), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				a := New(benchDefinition(&evs))
				req := sdk.ConfigureRequest{Mode: sdk.ModeReplay}
				if kept {
					req.StateDir = filepath.Join(b.TempDir(), "AN0041")
				}
				if _, err := a.Configure(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := a.Ingest(context.Background(), "bench", "bench", strings.NewReader("x")); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				a.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkStateRestart is a restart with a full day's state (200,000
// events, the default events_max, and the detections they raised): from
// the first Configure to serving, every detection back.
func BenchmarkStateRestart(b *testing.B) {
	evs := dayOfEvents(DefaultEventsMax, time.Now())
	dir := filepath.Join(b.TempDir(), "AN0041")
	a := New(benchDefinition(&evs))
	if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeReplay, StateDir: dir}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Ingest(context.Background(), "bench", "bench", strings.NewReader("x")); err != nil {
		b.Fatal(err)
	}
	x := a.Health(context.Background()).Extra
	wantDetections := a.pipeline.stats().detections
	a.Close()
	if x["state_events"] < DefaultEventsMax*9/10 || wantDetections == 0 {
		b.Fatalf("state not full: %v, %d detections", x, wantDetections)
	}
	var restored map[string]uint64
	var base, mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	for b.Loop() {
		a := New(benchDefinition(&evs))
		if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeLive, StateDir: dir}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&mem)
		restored = a.Health(context.Background()).Extra
		if n := uint64(a.tables.detections.Stats().Rows); n != wantDetections {
			b.Fatalf("%d detections back, want %d", n, wantDetections)
		}
		a.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(restored["state_restored_events"]), "events")
	b.ReportMetric(float64(restored["state_restored_detections"]), "detections")
	b.ReportMetric(float64(restored["state_bytes"])/(1<<20), "MB")
	b.ReportMetric(float64(mem.HeapAlloc-base.HeapAlloc)/(1<<20), "heap-MB")
}
