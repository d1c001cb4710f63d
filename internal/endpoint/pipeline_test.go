package endpoint

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var t0 = time.Unix(1_800_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

var alice = event.Actor{UID: 1000, EUID: 1000, AUID: 1000, TTY: "pts/0", Session: "2"}

func execEv(ms int, pid, ppid int64, exe string, cwd string, argv ...string) *event.Event {
	return &event.Event{Time: at(ms), Kind: event.KindExec, Actor: alice, Source: "audit",
		Process: event.Process{PID: pid, PPID: ppid, Exe: exe, Argv: argv, Cwd: cwd}}
}

func fileEv(ms int, pid int64, path string) *event.Event {
	return &event.Event{Time: at(ms), Kind: event.KindFileCreate, Path: path, Size: 100, Source: "fanotify",
		Process: event.Process{PID: pid, PPID: event.Unknown},
		Actor:   event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown}}
}

const (
	testAnalytic = "AN0041"
	testPlatform = "linux"
)

func newTestPipeline(t *testing.T) (*pipeline, *Tables) {
	t.Helper()
	corr, err := staging.New(staging.Config{AnalyticID: testAnalytic, Platform: testPlatform, PathStyle: staging.Posix})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := staging.NewRoots(staging.DefaultStagingDirectories(testPlatform), staging.Posix)
	if err != nil {
		t.Fatal(err)
	}
	st := NewTables(TablesConfig{AnalyticID: testAnalytic, Platform: testPlatform})
	p := newPipeline(newProcTable(0, nil), st, staging.Posix)
	p.reconfigure(corr, roots, "h")
	return p, st
}

// The archiver's exec arrives before copies that happened earlier but were
// read later; the settle buffer puts them first, and the archiver's own
// write of its output stays its output.
func TestSettleOrdersEvents(t *testing.T) {
	t.Parallel()
	p, st := newTestPipeline(t)
	p.arrive([]*event.Event{execEv(0, 10, 1, "/usr/bin/bash", "/home/alice", "bash")}, at(1))
	p.arrive([]*event.Event{execEv(100, 11, 10, "/usr/bin/cp", "/home/alice", "cp", "a", "b", "c", "/tmp/loot/")}, at(101))
	p.arrive([]*event.Event{execEv(200, 12, 10, "/usr/bin/tar", "/tmp", "tar", "czf", "/tmp/loot.tgz", "loot")}, at(210))
	p.arrive([]*event.Event{
		fileEv(150, 11, "/tmp/loot/a"), fileEv(160, 11, "/tmp/loot/b"), fileEv(170, 11, "/tmp/loot/c"),
		fileEv(220, 12, "/tmp/loot.tgz"),
	}, at(230))
	if got := p.stats().pending; got != 7 {
		t.Fatalf("%d events pending before the settle delay, want 7", got)
	}
	p.tick(at(230), false)
	p.tick(at(220).Add(DefaultSettleDelay), false)
	rows := generate(t, st, schema.Detections)
	if len(rows) != 1 || rows[0]["file_count"] != "3" || rows[0]["archive_path"] != "/tmp/loot.tgz" {
		t.Fatalf("detections %v", rows)
	}
	if rows[0]["actor"] != "uid 1000 (auid 1000, tty pts/0, ses 2)" {
		t.Errorf("file events not enriched from the exec: actor %q", rows[0]["actor"])
	}
	files := generate(t, st, schema.FileEvents)
	if len(files) != 4 || files[0]["process"] != "/usr/bin/cp" || files[3]["process"] != "/usr/bin/tar" {
		t.Errorf("file events %v", files)
	}
	procs := generate(t, st, schema.ProcessEvents)
	var cats []string
	for _, r := range procs {
		cats = append(cats, r["category"])
	}
	if !slices.Equal(cats, []string{"script", "copy", "archiver"}) || procs[2]["ancestry"] != `["/usr/bin/bash"]` {
		t.Errorf("process events %v", procs)
	}
}

// An event whose time is far off still leaves after the longest hold.
func TestSettleMaxHold(t *testing.T) {
	t.Parallel()
	p, _ := newTestPipeline(t)
	p.arrive([]*event.Event{fileEv(60_000, 5, "/tmp/x/future")}, at(0))
	p.tick(at(int(DefaultSettleDelay.Milliseconds())), false)
	if p.stats().pending != 1 {
		t.Fatal("released before its time")
	}
	p.tick(at(int(maxHoldFactor*DefaultSettleDelay.Milliseconds())), false)
	if p.stats().pending != 0 {
		t.Fatal("held past the longest hold")
	}
}

