//go:build linux

package an0041

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// detectionDeadline is how soon after the archiver exits its detection must
// be in staging_detections.
const detectionDeadline = time.Second

// TestLive runs the real collectors (audit or the proc connector, fanotify)
// behind the real gRPC converters against real tools. The kernel audit
// subsystem is machine-wide: when another collector owns it, ours reads the
// multicast group instead.
func TestLive(t *testing.T) {
	testenv.RequireRoot(t, "live collection (audit, fanotify)")
	testenv.RequireTool(t, "cp", "tar", "zip", "gcc", "logrotate")
	impl := New()
	a := sdktest.Connect(t, impl)
	t.Cleanup(func() { _ = impl.Close() })
	ctx := context.Background()
	// Every process here descends from "go test", and go is on the default
	// allowlist of build tools whose temp files are benign: take it off so
	// the test's own cp, tar and zip count.
	var parents []string
	for _, p := range staging.DefaultAllowedParents(Platform) {
		if p != "go" {
			parents = append(parents, p)
		}
	}
	config, _ := json.Marshal(map[string]any{AllowedParentProcesses: parents})
	if _, err := a.Configure(ctx, sdk.ConfigureRequest{Config: config, Mode: sdk.ModeLive, HostIdentifier: "live-host"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h := a.Health(ctx)
	if h.State != sdk.StateRunning && h.State != sdk.StateDegraded {
		t.Fatalf("health after Start: %v %q", h.State, h.Message)
	}
	if h.Extra["exec_collector_audit"]+h.Extra["exec_collector_procconn"] != 1 {
		t.Fatalf("no exec collector recorded: %v", h.Extra)
	}
	t.Logf("collecting: %s", h.Message)

	src := sourceDocuments(t)
	t.Run("staging", func(t *testing.T) { liveStaging(t, a, src) })
	t.Run("benign", func(t *testing.T) { liveBenign(t, a, src) })
	t.Run("allowlist evasion", func(t *testing.T) { liveEvasion(t, a, src) })

	h = a.Health(ctx)
	if h.EventsSeen == 0 || h.Detections < 2 {
		t.Errorf("health after the runs: %+v", h.Counters)
	}
	t.Logf("health: %v %q %+v", h.State, h.Message, h.Counters)
}

// sourceDocuments writes the files to stage outside every staging
// directory, so that only their copies count.
func sourceDocuments(t testing.TB) string {
	src, err := os.MkdirTemp("/var/lib", "stagewatch-an0041-src-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	for name, body := range map[string]string{
		"q3 report.docx": "PK\x03\x04 fake docx body, confidential",
		"budget.csv":     "account,region,amount\n1001,emea,125000\n",
		"deploy-key.pem": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
		"spec.pdf":       "%PDF-1.4\n%fake\n",
		"notes.txt":      "vpn 10.0.0.1\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func run(t testing.TB, dir string, name string, args ...string) time.Time {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return time.Now()
}

// waitDetection polls staging_detections for the archive until deadline
// and returns the row and how long after exited it became visible.
func waitDetection(t *testing.T, a sdk.Analytic, archive string, exited time.Time) (sdk.Row, time.Duration) {
	t.Helper()
	for {
		rows := rowsOf(t, a, schema.Detections, sdk.Constraint{Column: "archive_path", Op: sdk.OpEquals, Expr: archive})
		if len(rows) > 0 {
			return rows[0], time.Since(exited)
		}
		if time.Since(exited) > 5*time.Second {
			for _, table := range []string{schema.FileEvents, schema.ProcessEvents} {
				for _, r := range rowsOf(t, a, table, sdk.Constraint{Column: "time", Op: sdk.OpGreaterThanOrEqual, Expr: strconv.FormatInt(exited.Unix()-10, 10)}) {
					t.Logf("%s: %v", table, r)
				}
			}
			t.Fatalf("no detection for %s 5s after the archiver exited", archive)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func liveStaging(t *testing.T, a sdk.Analytic, src string) {
	stage, err := os.MkdirTemp("/tmp", "sw-live-")
	if err != nil {
		t.Fatal(err)
	}
	tgz, zip := stage+".tgz", stage+".zip"
	t.Cleanup(func() { os.RemoveAll(stage); os.Remove(tgz); os.Remove(zip) })

	run(t, src, "cp", "q3 report.docx", "budget.csv", stage+"/")
	run(t, src, "cp", "deploy-key.pem", "spec.pdf", stage+"/")
	exited := run(t, "/tmp", "tar", "czf", tgz, "-C", "/tmp", filepath.Base(stage))
	tarRow, tarLatency := waitDetection(t, a, tgz, exited)
	exited = run(t, stage, "zip", "-qr", "../"+filepath.Base(zip), ".")
	zipRow, zipLatency := waitDetection(t, a, zip, exited)
	t.Logf("detection visible after the archiver exited: tar %v, zip %v", tarLatency, zipLatency)
	for name, l := range map[string]time.Duration{"tar": tarLatency, "zip": zipLatency} {
		if l > detectionDeadline {
			t.Errorf("%s detection took %v, want at most %v", name, l, detectionDeadline)
		}
	}

	// Late events may update a detection but never add one: wait past the
	// settle delay and count again.
	time.Sleep(3 * endpoint.DefaultSettleDelay)
	rows := rowsOf(t, a, schema.Detections, sdk.Constraint{Column: "staging_path", Op: sdk.OpEquals, Expr: stage})
	if len(rows) != 2 {
		for _, r := range rows {
			t.Logf("detection: %v", r)
		}
		t.Fatalf("%d detections for %s, want 2", len(rows), stage)
	}
	for _, r := range []sdk.Row{tarRow, zipRow} {
		if r["staging_path"] != stage || r["file_count"] != "4" || r["host"] != "live-host" || !strings.HasPrefix(r["actor"], "root") {
			t.Errorf("detection %v", r)
		}
		var evidence []map[string]any
		if err := json.Unmarshal([]byte(r["evidence"]), &evidence); err != nil || len(evidence) < 5 {
			t.Errorf("evidence %q: %v", r["evidence"], err)
		}
	}
	if !strings.Contains(tarRow["process"], "tar czf "+tgz) || !strings.Contains(zipRow["process"], "zip -qr") {
		t.Errorf("processes %q, %q", tarRow["process"], zipRow["process"])
	}
	files := rowsOf(t, a, schema.FileEvents, sdk.Constraint{Column: "process", Op: sdk.OpEquals, Expr: "/usr/bin/cp"})
	copied := 0
	for _, r := range files {
		if strings.HasPrefix(r["path"], stage+"/") {
			copied++
			if r["source"] != "fanotify" || r["pid"] == "-1" {
				t.Errorf("file row %v", r)
			}
		}
	}
	if copied < 4 {
		t.Errorf("%d of the 4 copies in staging_file_events", copied)
	}
}

func liveBenign(t *testing.T, a sdk.Analytic, src string) {
	start := time.Now()
	marker := filepath.Base(src)

	// Extraction into /tmp.
	run(t, src, "mkdir", "-p", "bundle/src")
	if err := os.WriteFile(filepath.Join(src, "bundle/src/hello.c"), []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, src, "tar", "czf", "bundle.tgz", "bundle")
	extract := filepath.Join("/tmp", "sw-extract-"+marker)
	t.Cleanup(func() { os.RemoveAll(extract) })
	run(t, src, "mkdir", "-p", extract)
	run(t, src, "tar", "-xzf", "bundle.tgz", "-C", extract)

	// A compile: gcc's temporaries live in /tmp.
	run(t, src, "gcc", "-o", filepath.Join(src, "hello"), filepath.Join(extract, "bundle/src/hello.c"))

	// Log rotation compressing under /var/log: logrotate runs gzip.
	logFile := filepath.Join("/var/log", "sw-"+marker+".log")
	t.Cleanup(func() {
		matches, _ := filepath.Glob(logFile + "*")
		for _, m := range matches {
			os.Remove(m)
		}
	})
	if err := os.WriteFile(logFile, []byte(strings.Repeat("line\n", 200)), 0o640); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(src, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(logFile+" {\n\trotate 2\n\tcompress\n\tmissingok\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, src, "logrotate", "-f", "-s", filepath.Join(src, "logrotate.state"), conf)
	if _, err := os.Stat(logFile + ".1.gz"); err != nil {
		t.Fatalf("logrotate did not compress: %v", err)
	}

	time.Sleep(detectionDeadline + 3*endpoint.DefaultSettleDelay)
	since := sdk.Constraint{Column: "time", Op: sdk.OpGreaterThanOrEqual, Expr: strconv.FormatInt(start.Unix(), 10)}
	for _, r := range rowsOf(t, a, schema.Detections, since) {
		if strings.Contains(r["staging_path"]+r["archive_path"]+r["process"]+r["evidence"], marker) {
			t.Errorf("benign activity detected: %v", r)
		}
	}
	// The activity was seen, so the silence means something.
	var sawExtract, sawRotateGzip bool
	for _, r := range rowsOf(t, a, schema.ProcessEvents, since) {
		if r["category"] == "extractor" && strings.Contains(r["cmdline"], extract) {
			sawExtract = true
		}
		if strings.HasSuffix(r["path"], "gzip") && strings.HasSuffix(r["parent"], "logrotate") {
			sawRotateGzip = true
		}
	}
	if !sawExtract || !sawRotateGzip {
		t.Errorf("process events missing: extraction %v, logrotate's gzip %v", sawExtract, sawRotateGzip)
	}
}

// liveEvasion stages through what the allowlists would let pass if they
// went by name alone: a copy of bash named make, put in /tmp, and pip's
// scratch-path pattern written by cp.
func liveEvasion(t *testing.T, a sdk.Analytic, src string) {
	dir, err := os.MkdirTemp("/tmp", "sw-evade-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fakeMake := filepath.Join(dir, "make")
	bash, err := os.ReadFile("/bin/bash")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fakeMake, bash, 0o755); err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(dir, "stage")
	script := fmt.Sprintf("mkdir %[1]s && cp %[2]q %[3]q %[1]s/ && tar czf %[1]s.tgz -C %[4]s stage", stage,
		filepath.Join(src, "budget.csv"), filepath.Join(src, "spec.pdf"), dir)
	exited := run(t, dir, fakeMake, "-c", script)
	if r, _ := waitDetection(t, a, stage+".tgz", exited); r["file_count"] != "2" {
		t.Errorf("staging under a fake make: %v", r)
	}

	// A renamed gzip writing a .dat: an archive by its content.
	helper := filepath.Join(dir, "helper")
	gz, err := os.ReadFile("/bin/gzip")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper, gz, 0o755); err != nil {
		t.Fatal(err)
	}
	packed := filepath.Join(dir, "stage", "..", "blob.dat")
	exited = run(t, stage, "sh", "-c", fmt.Sprintf("%s -c budget.csv spec.pdf > %s", helper, packed))
	if r, _ := waitDetection(t, a, filepath.Join(dir, "blob.dat"), exited); r["file_count"] != "2" {
		t.Errorf("an archive written as .dat by a renamed gzip: %v", r)
	}

	// cat feeding gzip in one pipeline.
	piped := filepath.Join(dir, "piped.gz")
	exited = run(t, stage, "sh", "-c", "cat budget.csv spec.pdf | gzip > "+piped)
	// The group holds the copies and the .dat written beside them.
	if r, _ := waitDetection(t, a, piped, exited); atoi(r["file_count"]) < 2 || !strings.Contains(r["reason"], "with gzip") {
		t.Errorf("cat | gzip over staged files: %v", r)
	}

	pipDir, err := os.MkdirTemp("/tmp", "pip-sw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pipDir); os.Remove(pipDir + ".tgz") })
	run(t, src, "cp", "budget.csv", "spec.pdf", pipDir+"/")
	exited = run(t, "/tmp", "tar", "czf", pipDir+".tgz", "-C", "/tmp", filepath.Base(pipDir))
	if r, _ := waitDetection(t, a, pipDir+".tgz", exited); r["file_count"] != "2" {
		t.Errorf("staging in pip's scratch-path pattern by cp: %v", r)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
