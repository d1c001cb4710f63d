//go:build linux

package extserver_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/extensions/osquerytest"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// stagewatch.ext killed outright (osquery's watchdog, the OOM killer) and
// started again by osqueryd's autoload serves the same tables: every
// detection with its uid and every column, the file and process events
// behind it, so osqueryd's differential logs no removed or added row. A
// staging whose copies came before the kill and whose archive comes after
// is detected once, with every copy counted.
func TestExtensionKilledKeepsDetections(t *testing.T) {
	testenv.RequireRoot(t, "the Linux analytic collects from audit netlink and fanotify")
	testenv.RequireTool(t, "sh", "cp", "tar", "gzip")
	plugin := sdktest.BuildPlugin(t, "github.com/stagewatch/stagewatch/plugins/linux")

	// The state directory: fresh, below a root-owned 0700 directory.
	base, err := os.MkdirTemp("", "sw-kill-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	stateDir := filepath.Join(base, "state")
	cfg := filepath.Join(base, "stagewatch.yaml")
	text := fmt.Sprintf("stagewatch:\n  plugin_dir: %s\n  plugins: [%s]\n  host_identifier: kill-host\n  state_dir: %s\n",
		filepath.Dir(plugin), filepath.Base(plugin), stateDir)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	src := testenv.Documents(t)

	sock := filepath.Join(socketDir(t), "osquery.em")
	m, err := osquerytest.Start(sock)
	if err != nil {
		t.Fatal(err)
	}
	k := &killRig{
		t: t, manager: m, plugin: plugin,
		// osqueryd's autoload arguments, the same at every start.
		args:    []string{"--socket", sock, "--timeout", "3", "--interval", "3", "--verbose"},
		environ: append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, config.EnvVar+"=") }), config.EnvVar+"="+cfg),
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, e := range k.runs {
				t.Logf("stagewatch.ext run %d stderr:\n%s", i+1, e.stderr.String())
			}
		}
	})
	t.Cleanup(func() {
		if k.cur != nil {
			k.cur.stop()
		}
		m.Close()
	})

	k.start()
	k.waitRunning()
	if _, err := os.Stat(filepath.Join(stateDir, "stagewatch.ext", "AN0041", "state.db")); err != nil {
		t.Fatalf("AN0041 keeps no state where the configuration says: %v", err)
	}

	// 1. A whole staging, detected, then the extension killed before the
	// next scheduled query.
	stage1 := testenv.StagingDir(t, "sw-kill-")
	tgz1 := stage1 + ".tgz"
	testenv.Sh(t, fmt.Sprintf("cp %q/*.docx %q/*.pdf %q/", src, src, stage1))
	testenv.Sh(t, fmt.Sprintf("cp %q/salaries.csv %q/deploy-key.pem %q/notes.txt %q/", src, src, src, stage1))
	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", tgz1, filepath.Base(stage1)))
	det1 := k.waitDetection(stage1, tgz1)
	if det1["file_count"] != "5" || det1["uid"] == "" {
		t.Fatalf("detection %v: want 5 files and a uid", det1)
	}
	dets := k.rows(schema.Detections)
	files1 := filesOf(k.rows(schema.FileEvents), stage1)
	procs1 := processesFor(k.rows(schema.ProcessEvents), stage1)
	if n := countCopies(files1, stage1); n != 5 {
		t.Fatalf("staging_file_events holds %d files written in %s, want 5:\n%v", n, stage1, files1)
	}
	if !slices.ContainsFunc(procs1, func(r map[string]string) bool { return strings.HasPrefix(r["cmdline"], "tar czf "+tgz1) }) {
		t.Fatalf("staging_process_events lacks the tar of %s:\n%v", stage1, procs1)
	}
	t.Logf("before the kill: %d detections, %d file events and %d process events for %s", len(dets), len(files1), len(procs1), stage1)

	killed := k.kill()
	k.start()
	health := k.waitRunning()
	var counters map[string]uint64
	if err := json.Unmarshal([]byte(health["counters"]), &counters); err != nil {
		t.Fatalf("staging_analytics counters %q: %v", health["counters"], err)
	}
	t.Logf("after the restart: state_restored_events %d, state_restored_detections %d, state_restore_ms %d, state_write_errors %d",
		counters["state_restored_events"], counters["state_restored_detections"], counters["state_restore_ms"], counters["state_write_errors"])
	if counters["state_restored_detections"] < 1 || counters["state_restored_events"] == 0 || counters["state_write_errors"] != 0 {
		t.Errorf("counters after the restart %s: want state_restored_detections >= 1, state_restored_events > 0, state_write_errors 0", health["counters"])
	}
	after := k.rows(schema.Detections)
	sameDetections(t, "after the kill", dets, after, killed)
	if got := forStage(after, stage1); len(got) != 1 || !maps.Equal(got[0], det1) {
		t.Errorf("detections for %s after the restart %v, want exactly %v", stage1, got, det1)
	}
	sameRows(t, "staging_file_events for "+stage1, files1, filesOf(k.rows(schema.FileEvents), stage1))
	sameRows(t, "staging_process_events for "+stage1, procs1, processesFor(k.rows(schema.ProcessEvents), stage1))

	// 2. A staging interrupted: copies, the kill, the archive.
	stage2 := testenv.StagingDir(t, "sw-kill-")
	tgz2 := stage2 + ".tgz"
	testenv.Sh(t, fmt.Sprintf("cp %q/*.docx %q/*.pdf %q/", src, src, stage2))
	testenv.Sh(t, fmt.Sprintf("cp %q/salaries.csv %q/deploy-key.pem %q/notes.txt %q/", src, src, src, stage2))
	// What a table shows is on disk: wait until every copy is there.
	deadline := time.Now().Add(15 * time.Second)
	var files2 []map[string]string
	for {
		files2 = filesOf(k.rows(schema.FileEvents), stage2)
		if countCopies(files2, stage2) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staging_file_events shows %d of the 5 copies into %s after 15s:\n%v", countCopies(files2, stage2), stage2, files2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := forStage(k.rows(schema.Detections), stage2); len(got) != 0 {
		t.Fatalf("a detection for %s before its archive: %v", stage2, got)
	}
	dets = k.rows(schema.Detections)
	procs2 := processesFor(k.rows(schema.ProcessEvents), stage2)

	killed = k.kill()
	k.start()
	k.waitRunning()
	after = k.rows(schema.Detections)
	sameDetections(t, "after the kill mid-staging", dets, after, killed)
	sameRows(t, "staging_file_events for "+stage2+" after the kill mid-staging", files2, filesOf(k.rows(schema.FileEvents), stage2))
	sameRows(t, "staging_process_events for "+stage2+" after the kill mid-staging", procs2, processesFor(k.rows(schema.ProcessEvents), stage2))

	testenv.Sh(t, fmt.Sprintf("tar czf %q -C /tmp %q", tgz2, filepath.Base(stage2)))
	det2 := k.waitDetection(stage2, tgz2)
	if det2["file_count"] != "5" {
		t.Errorf("detection of the staging interrupted by the kill %v: want file_count 5 (the copies before the restart count)", det2)
	}
	// Past the settle delay and a query interval: nothing more comes.
	time.Sleep(2 * time.Second)
	final := k.rows(schema.Detections)
	got1, got2 := forStage(final, stage1), forStage(final, stage2)
	if len(got1) != 1 || !maps.Equal(got1[0], det1) {
		t.Errorf("detections for %s at the end %v, want exactly %v", stage1, got1, det1)
	}
	if len(got2) != 1 || got2[0]["uid"] != det2["uid"] || got2[0]["uid"] == det1["uid"] {
		t.Errorf("detections for %s at the end %v, want exactly one, %s", stage2, got2, det2["uid"])
	}
	if n := len(got1) + len(got2); n != 2 {
		t.Errorf("%d detections for the two stagings, want 2", n)
	}
	if n := countCopies(filesOf(k.rows(schema.FileEvents), stage2), stage2); n != 5 {
		t.Errorf("staging_file_events holds %d files written in %s at the end, want 5", n, stage2)
	}
}

