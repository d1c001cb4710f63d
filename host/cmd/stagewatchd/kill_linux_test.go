//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/testenv"
)

// killInterval is the test pack's query interval: long enough that a kill
// right after a detection comes before the next scheduled run.
const killInterval = 4

// TestKilledKeepsDetections kills, with SIGKILL, the Linux plugin and then
// stagewatchd itself, each once right after a detection (before the
// scheduled query has logged it, or after) and once in the middle of a
// staging (the copies before the kill, the archive after). Every detection
// visible before a kill is visible after with the same uid and every
// column the same; the scheduler logs each detection added exactly once
// and never removed; staging split across a restart is detected once.
func TestKilledKeepsDetections(t *testing.T) {
	requireRoot(t)
	dir := openTempDir(t)
	// This run's own staging directories only: another test binary (a
	// second checkout's run) may stage into /tmp at the same time.
	prefix := fmt.Sprintf("sw-kill-%d-", os.Getpid())
	queries := map[string]any{
		"detections": map[string]any{
			"query":    "SELECT * FROM staging_detections WHERE staging_path LIKE '/tmp/" + prefix + "%'",
			"interval": killInterval, "removed": true,
		},
		"files": map[string]any{
			"query":    "SELECT * FROM staging_file_events WHERE path LIKE '/tmp/" + prefix + "%'",
			"interval": killInterval, "removed": true,
		},
	}
	cfg, pack, results := e2eFiles(t, dir, queries)
	d := launchE2E(t, dir, cfg, pack, results)
	src := testenv.Documents(t)

	// 1. A detection, then the plugin killed before the next scheduled run.
	afterTick(killInterval)
	one := testenv.StagingDir(t, prefix)
	copyDocuments(t, src, one)
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", one+".tgz", filepath.Base(one)))
	before := waitStaged(t, cfg, one)
	uid1 := before["uid"]
	if logged(t, results, "detections", uid1) != 0 {
		t.Fatalf("the scheduled query ran before the kill; the test's timing is off")
	}
	killPlugin(t, d, cfg)
	if after := stagedRow(t, cfg, one); !sameRow(after, before) {
		t.Errorf("after the plugin was killed the detection is\n%v\nwas\n%v", after, before)
	}
	waitLogged(t, results, uid1)

	// 2. Copies, the plugin killed, then the archive.
	two := testenv.StagingDir(t, prefix)
	copyDocuments(t, src, two)
	waitFileEvents(t, cfg, two, 5)
	killPlugin(t, d, cfg)
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", two+".tgz", filepath.Base(two)))
	row2 := waitStaged(t, cfg, two)
	if row2["file_count"] != "5" {
		t.Errorf("staging split across a plugin restart: %v, want the 5 files copied before it", row2)
	}
	waitLogged(t, results, row2["uid"])

	// 3. stagewatchd killed after both were logged: the plugin is told
	// (SIGTERM, its parent gone) and the new one waits for its state.
	kept := map[string]map[string]string{one: stagedRow(t, cfg, one), two: stagedRow(t, cfg, two)}
	d = killDaemon(t, d, dir, cfg, pack, results)
	for stage, want := range kept {
		if got := stagedRow(t, cfg, stage); !sameRow(got, want) {
			t.Errorf("after stagewatchd was killed the detection of %s is\n%v\nwas\n%v", stage, got, want)
		}
	}

	// 4. A detection, stagewatchd killed before the next scheduled run.
	afterTick(killInterval)
	three := testenv.StagingDir(t, prefix)
	copyDocuments(t, src, three)
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", three+".tgz", filepath.Base(three)))
	row3 := waitStaged(t, cfg, three)
	if logged(t, results, "detections", row3["uid"]) != 0 {
		t.Fatalf("the scheduled query ran before the kill; the test's timing is off")
	}
	d = killDaemon(t, d, dir, cfg, pack, results)
	if got := stagedRow(t, cfg, three); !sameRow(got, row3) {
		t.Errorf("after stagewatchd was killed the detection of %s is\n%v\nwas\n%v", three, got, row3)
	}
	waitLogged(t, results, row3["uid"])

	// 5. Copies, stagewatchd killed, then the archive.
	four := testenv.StagingDir(t, prefix)
	copyDocuments(t, src, four)
	waitFileEvents(t, cfg, four, 5)
	d = killDaemon(t, d, dir, cfg, pack, results)
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", four+".tgz", filepath.Base(four)))
	row4 := waitStaged(t, cfg, four)
	if row4["file_count"] != "5" {
		t.Errorf("staging split across a stagewatchd restart: %v, want the 5 files copied before it", row4)
	}
	waitLogged(t, results, row4["uid"])

	// Two more scheduled runs, then the results log is counted.
	time.Sleep(2*killInterval*time.Second + 500*time.Millisecond)
	lines := loggedRows(t, results)
	added, removed := map[string]int{}, map[string]int{}
	for _, l := range lines {
		if l.Name != "pack_det0014_detections" {
			continue
		}
		switch l.Action {
		case "added":
			added[l.Columns["uid"]]++
		case "removed":
			removed[l.Columns["uid"]]++
		}
	}
	for _, uid := range []string{uid1, row2["uid"], row3["uid"], row4["uid"]} {
		if added[uid] != 1 || removed[uid] != 0 {
			t.Errorf("detection %s: logged added %d times and removed %d times, want added once and never removed", uid, added[uid], removed[uid])
		}
	}
	if len(added) != 4 {
		t.Errorf("%d detections logged, want 4: %v", len(added), added)
		for _, l := range lines {
			if l.Name == "pack_det0014_detections" {
				t.Logf("logged %s: %s %s → %s: %s", l.Action, l.Columns["uid"], l.Columns["staging_path"], l.Columns["archive_path"], l.Columns["reason"])
			}
		}
	}
	fileAdded := map[string]int{}
	for _, l := range lines {
		if l.Name != "pack_det0014_files" {
			continue
		}
		key := l.Columns["path"] + " " + l.Columns["action"] + " " + l.Columns["time_ns"] + " " + l.Columns["time"]
		switch l.Action {
		case "added":
			fileAdded[key]++
		case "removed":
			t.Errorf("file event logged removed after a restart: %v", l.Columns)
		}
	}
	for key, n := range fileAdded {
		if n != 1 {
			t.Errorf("file event %s logged added %d times", key, n)
		}
	}

	r := runCLI(t, -1, "query", "--config", cfg, "SELECT counters FROM staging_analytics WHERE analytic_id = 'AN0041'")
	var rows []map[string]string
	var counters map[string]uint64
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || json.Unmarshal([]byte(rows[0]["counters"]), &counters) != nil {
		t.Fatalf("staging_analytics: %s %v", r.stdout, err)
	}
	if counters["state_restored_events"] == 0 || counters["state_restored_detections"] < 3 || counters["state_write_errors"] != 0 || counters["state_events"] == 0 {
		t.Errorf("state counters after the last restart: %v", counters)
	}
	t.Logf("after 4 kills: %d events and %d detections kept, %d bytes, restored in %d ms", counters["state_events"], counters["state_detections"], counters["state_bytes"], counters["state_restore_ms"])
}