// An archiver's exec waits for a lagging file watcher, and the copies the
// correlator counts as before it leave first, so the detection is complete
// the first time it is visible; the archiver's own write stays after it.
func TestArchiverWaitsForFileWatcher(t *testing.T) {
	t.Parallel()
	p, st := newTestPipeline(t)
	caughtUp := at(180)
	p.goLive(DefaultSettleDelay, func() time.Time { return caughtUp })
	p.arrive([]*event.Event{execEv(100, 11, 10, "/usr/bin/cp", "/home/alice", "cp", "a", "b", "c", "/tmp/loot/")}, at(101))
	p.arrive([]*event.Event{execEv(200, 12, 10, "/usr/bin/tar", "/tmp", "tar", "czf", "/tmp/loot.tgz", "loot")}, at(205))
	p.arrive([]*event.Event{fileEv(150, 11, "/tmp/loot/a"), fileEv(160, 11, "/tmp/loot/b")}, at(230))

	p.tick(at(200).Add(DefaultSettleDelay+time.Millisecond), false)
	if got := p.stats().pending; got != 1 {
		t.Fatalf("%d events pending, want the archiver alone waiting for the watcher", got)
	}
	if rows := generate(t, st, schema.Detections); len(rows) != 0 {
		t.Fatalf("detection before the watcher caught up: %v", rows)
	}

	// The watcher catches up, having read the third copy late (stamped
	// after the exec) and the archiver's first write of its output.
	p.arrive([]*event.Event{fileEv(290, 11, "/tmp/loot/c"), fileEv(300, 12, "/tmp/loot.tgz")}, at(300))
	caughtUp = at(300)
	p.tick(at(200).Add(DefaultSettleDelay+2*time.Millisecond), false)
	rows := generate(t, st, schema.Detections)
	if len(rows) != 1 || rows[0]["file_count"] != "3" {
		t.Fatalf("first visible detections %v, want one with 3 files", rows)
	}
	p.flush()
	s := p.stats().correlator
	if s.Detections != 1 || s.Updates != 0 || s.ArchiveSteps != 1 {
		t.Errorf("correlator %+v: want one complete detection, no update, the output not a second step", s)
	}
	if rows := generate(t, st, schema.Detections); len(rows) != 1 || rows[0]["file_count"] != "3" {
		t.Errorf("detections after flush %v", rows)
	}
}

// A watcher that never catches up holds an archiver no longer than maxHold.
func TestArchiverWaitBounded(t *testing.T) {
	t.Parallel()
	p, st := newTestPipeline(t)
	p.goLive(DefaultSettleDelay, func() time.Time { return time.Time{} })
	p.arrive([]*event.Event{fileEv(150, 11, "/tmp/loot/a"), fileEv(160, 11, "/tmp/loot/b"),
		execEv(200, 12, 10, "/usr/bin/tar", "/tmp", "tar", "czf", "/tmp/loot.tgz", "loot")}, at(200))
	p.tick(at(200).Add(2*DefaultSettleDelay), false)
	if p.stats().pending != 1 {
		t.Fatal("archiver released before the watcher caught up")
	}
	p.tick(at(200).Add(maxHoldFactor*DefaultSettleDelay+time.Millisecond), false)
	if p.stats().pending != 0 || len(generate(t, st, schema.Detections)) != 1 {
		t.Fatal("archiver held past the longest hold")
	}
}

