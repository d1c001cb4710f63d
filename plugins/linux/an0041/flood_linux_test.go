//go:build linux

package an0041

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// BenchmarkFlood is staging hidden in noise: 200,000 files created in
// /dev/shm and 50,000 in /tmp by two processes at full speed, and while
// they run a real cp of five documents into /tmp and tar over them. One op
// is one flood (run with -benchtime=1x). Reported: the file watcher's
// events read per second over the flood and its drain, kernel queue
// overflows, the loss the watcher estimates, whether the staging was
// detected (1) or not (0), and how long after tar exited it was visible.
func BenchmarkFlood(b *testing.B) {
	testenv.RequireRoot(b, "live collection (audit, fanotify)")
	testenv.RequireTool(b, "cp", "tar")
	loop := testenv.BuildCreateLoop(b)
	src := sourceDocuments(b)
	// unbounded is how AN0041 runs; bounded keeps the kernel's 16384-event
	// queue, so the flood overflows it and the rescan has to recover; state
	// is unbounded with a durable state, every event of the flood written.
	for _, mode := range []string{"unbounded", "bounded", "state"} {
		b.Run(mode, func(b *testing.B) {
			boundedQueue = mode == "bounded"
			defer func() { boundedQueue = false }()
			impl := New()
			a := sdktest.Connect(b, impl)
			b.Cleanup(func() { _ = impl.Close() })
			ctx := context.Background()
			var parents []string
			for _, p := range staging.DefaultAllowedParents(Platform) {
				if p != "go" {
					parents = append(parents, p)
				}
			}
			config, _ := json.Marshal(map[string]any{AllowedParentProcesses: parents})
			req := sdk.ConfigureRequest{Config: config, Mode: sdk.ModeLive, HostIdentifier: "flood-host"}
			if mode == "state" {
				req.StateDir = filepath.Join(b.TempDir(), "AN0041")
			}
			if _, err := a.Configure(ctx, req); err != nil {
				b.Fatal(err)
			}
			if err := a.Start(ctx); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				floodOnce(b, a, loop, src)
			}
		})
	}
}

func floodOnce(b *testing.B, a sdk.Analytic, loop, src string) {
	b.StopTimer()
	ctx := context.Background()
	shm, tmp, stage := tempDir(b, "/dev/shm", "sw-flood-"), tempDir(b, "/tmp", "sw-flood-"), tempDir(b, "/tmp", "sw-flood-stage-")
	before := a.Health(ctx)
	start := time.Now()
	b.StartTimer()
	floods := []*exec.Cmd{exec.Command(loop, shm, "200000"), exec.Command(loop, tmp, "50000")}
	for _, f := range floods {
		if err := f.Start(); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	run(b, src, "cp", "q3 report.docx", "budget.csv", "deploy-key.pem", "spec.pdf", "notes.txt", stage+"/")
	archive := stage + ".tgz"
	b.Cleanup(func() { os.Remove(archive) })
	tarDone := run(b, "/tmp", "tar", "czf", archive, "-C", "/tmp", filepath.Base(stage))
	for _, f := range floods {
		if err := f.Wait(); err != nil {
			b.Fatalf("flood: %v", err)
		}
	}
	floodEnd := time.Since(start)
	found, latency := 0.0, time.Duration(0)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rows := rowsOf(b, a, schema.Detections, sdk.Constraint{Column: "archive_path", Op: sdk.OpEquals, Expr: archive})
		if len(rows) > 0 && atoi(rows[0]["file_count"]) >= 5 {
			found, latency = 1, time.Since(tarDone)
			break
		}
	}
	// The watcher has drained when its count stops moving.
	var after sdk.Health
	for last := uint64(0); ; time.Sleep(200 * time.Millisecond) {
		after = a.Health(ctx)
		if n := after.Extra["fanotify_events_read"]; n == last {
			break
		} else {
			last = n
		}
	}
	b.StopTimer()
	elapsed := time.Since(start) - 200*time.Millisecond
	read := after.Extra["fanotify_events_read"] - before.Extra["fanotify_events_read"]
	b.ReportMetric(float64(read)/elapsed.Seconds(), "events-read/s")
	b.ReportMetric(float64(read), "events-read")
	b.ReportMetric(floodEnd.Seconds(), "flood-s")
	b.ReportMetric(float64(after.Extra["fanotify_overflows"]-before.Extra["fanotify_overflows"]), "overflows")
	b.ReportMetric(float64(after.Extra["fanotify_estimated_lost"]-before.Extra["fanotify_estimated_lost"]), "estimated-lost")
	b.ReportMetric(found, "staging-found")
	b.ReportMetric(float64(latency.Milliseconds()), "detection-ms")
	if written, ok := after.Extra["state_events_written"]; ok {
		b.ReportMetric(float64(written-before.Extra["state_events_written"]), "state-written")
		b.ReportMetric(float64(after.Extra["state_write_errors"]-before.Extra["state_write_errors"]), "state-errors")
	}
	b.Logf("health after the flood: %v %q", after.State, after.Message)
}

func tempDir(tb testing.TB, base, prefix string) string {
	tb.Helper()
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