// afterTick waits until just past a scheduled run of queries of interval
// seconds (osqueryd's schedule: when the unix time is a multiple of it).
func afterTick(interval int64) {
	now := time.Now()
	next := time.Unix((now.Unix()/interval+1)*interval, 0)
	time.Sleep(time.Until(next) + 300*time.Millisecond)
}

// copyDocuments copies the five documents of writeDocuments into stage.
func copyDocuments(t *testing.T, src, stage string) {
	t.Helper()
	testenv.Sh(t, fmt.Sprintf("cp %q/*.docx %q/*.pdf %q/salaries.csv %q/deploy-key.pem %q/notes.txt %q/", src, src, src, src, src, stage))
}

// stagedRow returns the one detection of stage, every column, or nil.
func stagedRow(t *testing.T, cfg, stage string) map[string]string {
	t.Helper()
	rows := queryRows(t, cfg, fmt.Sprintf("SELECT * FROM staging_detections WHERE staging_path = '%s'", stage))
	switch len(rows) {
	case 0:
		return nil
	case 1:
		return rows[0]
	}
	t.Fatalf("%d detections of %s, want one: %v", len(rows), stage, rows)
	return nil
}

func queryRows(t *testing.T, cfg, sql string) []map[string]string {
	t.Helper()
	r := runCLI(t, -1, "query", "--config", cfg, sql)
	if r.code != 0 {
		t.Fatalf("query %s: %d %s", sql, r.code, r.stderr)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("query output %q: %v", r.stdout, err)
	}
	return rows
}

