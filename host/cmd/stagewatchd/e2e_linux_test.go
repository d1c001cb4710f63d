//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/host/packs"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/testenv"
	builtinpacks "github.com/stagewatch/stagewatch/packs"
	"github.com/stagewatch/stagewatch/plugins/linux/audit"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// The end-to-end test is the product as an operator meets it: the real
// stagewatchd with the real Linux plugin, live kernel collection, the
// DET0014 pack, and real cp, tar, zip, gcc, dpkg-deb and logrotate runs.

var buildLinuxPlugin = sync.OnceValue(func() error {
	out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "plugins", "stagewatch-linux"),
		"github.com/stagewatch/stagewatch/plugins/linux").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build stagewatch-linux: %v\n%s", err, out)
	}
	return nil
})

// e2eDaemon starts `stagewatchd run` with the Linux plugin and its default
// analytic configuration, and the DET0014 pack with every interval cut to
// one second so the test need not wait for the production schedule.
func e2eDaemon(t *testing.T, dir string) (*daemon, string, string) {
	t.Helper()
	cfg, pack, results := e2eFiles(t, dir, nil)
	return launchE2E(t, dir, cfg, pack, results), cfg, results
}

// e2eFiles writes the configuration and the pack e2eDaemon runs; queries,
// when set, replaces the DET0014 pack's queries.
func e2eFiles(t *testing.T, dir string, queries map[string]any) (cfg, pack, results string) {
	t.Helper()
	if err := buildLinuxPlugin(); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "stagewatch.yaml")
	text := fmt.Sprintf(`stagewatch:
  plugin_dir: %s
  plugins: [stagewatch-linux]
  host_identifier: e2e-host
  socket: %s
  state_dir: %s
  query_timeout: 5s
`, filepath.Join(binDir, "plugins"), filepath.Join(dir, "run", "stagewatchd.sock"), filepath.Join(dir, "state"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	if queries == nil {
		loaded, err := packs.LoadPacks([]string{"../../../packs/det0014.conf"})
		if err != nil {
			t.Fatal(err)
		}
		queries = map[string]any{}
		for _, q := range loaded[0].Queries {
			queries[q.Name] = map[string]any{
				"query": q.SQL, "interval": 1, "snapshot": q.Snapshot, "removed": q.Removed, "platform": q.Platform,
			}
		}
	}
	pack = filepath.Join(dir, "det0014.conf")
	data, _ := json.Marshal(map[string]any{"queries": queries})
	if err := os.WriteFile(pack, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, pack, filepath.Join(dir, "results.log")
}

// launchE2E starts `stagewatchd run` on the files e2eFiles wrote and waits
// for AN0041 to run. Stop it with SIGTERM at the end of the test, so the
// plugin takes its audit rules away.
func launchE2E(t *testing.T, dir, cfg, pack, results string) *daemon {
	t.Helper()
	cmd := exec.Command(stagewatchd, "run", "--config", cfg, "--pack", pack, "--results-log", results)
	stderr := &sdktest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, socket: filepath.Join(dir, "run", "stagewatchd.sock"), stderr: stderr, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", stderr)
		}
	})
	waitRunning(t, cfg, stderr)
	return d
}