func TestProcTable(t *testing.T) {
	t.Parallel()
	pt := newProcTable(0, nil)
	pt.exec(execEv(0, 1, 0, "/sbin/init", "/"))
	pt.exec(execEv(10, 50, 1, "/usr/sbin/sshd", "/"))
	pt.exec(execEv(20, 60, 50, "/usr/bin/bash", "/root"))
	tar := execEv(30, 70, 60, "/usr/bin/tar", "/tmp", "tar", "cf", "x.tar", "x")
	pt.exec(tar)
	if want := []string{"/usr/bin/bash", "/usr/sbin/sshd", "/sbin/init"}; !slices.Equal(tar.Process.Ancestors, want) || tar.Process.Parent != want[0] {
		t.Fatalf("ancestry %q parent %q", tar.Process.Ancestors, tar.Process.Parent)
	}
	// pid 70 execs again: writes before the second exec belong to tar.
	pt.exec(execEv(40, 70, 60, "/usr/bin/gzip", "/tmp", "gzip"))
	for ms, want := range map[int]string{35: "/usr/bin/tar", 45: "/usr/bin/gzip"} {
		ev := fileEv(ms, 70, "/tmp/x")
		pt.enrich(ev)
		if ev.Process.Exe != want || ev.Actor.AUID != 1000 {
			t.Errorf("write at %dms: %q %+v", ms, ev.Process.Exe, ev.Actor)
		}
	}
	// A parent loop cannot hang the walk.
	pt.exec(execEv(50, 80, 81, "/bin/a", "/"))
	pt.exec(execEv(51, 81, 80, "/bin/b", "/"))
	loop := execEv(52, 82, 81, "/bin/c", "/")
	pt.exec(loop)
	if len(loop.Process.Ancestors) != 2 {
		t.Errorf("loop ancestry %q", loop.Process.Ancestors)
	}
	// Replaced images go after retainGone; gone processes once not alive.
	pt.sweep(at(40).Add(retainGone+time.Second), func(pid int64) bool { return pid == 1 })
	if img, ok := pt.at(70, time.Time{}); !ok || img.proc.Exe != "/usr/bin/gzip" {
		t.Errorf("pid 70 after sweep: %+v", img)
	}
	pt.sweep(at(40).Add(2*retainGone+2*time.Second), func(pid int64) bool { return pid == 1 })
	if pt.size() != 1 {
		t.Errorf("%d pids left, want only init", pt.size())
	}
	// The cap evicts the oldest.
	small := newProcTable(100, nil)
	for i := range 300 {
		small.exec(execEv(i, int64(1000+i), 1, "/bin/true", "/"))
	}
	if small.size() > 100 {
		t.Errorf("table holds %d, cap 100", small.size())
	}
	if _, ok := small.at(1299, time.Time{}); !ok {
		t.Error("newest evicted")
	}
}