func waitStaged(t *testing.T, cfg, stage string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if row := stagedRow(t, cfg, stage); row != nil {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("no detection of %s 10s after its archive", stage)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFileEvents waits until n file events under stage are visible: what
// a query can see is on disk.
func waitFileEvents(t *testing.T, cfg, stage string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := queryRows(t, cfg, fmt.Sprintf("SELECT DISTINCT path FROM staging_file_events WHERE path LIKE '%s/%%'", stage))
		if len(rows) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d copies into %s visible after 10s", len(rows), n, stage)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sameRow compares two rows of staging_detections column by column.
func sameRow(a, b map[string]string) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// killPlugin kills the daemon's AN0041 plugin with SIGKILL and waits for
// the daemon to have started a new one, running.
func killPlugin(t *testing.T, d *daemon, cfg string) {
	t.Helper()
	old := childOf(t, d.cmd.Process.Pid, "stagewatch-linux")
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		pids := pluginPids(t, d.cmd.Process.Pid)
		if len(pids) == 1 && pids[0] != old {
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("no new plugin 10s after the kill: %v", pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitRunning(t, cfg, d.stderr)
	t.Logf("plugin killed: running again after %v", time.Since(killed).Round(time.Millisecond))
}

// killDaemon kills stagewatchd with SIGKILL, starts it again on the same
// files and returns it once AN0041 runs.
func killDaemon(t *testing.T, d *daemon, dir, cfg, pack, results string) *daemon {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-d.done
	d.done <- err // for its cleanup
	killed := time.Now()
	next := launchE2E(t, dir, cfg, pack, results)
	t.Logf("stagewatchd killed: running again after %v", time.Since(killed).Round(time.Millisecond))
	return next
}

type loggedRow struct {
	Name, Action string
	Columns      map[string]string
}

func loggedRows(t *testing.T, results string) []loggedRow {
	t.Helper()
	data, err := os.ReadFile(results)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []loggedRow
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		var l loggedRow
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Errorf("results log line is not JSON: %q", line)
			continue
		}
		out = append(out, l)
	}
	return out
}

// logged counts the added lines of query name for uid.
func logged(t *testing.T, results, name, uid string) int {
	t.Helper()
	n := 0
	for _, l := range loggedRows(t, results) {
		if l.Name == "pack_det0014_"+name && l.Action == "added" && l.Columns["uid"] == uid {
			n++
		}
	}
	return n
}

func waitLogged(t *testing.T, results, uid string) {
	t.Helper()
	deadline := time.Now().Add(3 * killInterval * time.Second)
	for logged(t, results, "detections", uid) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("detection %s not in the results log after %ds", uid, 3*killInterval)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplayStateDir: `replay --state-dir` keeps what it read; the same
// log replayed again adds nothing, and a log replayed in two halves (the
// copies, then the archive) gives what the whole log gives.
func TestReplayStateDir(t *testing.T) {
	if err := buildLinuxPlugin(); err != nil {
		t.Fatal(err)
	}
	fixtures := filepath.Join("..", "..", "..", "plugins", "linux", "testdata", "audit")
	cfg := filepath.Join(t.TempDir(), "sw.yaml")
	if err := os.WriteFile(cfg, []byte("stagewatch:\n  plugin_dir: "+filepath.Join(binDir, "plugins")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	replay := func(state string, logs ...string) string {
		t.Helper()
		args := []string{"replay", "--analytic", "AN0041", "--config", cfg}
		if state != "" {
			args = append(args, "--state-dir", state)
		}
		args = append(args, logs...)
		r := runCLI(t, -1, args...)
		if r.code != 0 {
			t.Fatalf("replay %v: exit %d\n%s", logs, r.code, r.stderr)
		}
		return r.stdout
	}
	staging := filepath.Join(fixtures, "staging.log")
	want := replay("", staging)
	if strings.Count(want, "\n") != 2 {
		t.Fatalf("replay without a state: %q, want the two detections", want)
	}

	state := filepath.Join(t.TempDir(), "state")
	if got := replay(state, staging); got != want {
		t.Fatalf("first replay:\n%s\nwant\n%s", got, want)
	}
	if got := replay(state, staging, staging); got != want {
		t.Errorf("the same log replayed again into the state:\n%s\nwant (no duplicates)\n%s", got, want)
	}

	// The log cut before the tar: copies in one replay, archive in the next.
	data, err := os.ReadFile(staging)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	cut := -1
	for _, l := range lines {
		if strings.HasPrefix(l, "type=SYSCALL") && strings.Contains(l, `comm="tar"`) {
			serial := l[strings.Index(l, "msg=audit(") : strings.Index(l, "):")+2]
			for j := range lines {
				if strings.Contains(lines[j], serial) {
					cut = j
					break
				}
			}
			break
		}
	}
	if cut <= 0 {
		t.Fatal("no tar in the staging fixture")
	}
	halves := t.TempDir()
	first, second := filepath.Join(halves, "copies.log"), filepath.Join(halves, "archive.log")
	os.WriteFile(first, []byte(strings.Join(lines[:cut], "")), 0o600)
	os.WriteFile(second, []byte(strings.Join(lines[cut:], "")), 0o600)
	split := filepath.Join(t.TempDir(), "state")
	if got := replay(split, first); got != "" {
		t.Errorf("the copies alone detected:\n%s", got)
	}
	if got := replay(split, second); got != want {
		t.Errorf("the archive replayed after the copies, in a second run:\n%s\nwant\n%s", got, want)
	}
}