// waitRunning waits until the daemon's AN0041 reports running.
func waitRunning(t *testing.T, cfg string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := runCLI(t, -1, "query", "--config", cfg, "SELECT state, message FROM staging_analytics WHERE analytic_id = 'AN0041'")
		if r.code == 0 && strings.Contains(r.stdout, `"state":"running"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("AN0041 not running after 30s: %s %s\n%s", r.stdout, r.stderr, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// detections asks the running daemon for AN0041's detections.
func detections(t *testing.T, cfg string) []map[string]string {
	t.Helper()
	r := runCLI(t, -1, "query", "--config", cfg,
		"SELECT uid, staging_path, archive_path, file_count, bytes, severity, score, actor, process, reason FROM staging_detections WHERE analytic_id = 'AN0041'")
	if r.code != 0 {
		t.Fatalf("query: %d %s", r.code, r.stderr)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("query output %q: %v", r.stdout, err)
	}
	return rows
}

func TestEndToEndLinuxStaging(t *testing.T) {
	requireRoot(t)
	dir := openTempDir(t)
	_, cfg, results := e2eDaemon(t, dir)
	src := testenv.Documents(t)

	stage, err := os.MkdirTemp("/tmp", "sw-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	tgz, zipped := stage+".tgz", stage+".zip"
	t.Cleanup(func() { os.RemoveAll(stage); os.Remove(tgz); os.Remove(zipped) })

	// Staging: a handful of documents copied in, then archived twice.
	testenv.Sh(t, fmt.Sprintf("cp %q/*.docx %q/*.pdf %q/", src, src, stage))
	testenv.Sh(t, fmt.Sprintf("cp %q/salaries.csv %q/deploy-key.pem %q/notes.txt %q/", src, src, src, stage))
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", tgz, filepath.Base(stage)))
	tarDone := time.Now()
	latency := waitDetections(t, cfg, 1, tarDone)
	t.Logf("tar: detection visible %v after the archiver exited", latency)
	testenv.Sh(t, fmt.Sprintf("zip -qr %q %q", zipped, stage))
	latency = waitDetections(t, cfg, 2, time.Now())
	t.Logf("zip: detection visible %v after the archiver exited", latency)

	got := detections(t, cfg)
	sort.Slice(got, func(i, j int) bool { return got[i]["archive_path"] > got[j]["archive_path"] })
	for i, want := range []string{zipped, tgz} {
		d := got[i]
		if d["staging_path"] != stage || d["archive_path"] != want || d["file_count"] != "5" {
			t.Errorf("detection %d: %v; want staging %s, archive %s, 5 files", i, d, stage, want)
		}
		if !strings.HasPrefix(d["actor"], "root") || d["severity"] == "low" {
			t.Errorf("detection %d: actor %q severity %q", i, d["actor"], d["severity"])
		}
	}

	// Benign activity on the same host in the same window stays quiet.
	benign := filepath.Join(filepath.Dir(stage), filepath.Base(stage)+"-x")
	t.Cleanup(func() { os.RemoveAll(benign) })
	testenv.Sh(t, fmt.Sprintf("mkdir -p %q && tar -xzf %q -C %q && cd %q && unzip -qo %q", benign, tgz, benign, benign, zipped))
	testenv.Sh(t, fmt.Sprintf(`printf 'int main(void){return 0;}\n' > %q/hello.c && gcc -o %q/hello %q/hello.c`, benign, benign, benign))
	debRoot := filepath.Join(src, "pkg")
	testenv.Sh(t, fmt.Sprintf(`mkdir -p %q/DEBIAN %q/usr/share/doc/swtest && printf 'Package: swtest\nVersion: 1.0\nArchitecture: all\nMaintainer: e2e <e2e@example.invalid>\nDescription: test\n' > %q/DEBIAN/control && cp %q/notes.txt %q/usr/share/doc/swtest/ && dpkg-deb -b %q /var/tmp/swtest.deb >/dev/null && dpkg-deb -x /var/tmp/swtest.deb %q-deb && rm -rf /var/tmp/swtest.deb %q-deb`,
		debRoot, debRoot, debRoot, src, debRoot, debRoot, benign, benign))
	logDir, _ := os.MkdirTemp("/var/log", "stagewatch-e2e-")
	t.Cleanup(func() { os.RemoveAll(logDir) })
	os.WriteFile(filepath.Join(logDir, "app.log"), []byte(strings.Repeat("GET /index.html 200\n", 2000)), 0o644)
	conf := filepath.Join(logDir, "logrotate.conf")
	os.WriteFile(conf, []byte(logDir+"/app.log {\n  rotate 2\n  compress\n  nodelaycompress\n  missingok\n}\n"), 0o644)
	testenv.Sh(t, fmt.Sprintf("logrotate -f -s %q %q", filepath.Join(logDir, "state"), conf))

	time.Sleep(2 * time.Second) // longer than the settle delay and a query interval
	if after := detections(t, cfg); len(after) != 2 {
		t.Fatalf("benign activity raised detections: %d rows, want the 2 staging ones\n%v", len(after), after)
	}
	// Quiet must mean judged, not unseen: the benign archivers were collected.
	r := runCLI(t, -1, "query", "--config", cfg, "SELECT category, cmdline, parent FROM staging_process_events")
	for _, want := range []string{`tar -xzf ` + tgz, `unzip -qo ` + zipped, `dpkg-deb -x /var/tmp/swtest.deb`, `"parent":"/usr/sbin/logrotate"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("staging_process_events lacks %q; benign activity was not collected\n%s", want, r.stdout)
		}
	}

	// The pack's differential query logged both detections as added rows.
	added := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(added) < 2 {
		data, _ := os.ReadFile(results)
		for _, line := range strings.Split(string(data), "\n") {
			var r struct {
				Name, Action, HostIdentifier string
				Columns                      map[string]string
			}
			if json.Unmarshal([]byte(line), &r) != nil || r.Name != "pack_det0014_stagewatch_detections" {
				continue
			}
			if r.Action != "added" || r.HostIdentifier != "e2e-host" {
				t.Errorf("result line: %s", line)
			}
			if r.Columns["staging_path"] == stage {
				added[r.Columns["uid"]] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, d := range got {
		if !added[d["uid"]] {
			t.Errorf("detection %s (%s) missing from the results log", d["uid"], d["archive_path"])
		}
	}
	if len(added) != 2 {
		t.Errorf("results log has %d detections for %s, want 2", len(added), stage)
	}
}

// waitDetections polls until AN0041 has n detections and says how long
// after since they took to appear.
func waitDetections(t *testing.T, cfg string, n int, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rows := detections(t, cfg); len(rows) >= n {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d detections 10s after the archiver exited", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With no daemon running, query --local and tables --local start the Linux
// plugin for the one call, in query mode: it answers without collecting.
func TestQueryWithoutDaemonLinux(t *testing.T) {
	requireRoot(t)
	if err := buildLinuxPlugin(); err != nil {
		t.Fatal(err)
	}
	dir := openTempDir(t)
	cfg := filepath.Join(dir, "stagewatch.yaml")
	text := fmt.Sprintf("stagewatch:\n  plugin_dir: %s\n  plugins: [stagewatch-linux]\n  socket: %s\n",
		filepath.Join(binDir, "plugins"), filepath.Join(dir, "no-daemon.sock"))
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, -1, "query", "--local", "--config", cfg, "SELECT analytic_id, mode, state FROM staging_analytics")
	if r.code != 0 || !strings.Contains(r.stdout, `"analytic_id":"AN0041","mode":"query","state":"configured"`) {
		t.Fatalf("query without daemon: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, -1, "tables", "--local", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, `"staging_process_events"`) {
		t.Fatalf("tables without daemon: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

// A host killed outright (osquery's watchdog, the OOM killer) must not leave
// its plugin running with audit rules in the kernel: the plugin notices, runs
// its clean shutdown and exits.
func TestPluginStopsWhenHostIsKilled(t *testing.T) {
	testenv.RequireRoot(t, "the live Linux analytic")
	ours := func() int {
		t.Helper()
		keys, err := audit.RuleKeys()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range keys {
			if k == audit.Key {
				n++
			}
		}
		return n
	}
	before := ours()
	d, _, _ := e2eDaemon(t, t.TempDir())
	plugin := childOf(t, d.cmd.Process.Pid, "stagewatch-linux")
	running := ours()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-d.done
	d.done <- err // for the cleanup
	killed := time.Now()
	for syscall.Kill(plugin, 0) == nil {
		if time.Since(killed) > 5*time.Second {
			syscall.Kill(plugin, syscall.SIGKILL)
			t.Fatalf("plugin %d still running 5s after its host was killed", plugin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("plugin exited %v after its host was killed; rules keyed %q: %d before, %d running, %d after",
		time.Since(killed).Round(time.Millisecond), audit.Key, before, running, ours())
	if after := ours(); after != before {
		t.Errorf("%d audit rules keyed %q left behind, want %d", after, audit.Key, before)
	}
}

// childOf finds the child process of ppid whose command is name.
func childOf(t *testing.T, ppid int, name string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s, e.Name()+" ("+name[:min(len(name), 15)]+")") {
			continue
		}
		var state string
		var parent int
		if _, err := fmt.Sscanf(s[i+1:], " %s %d", &state, &parent); err == nil && parent == ppid {
			return pid
		}
	}
	t.Fatalf("no child %q of pid %d", name, ppid)
	return 0
}

// stagewatchd copied alone onto a host, with no configuration and no pack
// file anywhere, runs this platform's analytic built in (a plugin process
// of its own executable), live, and schedules the DET0014 pack it carries.
func TestSingleFileDaemon(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(config.DefaultPath); err == nil {
		testenv.Unavailable(t, "%s exists on this machine: the test needs no configuration anywhere", config.DefaultPath)
	}
	dir := openTempDir(t)
	solo := filepath.Join(dir, "alone", "stagewatchd")
	if err := os.Mkdir(filepath.Dir(solo), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(stagewatchd)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(solo, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", "stagewatchd.sock")
	noConfig := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, config.EnvVar+"=") })

	cmd := exec.Command(solo, "run", "--socket", sock, "--results-log", filepath.Join(dir, "results.log"))
	cmd.Env, cmd.Dir = noConfig, filepath.Dir(solo)
	log := &sdktest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stagewatchd run exited with %v on SIGTERM\n%s", err, log)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("stagewatchd run ignored SIGTERM\n%s", log)
		}
	}()

	var rows []map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		q := exec.Command(solo, "query", "--socket", sock, "SELECT analytic_id, plugin, state, mode FROM staging_analytics")
		q.Env = noConfig
		out, err := q.Output()
		if err == nil && json.Unmarshal(out, &rows) == nil && len(rows) == 1 && rows[0]["state"] == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running analytic after 30s: %s %v\n%s", out, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := rows[0]; r["analytic_id"] != "AN0041" || r["plugin"] != solo || r["mode"] != "live" {
		t.Fatalf("staging_analytics %v: want AN0041 live from %s itself", r, solo)
	}
	pack, err := packs.ParsePack(builtinpacks.DET0014Name, builtinpacks.DET0014)
	if err != nil {
		t.Fatal(err)
	}
	// The pack's queries for this platform: those for Windows only are
	// not scheduled here.
	here := 0
	for _, q := range pack.Queries {
		if packs.PlatformMatches(q.Platform, "linux") {
			here++
		}
	}
	for _, want := range []string{"config defaults", "built-in DET0014 pack", fmt.Sprintf("%d scheduled queries", here)} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