// A file event's staging_path is the most specific configured directory it
// lies strictly below, as the correlator's matcher decides.
func TestStagingPathOfFileEvents(t *testing.T) {
	t.Parallel()
	roots, err := staging.NewRoots([]string{"/tmp/", "/tmp/deep/", "/home/*/Downloads/", "/mnt"}, staging.Posix)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/tmp/a":                "/tmp/",
		"/tmp/deep/x/y":         "/tmp/deep/",
		"/home/bob/Downloads/z": "/home/*/Downloads/",
		"/mnt/usb/f":            "/mnt",
		"/mnt":                  "",
		"/tmpfoo/a":             "",
		"/home/bob/Documents/a": "",
		"/var/log/syslog":       "",
		"/tmp":                  "",
	} {
		got, ok := roots.Within(p)
		if got != want || ok != (want != "") {
			t.Errorf("Within(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
}

func generate(t *testing.T, st *Tables, table string) []sdk.Row {
	t.Helper()
	var rows []sdk.Row
	if err := st.Generate(context.Background(), table, nil, func(b []sdk.Row) error {
		rows = append(rows, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Processes with no login session are actors by process subtree: each
// service (a child of init) and each job a launcher starts is one, and a
// fork that never exec'd belongs to its parent's.
func TestProcessSubtreeScopes(t *testing.T) {
	t.Parallel()
	noLogin := event.Actor{UID: 0, EUID: 0, AUID: event.Unknown}
	exec := func(ms int, pid, ppid int64, exe string) *event.Event {
		ev := execEv(ms, pid, ppid, exe, "/")
		ev.Actor = noLogin
		return ev
	}
	pt := newProcTable(0, nil)
	for _, ev := range []*event.Event{
		exec(0, 1, 0, "/sbin/init"),
		exec(1, 400, 1, "/usr/sbin/cron"),
		exec(2, 500, 1, "/usr/sbin/backupd"),
	} {
		pt.exec(ev)
	}
	jobA, jobB := exec(10, 410, 400, "/bin/sh"), exec(20, 420, 400, "/bin/sh")
	tarA, daemonChild := exec(11, 411, 410, "/usr/bin/tar"), exec(30, 510, 500, "/usr/bin/gzip")
	for _, ev := range []*event.Event{jobA, jobB, tarA, daemonChild} {
		pt.exec(ev)
	}
	if jobA.Actor.Scope != "410" || tarA.Actor.Scope != "410" || jobB.Actor.Scope != "420" || daemonChild.Actor.Scope != "500" {
		t.Errorf("scopes: job A %q, its tar %q, job B %q, the daemon's child %q", jobA.Actor.Scope, tarA.Actor.Scope, jobB.Actor.Scope, daemonChild.Actor.Scope)
	}
	// tar's forked child writes the archive without an exec of its own.
	fork := fileEv(12, 412, "/tmp/a.tgz")
	fork.Actor, fork.Process.PPID, fork.Process.Exe = noLogin, 411, "/usr/bin/tar"
	pt.enrich(fork)
	if fork.Actor.Scope != "410" {
		t.Errorf("fork of tar: scope %q, want its job's", fork.Actor.Scope)
	}
	// A shell the table never saw (started before collection) heads its
	// children's subtree; a login session is never scoped.
	cp := exec(40, 610, 600, "/usr/bin/cp")
	pt.exec(cp)
	login := execEv(41, 700, 600, "/usr/bin/tar", "/")
	pt.exec(login)
	if cp.Actor.Scope != "600" || login.Actor.Scope != "" {
		t.Errorf("under an unknown shell: %q; a login session: %q", cp.Actor.Scope, login.Actor.Scope)
	}
}

// tar -T list: the names in the list are read when the archiver runs and
// kept with its exec; a list that is not a regular file is not read.
func TestReadLists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	list := filepath.Join(dir, "files.txt")
	if err := os.WriteFile(list, []byte("/tmp/a.docx\r\nb.xlsx\n\n  \nsub/c.pdf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := execEv(0, 10, 1, "/usr/bin/tar", dir, "tar", "czf", "/tmp/x.tgz", "-C", "/tmp", "-T", "files.txt")
	readLists(ev, staging.Posix)
	if want := []string{"/tmp/a.docx", "b.xlsx", "sub/c.pdf"}; !slices.Equal(ev.Process.Listed, want) {
		t.Errorf("listed %q, want %q", ev.Process.Listed, want)
	}
	fifo := execEv(0, 11, 1, "/usr/bin/tar", dir, "tar", "cf", "/tmp/y.tar", "-T", "/dev/stdin")
	readLists(fifo, staging.Posix)
	if len(fifo.Process.Listed) != 0 {
		t.Errorf("read a list from a device: %q", fifo.Process.Listed)
	}
}

// TestProcessGUIDs: where the platform names processes by GUID (Windows),
// a reused pid never lends one process's image to another's events, and a
// parent chain follows the GUIDs.
func TestProcessGUIDs(t *testing.T) {
	t.Parallel()
	pt := newProcTable(0, nil)
	exec := func(ms int, pid, ppid int64, guid, parentGUID, exe string) *event.Event {
		ev := execEv(ms, pid, ppid, exe, `C:\`)
		ev.Process.GUID, ev.Process.ParentGUID = guid, parentGUID
		return ev
	}
	explorer := exec(0, 100, 4, "g-explorer", "", `C:\Windows\explorer.exe`)
	cmd := exec(10, 200, 100, "g-cmd", "g-explorer", `C:\Windows\System32\cmd.exe`)
	// pid 100 is reused by another program while cmd still runs.
	reuse := exec(20, 100, 4, "g-updater", "", `C:\Program Files\Upd\upd.exe`)
	sevenZip := exec(30, 300, 200, "g-7z", "g-cmd", `C:\Program Files\7-Zip\7z.exe`)
	for _, ev := range []*event.Event{explorer, cmd, reuse, sevenZip} {
		pt.exec(ev)
	}
	if want := []string{`C:\Windows\System32\cmd.exe`, `C:\Windows\explorer.exe`}; !slices.Equal(sevenZip.Process.Ancestors, want) {
		t.Errorf("7z's ancestors %q, want %q", sevenZip.Process.Ancestors, want)
	}
	// Explorer's own late event, after its pid was reused: its GUID says
	// it is explorer, not the updater.
	late := fileEv(40, 100, `C:\Users\Public\s\a.docx`)
	late.Process.GUID, late.Process.Exe = "g-explorer", `C:\Windows\explorer.exe`
	pt.enrich(late)
	if late.Process.Exe != `C:\Windows\explorer.exe` {
		t.Errorf("explorer's event after pid reuse enriched as %s", late.Process.Exe)
	}
	// A process the table never saw, on a pid it knows by other GUIDs, is
	// not given their image.
	unseen := fileEv(50, 100, `C:\Users\Public\s\b.docx`)
	unseen.Process.GUID, unseen.Process.Exe = "g-other", `C:\Tools\x.exe`
	pt.enrich(unseen)
	if unseen.Process.Exe != `C:\Tools\x.exe` {
		t.Errorf("an unseen process's event enriched as %s", unseen.Process.Exe)
	}
}