// killRig is one osqueryd stand-in and the stagewatch.ext it runs,
// started again with the same arguments after each kill.
type killRig struct {
	t       *testing.T
	manager *osquerytest.Manager
	plugin  string
	args    []string
	environ []string
	cur     *env   // the extension running, or the last one killed
	runs    []*env // every start, for the logs
}

// start starts stagewatch.ext and waits for its registration, as autoload
// would.
func (k *killRig) start() {
	t := k.t
	t.Helper()
	e := &env{t: t, manager: k.manager, stderr: &sdktest.LogBuffer{}, exited: make(chan struct{}), plugin: k.plugin}
	e.cmd = exec.Command(extBinary, k.args...)
	e.cmd.Env = k.environ
	e.cmd.Stderr = e.stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.cur = e
	k.runs = append(k.runs, e)
	go func() { e.cmd.Wait(); close(e.exited) }()
	registered := make(chan error, 1)
	go func() {
		var err error
		e.reg, err = k.manager.WaitRegistration(20 * time.Second)
		registered <- err
	}()
	var err error
	select {
	case err = <-registered:
	case <-e.exited:
		if err = <-registered; err == nil {
			err = fmt.Errorf("extension exited right after registering")
		}
	}
	if err != nil {
		t.Fatalf("start %d: %v", len(k.runs), err)
	}
	e.client = dialRetry(t, k.manager.ExtensionSocket(e.reg.UUID))
}

// kill sends SIGKILL to the extension alone, as osquery's watchdog does,
// and waits for it to be gone and for its plugin to end on its parent's
// death (PR_SET_PDEATHSIG). It returns when the extension was killed.
func (k *killRig) kill() time.Time {
	t := k.t
	t.Helper()
	e := k.cur
	ext := e.cmd.Process.Pid
	plugins := childrenOf(ext, k.plugin)
	if len(plugins) != 1 {
		t.Fatalf("plugin processes of stagewatch.ext %d: %v, want one", ext, plugins)
	}
	killed := time.Now()
	if err := syscall.Kill(ext, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("stagewatch.ext %d still running 10s after SIGKILL", ext)
	}
	e.client.Close()
	for _, pid := range plugins {
		for alive(pid) {
			if time.Since(killed) > 10*time.Second {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("plugin %d still running 10s after its extension was killed; killed it", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("stagewatch.ext %d killed; its plugin %v exited %v later", ext, plugins, time.Since(killed).Round(time.Millisecond))
	return killed
}

// waitRunning polls staging_analytics over Thrift until AN0041 runs, and
// returns its row.
func (k *killRig) waitRunning() map[string]string {
	t := k.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []map[string]string
	for {
		rows, err := osquerytest.Check(k.cur.client.Generate(ctxTimeout(t, 10*time.Second), schema.Analytics, `{"constraints":[]}`))
		if err == nil {
			last = rows
			for _, r := range rows {
				if r["analytic_id"] == "AN0041" && r["state"] == "running" {
					return r
				}
			}
		}
		if !k.cur.alive() {
			t.Fatalf("stagewatch.ext exited before AN0041 ran")
		}
		if time.Now().After(deadline) {
			t.Fatalf("AN0041 not running after 30s: %v (last error %v)", last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rows asks the extension for every row of a table, as osqueryd does for
// a SELECT * without constraints.
func (k *killRig) rows(table string) []map[string]string {
	k.t.Helper()
	rows, err := osquerytest.Check(k.cur.client.Generate(ctxTimeout(k.t, 10*time.Second), table, `{"constraints":[]}`))
	if err != nil {
		k.t.Fatalf("%s: %v", table, err)
	}
	return rows
}

// waitDetection polls staging_detections until the detection of the
// archive of stage appears.
func (k *killRig) waitDetection(stage, archive string) map[string]string {
	t := k.t
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, r := range k.rows(schema.Detections) {
			if r["staging_path"] == stage && r["archive_path"] == archive {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no detection of %s archived to %s after 15s: %v", stage, archive, forStage(k.rows(schema.Detections), stage))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sameDetections checks that every detection served before a kill is
// served after it, every column the same, and that any other row is one
// raised after the kill (another staging on this host), not a detection
// served again under another uid.
func sameDetections(t *testing.T, when string, before, after []map[string]string, killed time.Time) {
	t.Helper()
	byUID := map[string]map[string]string{}
	for _, r := range after {
		if _, dup := byUID[r["uid"]]; dup {
			t.Errorf("%s: uid %s served twice", when, r["uid"])
		}
		byUID[r["uid"]] = r
	}
	seen := map[string]bool{}
	for _, b := range before {
		seen[b["uid"]] = true
		a, ok := byUID[b["uid"]]
		switch {
		case !ok:
			t.Errorf("%s: detection %s gone: %v", when, b["uid"], b)
		case !maps.Equal(a, b):
			t.Errorf("%s: detection %s changed:\nbefore %v\nafter  %v", when, b["uid"], b, a)
		}
	}
	for _, a := range after {
		if seen[a["uid"]] {
			continue
		}
		if at, _ := strconv.ParseInt(a["time"], 10, 64); at < killed.Unix() {
			t.Errorf("%s: detection %s not served before the kill, raised before it: %v", when, a["uid"], a)
			continue
		}
		t.Logf("%s: a detection raised since the kill by other activity on this host: %s %s", when, a["staging_path"], a["archive_path"])
	}
}

// sameRows checks that two sets of rows are the same, row for row.
func sameRows(t *testing.T, what string, before, after []map[string]string) {
	t.Helper()
	b, a := canonical(before), canonical(after)
	if slices.Equal(b, a) {
		return
	}
	var gone, added []string
	for _, r := range b {
		if !slices.Contains(a, r) {
			gone = append(gone, r)
		}
	}
	for _, r := range a {
		if !slices.Contains(b, r) {
			added = append(added, r)
		}
	}
	t.Errorf("%s: %d rows before, %d after\ngone:\n%s\nadded:\n%s", what, len(b), len(a), strings.Join(gone, "\n"), strings.Join(added, "\n"))
}

// canonical writes rows as sorted JSON objects (map keys sorted) and sorts
// them, so two tables compare whatever the order of their rows.
func canonical(rows []map[string]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		data, _ := json.Marshal(r)
		out[i] = string(data)
	}
	slices.Sort(out)
	return out
}

func forStage(rows []map[string]string, stage string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		if r["staging_path"] == stage {
			out = append(out, r)
		}
	}
	return out
}

// filesOf keeps the file events of stage: the files in it and its archive.
func filesOf(rows []map[string]string, stage string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		if strings.HasPrefix(r["path"], stage+"/") || r["path"] == stage+".tgz" {
			out = append(out, r)
		}
	}
	return out
}

// countCopies counts the distinct files in stage the table shows written
// and closed.
func countCopies(rows []map[string]string, stage string) int {
	paths := map[string]bool{}
	for _, r := range rows {
		if strings.HasPrefix(r["path"], stage+"/") && r["action"] == "write" {
			paths[r["path"]] = true
		}
	}
	return len(paths)
}

// processesFor keeps the executions that name stage or ran in it.
func processesFor(rows []map[string]string, stage string) []map[string]string {
	var out []map[string]string
	for _, r := range rows {
		if strings.Contains(r["cmdline"], stage) || r["cwd"] == stage || strings.HasPrefix(r["cwd"], stage+"/") {
			out = append(out, r)
		}
	}
	return out
}

// childrenOf lists the processes of exe whose parent is ppid.
func childrenOf(ppid int, exe string) []int {
	var out []int
	for _, pid := range processesOf(exe) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		var state string
		var parent int
		if i >= 0 {
			if _, err := fmt.Sscanf(s[i+1:], " %s %d", &state, &parent); err == nil && parent == ppid {
				out = append(out, pid)
			}
		}
	}
	return out
}

// alive reports whether pid runs: a zombie, whose reaper may be slow or
// absent in a container, has ended.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z") && !strings.HasPrefix(s[i+1:], " X")
}
