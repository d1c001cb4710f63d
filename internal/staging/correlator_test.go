package staging

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var (
	// The collectors set Interactive and Elevated, as each platform's
	// sensor tells them; the correlator only reads them.
	alice     = event.Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "alice", Session: "3", TTY: "pts/0", Interactive: true}
	aliceRoot = event.Actor{UID: 0, EUID: 0, AUID: 1000, User: "root", Session: "3", TTY: "pts/0", Interactive: true, Elevated: true}
	aliceCron = event.Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "alice", Session: "9"}
	bob       = event.Actor{UID: 1001, EUID: 1001, AUID: 1001, User: "bob", Session: "4", TTY: "pts/1", Interactive: true}
	daemon    = event.Actor{UID: 0, EUID: 0, AUID: event.Unknown, User: "root"}
	winBob    = event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown, User: `CORP\bob`, Session: "0x3e7a1", Interactive: true}
	macCarol  = event.Actor{UID: 501, EUID: 501, AUID: 501, User: "carol", Session: "100016", TTY: "ttys001", Interactive: true}
)

// ev builders: times are offsets from t0.
func fileEv(at time.Duration, kind event.Kind, path string, size, pid int64, exe string, actor event.Actor, ancestors ...string) *event.Event {
	return &event.Event{Time: t0.Add(at), Kind: kind, Path: path, Size: size, Actor: actor, Source: "fanotify",
		Process: event.Process{PID: pid, PPID: 1, Exe: exe, Ancestors: ancestors}}
}

func execEv(at time.Duration, pid, ppid int64, cwd string, actor event.Actor, ancestors []string, argv ...string) *event.Event {
	exe := argv[0]
	return &event.Event{Time: t0.Add(at), Kind: event.KindExec, Actor: actor, Source: "audit",
		Process: event.Process{PID: pid, PPID: ppid, Exe: exe, Argv: argv, Cwd: cwd, Ancestors: ancestors}}
}

func copyInto(start time.Duration, pid int64, exe string, actor event.Actor, paths ...string) []*event.Event {
	var out []*event.Event
	for i, p := range paths {
		at := start + time.Duration(i)*time.Second
		out = append(out, fileEv(at, event.KindFileCreate, p, 0, pid, exe, actor, "/usr/bin/bash"),
			fileEv(at+100*time.Millisecond, event.KindFileWrite, p, int64(200_000*(i+1)), pid, exe, actor, "/usr/bin/bash"))
	}
	return out
}

// scriptWrite is a process (not seen exec'ing as an archiver) writing an
// archive, with its cwd and command line as the process table gives them.
func scriptWrite(at time.Duration, pid int64, cwd, archive string, argv ...string) *event.Event {
	return &event.Event{Time: t0.Add(at), Kind: event.KindFileWrite, Path: archive, Size: 50_000, Actor: alice, Source: "fanotify",
		Process: event.Process{PID: pid, PPID: 100, Exe: argv[0], Argv: argv, Cwd: cwd}}
}

func seq(parts ...[]*event.Event) []*event.Event {
	var out []*event.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e *event.Event) []*event.Event { return []*event.Event{e} }

var lootFiles = []string{"/tmp/loot/q3-report.docx", "/tmp/loot/salaries.xlsx", "/tmp/loot/board.pdf", "/tmp/loot/sub/id_rsa", "/tmp/loot/notes.txt"}

// run feeds events and returns every detection emitted, and the latest
// version of each by UID in first-emitted order.
func run(t *testing.T, cfg Config, events []*event.Event) (*Correlator, []event.Detection, []event.Detection) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var all []event.Detection
	latest := map[string]int{}
	var uniq []event.Detection
	take := func(d event.Detection) {
		all = append(all, d)
		if i, ok := latest[d.UID]; ok {
			uniq[i] = d
		} else {
			latest[d.UID] = len(uniq)
			uniq = append(uniq, d)
		}
	}
	for _, e := range events {
		for _, d := range c.Observe(e) {
			take(d)
		}
	}
	// As the endpoint layer does when events stop arriving.
	for _, d := range c.Settle(true, time.Time{}) {
		take(d)
	}
	return c, all, uniq
}

var linuxCfg = Config{AnalyticID: "AN0041", Platform: "linux", Host: "web-1"}

func TestScenarios(t *testing.T) {
	t.Parallel()
	winCfg := Config{AnalyticID: "AN0040", Platform: "windows", Host: "WS-7"}
	macCfg := Config{AnalyticID: "AN0042", Platform: "darwin", Host: "mbp"}
	tests := []struct {
		name     string
		cfg      Config
		events   []*event.Event
		want     int // distinct detections
		staging  string
		archive  string
		files    int64
		reason   []string
		minScore int
		process  string // the detection's process column, when checked
		updates  int    // detections re-emitted with more (an archive learned late)
	}{
		{
			name: "tar czf of a staged dir",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles...),
				one(execEv(2*time.Minute, 300, 100, "/home/alice", alice, []string{"/usr/bin/bash"}, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "-C", "/tmp", "loot")),
				one(fileEv(2*time.Minute+time.Second, event.KindFileCreate, "/tmp/loot.tgz", 0, 300, "/usr/bin/tar", alice)),
				one(fileEv(2*time.Minute+2*time.Second, event.KindFileWrite, "/tmp/loot.tgz", 900_000, 300, "/usr/bin/tar", alice))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tgz", files: 5,
			reason:   []string{"alice (pts/0) copied 5 files (3 documents, 1 key or secret, 2.9 MB) into /tmp/loot", "archived them with tar into /tmp/loot.tgz within 2m"},
			minScore: 70,
		},
		{
			name: "rsync's temporary names renamed into place count once per file",
			cfg:  linuxCfg,
			events: seq(
				one(fileEv(0, event.KindFileCreate, "/mnt/share/loot/.a.docx.Xq1", 0, 220, "/usr/bin/rsync", alice)),
				one(fileEv(time.Second, event.KindFileWrite, "/mnt/share/loot/.a.docx.Xq1", 5000, 220, "/usr/bin/rsync", alice)),
				one(&event.Event{Time: t0.Add(2 * time.Second), Kind: event.KindFileMoveIn, Path: "/mnt/share/loot/a.docx", SourcePath: "/mnt/share/loot/.a.docx.Xq1",
					Size: 5000, Actor: alice, Process: event.Process{PID: 220, Exe: "/usr/bin/rsync"}}),
				one(fileEv(3*time.Second, event.KindFileCreate, "/mnt/share/loot/.b.pdf.Zr2", 0, 220, "/usr/bin/rsync", alice)),
				one(&event.Event{Time: t0.Add(4 * time.Second), Kind: event.KindFileMoveIn, Path: "/mnt/share/loot/b.pdf", SourcePath: "/mnt/share/loot/.b.pdf.Zr2",
					Size: 7000, Actor: alice, Process: event.Process{PID: 220, Exe: "/usr/bin/rsync"}}),
				one(execEv(time.Minute, 320, 100, "/mnt/share", alice, []string{"/usr/bin/bash"}, "/usr/bin/zip", "-qr", "/tmp/l.zip", "loot"))),
			want: 1, staging: "/mnt/share", archive: "/tmp/l.zip", files: 2,
		},
		{
			name: "a listed build tool far up the session does not hide staging",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 210, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 310, 100, "/tmp", alice, []string{"/usr/bin/bash", "/usr/bin/sshd", "/usr/bin/make"}, "/usr/bin/tar", "cf", "/tmp/l.tar", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/l.tar", files: 3,
		},
		{
			name: "archiver started by a package manager through a shell stays quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 211, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 311, 100, "/tmp", alice, []string{"/usr/bin/dash", "/usr/bin/dpkg"}, "/usr/bin/tar", "cf", "/tmp/l.tar", "loot"))),
			want: 0,
		},
		{
			name: "zip -r from inside the staging root, by root via sudo",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 201, "/usr/bin/cp", aliceRoot, "/tmp/loot/a.docx", "/tmp/loot/b.docx", "/tmp/loot/c.csv"),
				one(execEv(5*time.Minute, 301, 100, "/tmp", aliceRoot, []string{"/usr/bin/sudo", "/usr/bin/bash"}, "/usr/bin/zip", "-r", "-q", "l.zip", "loot")),
				one(fileEv(5*time.Minute+time.Second, event.KindFileWrite, "/tmp/l.zip", 400_000, 301, "/usr/bin/zip", aliceRoot))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/l.zip", files: 3,
			reason: []string{"root (auid 1000, pts/0) copied 3 files", "with zip into /tmp/l.zip within 5m"},
		},
		{
			name: "staged by alice, archived by her root shell (same login uid)",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 202, "/usr/bin/cp", alice, "/var/tmp/x/a.pem", "/var/tmp/x/b.key"),
				one(execEv(time.Minute, 302, 100, "/var/tmp", aliceRoot, nil, "/usr/bin/7z", "a", "-pS3cret", "-mhe=on", "x.7z", "x"))),
			want: 1, staging: "/var/tmp/x", archive: "/var/tmp/x.7z", files: 2,
			reason: []string{"with 7z into /var/tmp/x.7z with a password"}, minScore: 70,
		},
		{
			name: "gzip of each staged file in /dev/shm",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 203, "/usr/bin/cp", alice, "/dev/shm/s/one.db", "/dev/shm/s/two.sql"),
				one(execEv(time.Minute, 303, 100, "/dev/shm/s", alice, nil, "/usr/bin/gzip", "-9", "one.db", "two.sql"))),
			want: 1, staging: "/dev/shm/s", archive: "/dev/shm/s/one.db.gz", files: 2,
		},
		{
			// The script gathered the files itself, then zipped them.
			name: "archive written by a python script (zipfile)",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 204, "/usr/bin/python3.12", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx", "/tmp/loot/c.pdf"),
				one(fileEv(30*time.Second, event.KindFileCreate, "/tmp/loot.zip", 0, 204, "/usr/bin/python3.12", alice)),
				one(fileEv(31*time.Second, event.KindFileWrite, "/tmp/loot.zip", 500_000, 204, "/usr/bin/python3.12", alice))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.zip", files: 3,
			reason: []string{"alice (pts/0) created 3 files", "archived them with python3.12 into /tmp/loot.zip"},
		},
		{
			name: "a python script naming the staged dir zips it",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(scriptWrite(time.Minute, 206, "/home/alice", "/tmp/loot.zip", "/usr/bin/python3", "pack.py", "/tmp/loot", "/tmp/loot.zip"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.zip", files: 2,
			reason: []string{"archived them with pack.py (python3) into /tmp/loot.zip"},
		},
		{
			// It never ran in /tmp/loot nor named it: it could not have
			// read those files.
			name: "a program writing an archive beside staged files it never touched is quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(scriptWrite(time.Minute, 207, "/home/alice/src", "/tmp/loot.zip", "/usr/bin/python3", "build.py", "--out", "/tmp/loot.zip"))),
			want: 0,
		},
		{
			name: "archive written inside the staged dir by a script",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 205, "/usr/bin/cp", alice, "/mnt/usb/docs/a.docx", "/mnt/usb/docs/b.docx"),
				one(scriptWrite(time.Minute, 405, "/mnt/usb/docs", "/mnt/usb/docs/out.tar.gz", "/usr/bin/perl", "pack.pl"))),
			want: 1, staging: "/mnt/usb", archive: "/mnt/usb/docs/out.tar.gz", files: 2,
		},
		{
			name: "tar czf with its gzip child and both writing the archive",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "loot.tgz", "loot")),
				// the same exec seen by a second sensor a little later
				one(execEv(time.Minute+300*time.Millisecond, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "loot.tgz", "loot")),
				one(execEv(time.Minute+time.Millisecond, 301, 300, "/tmp", alice, nil, "/usr/bin/gzip")),
				one(fileEv(time.Minute+time.Second, event.KindFileWrite, "/tmp/loot.tgz", 1000, 301, "/usr/bin/gzip", alice)),
				one(fileEv(time.Minute+time.Second, event.KindFileCreate, "/tmp/loot.tgz", 0, 300, "/usr/bin/tar", alice))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tgz", files: 3,
		},
		{
			name: "a reused pid is not the old archiver",
			cfg:  linuxCfg,
			events: seq(
				one(execEv(0, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "xf", "/home/alice/a.tar")),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/cp", "-r", "/home/alice/docs", "/tmp/loot")),
				copyInto(time.Minute, 300, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(2*time.Minute, 302, 100, "/tmp", alice, nil, "/usr/bin/zip", "-qr", "l.zip", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/l.zip", files: 2,
		},
		{
			name: "extraction is quiet",
			cfg:  linuxCfg,
			events: seq(
				one(execEv(0, 310, 100, "/tmp", alice, nil, "/usr/bin/tar", "xzf", "/home/alice/src.tgz", "-C", "/tmp/src")),
				copyInto(time.Second, 310, "/usr/bin/tar", alice, "/tmp/src/a.c", "/tmp/src/b.c", "/tmp/src/inner.zip"),
				one(execEv(time.Minute, 311, 100, "/tmp", alice, nil, "/usr/bin/tar", "-xvf", "/home/alice/b.tar")),
				copyInto(61*time.Second, 311, "/usr/bin/tar", alice, "/tmp/b/x.docx", "/tmp/b/y.docx"),
				one(execEv(2*time.Minute, 312, 100, "/tmp", alice, nil, "/usr/bin/unzip", "-o", "/home/alice/c.zip", "-d", "/tmp/c")),
				copyInto(121*time.Second, 312, "/usr/bin/unzip", alice, "/tmp/c/x.docx", "/tmp/c/y.docx", "/tmp/c/z.tar.gz"),
				one(execEv(3*time.Minute, 313, 100, "/tmp/c", alice, nil, "/usr/bin/gzip", "-d", "z.tar.gz")),
				one(execEv(3*time.Minute, 314, 100, "/tmp/c", alice, nil, "/usr/bin/gunzip", "z.tar.gz")),
				one(execEv(3*time.Minute, 315, 100, "/tmp/c", alice, nil, "/usr/bin/xz", "--decompress", "y.xz")),
				one(execEv(3*time.Minute, 316, 100, "/tmp/c", alice, nil, "/usr/bin/7z", "x", "y.7z")),
				one(execEv(3*time.Minute, 317, 100, "/tmp/c", alice, nil, "/usr/bin/unzstd", "y.zst"))),
			want: 0,
		},
		{
			name: "package manager unpacking into /var/tmp is quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 320, "/usr/bin/dpkg-deb", daemon, "/var/tmp/pkg/a.so", "/var/tmp/pkg/b.so", "/var/tmp/pkg/c.conf"),
				one(execEv(time.Minute, 321, 320, "/var/tmp", daemon, []string{"/usr/bin/dpkg", "/usr/bin/apt-get"}, "/usr/bin/tar", "czf", "/var/tmp/pkg.tgz", "pkg"))),
			want: 0,
		},
		{
			name: "compiler temp files with no archive are quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 330, "/usr/lib/gcc/x86_64-linux-gnu/13/cc1", alice, "/tmp/ccA1b2.s", "/tmp/ccA1b2.o"),
				copyInto(0, 331, "/usr/local/go/pkg/tool/linux_amd64/compile", alice, "/tmp/go-build1234/b001/_pkg_.a", "/tmp/go-build1234/b001/importcfg")),
			want: 0,
		},
		{
			name: "logrotate compressing /var/log is quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 340, "/usr/sbin/logrotate", daemon, "/var/log/syslog.1", "/var/log/auth.log.1"),
				one(execEv(time.Second, 341, 340, "/", daemon, []string{"/usr/sbin/logrotate", "/usr/sbin/cron"}, "/bin/gzip", "-9", "/var/log/syslog.1"))),
			want: 0,
		},
		{
			name: "actor mismatch is quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 350, "/usr/bin/cp", bob, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 351, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 0,
		},
		{
			name: "a single staged file is below MinimumFileCount",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 352, "/usr/bin/cp", alice, "/tmp/loot/a.docx"),
				one(execEv(time.Minute, 353, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 0,
		},
		{
			name: "archiving something else than the staged dir is quiet",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 354, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 355, 100, "/home/alice", alice, nil, "/usr/bin/tar", "czf", "/tmp/home.tgz", "projects"))),
			want: 0,
		},
		{
			name:   "downloads next to a downloaded tarball are quiet",
			cfg:    linuxCfg,
			events: seq(copyInto(0, 356, "/usr/bin/curl", alice, "/tmp/a.pdf", "/tmp/b.pdf", "/tmp/go1.26.tar.gz")),
			want:   0,
		},
		{
			name: "staging older than TimeWindow is forgotten",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 360, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(32*time.Minute, 361, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 0,
		},
		{
			name: "staging 25 minutes before the archive is within the default window",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 362, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(25*time.Minute, 363, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tar", files: 2, reason: []string{"within 25m"},
		},
		{
			name: "UserContext interactive: a cron job is quiet",
			cfg:  Config{AnalyticID: "AN0041", Platform: "linux", UserContext: []string{"interactive"}},
			events: seq(copyInto(0, 364, "/usr/bin/cp", aliceCron, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 365, 100, "/tmp", aliceCron, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 0,
		},
		{
			name: "UserContext interactive: a terminal session fires",
			cfg:  Config{AnalyticID: "AN0041", Platform: "linux", UserContext: []string{"interactive"}},
			events: seq(copyInto(0, 366, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 367, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 1, staging: "/tmp/loot", files: 2,
		},
		{
			name: "files directly in /tmp archived by name",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 368, "/usr/bin/cp", alice, "/tmp/a.docx", "/tmp/b.docx", "/tmp/unrelated.log"),
				one(execEv(time.Minute, 369, 100, "/tmp", alice, nil, "/usr/bin/zip", "/tmp/out.zip", "a.docx", "b.docx"))),
			want: 1, staging: "/tmp", archive: "/tmp/out.zip", files: 2,
		},
		{
			name: "Windows 7z.exe over a user temp dir",
			cfg:  winCfg,
			events: seq(copyInto(0, 4100, `C:\Windows\System32\xcopy.exe`, winBob,
				`C:\Users\Bob\AppData\Local\Temp\x\Q3 plan.docx`, `C:\Users\Bob\AppData\Local\Temp\x\ledger.xlsx`, `C:\Users\Bob\AppData\Local\Temp\x\mail\box.pst`),
				one(execEv(3*time.Minute, 4200, 4000, `C:\Users\bob`, winBob, []string{`C:\Windows\explorer.exe`},
					`C:\Program Files\7-Zip\7z.exe`, "a", "-pHunter2", `C:\Users\bob\AppData\Local\Temp\x.7z`, `C:\Users\bob\AppData\Local\Temp\x\*`)),
				one(fileEv(3*time.Minute+time.Second, event.KindFileWrite, `C:\Users\bob\AppData\Local\Temp\x.7z`, 1_000_000, 4200, `C:\Program Files\7-Zip\7z.exe`, winBob))),
			want: 1, staging: `C:\Users\Bob\AppData\Local\Temp\x`, archive: `C:\Users\bob\AppData\Local\Temp\x.7z`, files: 3,
			reason: []string{`CORP\bob copied 3 files (2 documents, 1 mail store`, "with 7z", "with a password"}, minScore: 70,
			// As Windows writes it: no doubled backslashes.
			process: `"C:\Program Files\7-Zip\7z.exe" a -pHunter2 C:\Users\bob\AppData\Local\Temp\x.7z C:\Users\bob\AppData\Local\Temp\x\*`,
		},
		{
			name: "Windows Compress-Archive in PowerShell",
			cfg:  winCfg,
			events: seq(copyInto(0, 4101, `C:\Windows\System32\robocopy.exe`, winBob, `C:\Users\Public\stage\a.pdf`, `C:\Users\Public\stage\b.pdf`),
				one(execEv(time.Minute, 4201, 4000, `C:\Users\bob`, winBob, nil,
					`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "-NoProfile", "-Command",
					`Compress-Archive -Path C:\Users\Public\stage -DestinationPath C:\Users\Public\s.zip -Force`))),
			want: 1, staging: `C:\Users\Public\stage`, archive: `C:\Users\Public\s.zip`, files: 2, reason: []string{"with compress-archive"},
		},
		{
			name: "Windows msiexec temp files are quiet",
			cfg:  winCfg,
			events: seq(copyInto(0, 4102, `C:\Windows\System32\msiexec.exe`, winBob, `C:\Windows\Temp\inst\a.dll`, `C:\Windows\Temp\inst\b.dll`),
				one(execEv(time.Minute, 4202, 4102, `C:\Windows\Temp`, winBob, []string{`C:\Windows\System32\msiexec.exe`}, `C:\Windows\System32\makecab.exe`, `inst\a.dll`, `inst.cab`))),
			want: 0,
		},
		{
			name: "macOS ditto -c -k over /Users/Shared",
			cfg:  macCfg,
			events: seq(copyInto(0, 5100, "/bin/cp", macCarol, "/Users/Shared/.x/Keychain.keychain-db", "/Users/Shared/.x/notes.pages"),
				one(execEv(2*time.Minute, 5200, 5000, "/Users/carol", macCarol, []string{"/bin/zsh"},
					"/usr/bin/ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", "/Users/Shared/.x", "/Users/Shared/x.zip"))),
			want: 1, staging: "/Users/Shared/.x", archive: "/Users/Shared/x.zip", files: 2, reason: []string{"with ditto"},
		},
		{
			name: "macOS per-user temp dir and zip",
			cfg:  macCfg,
			events: seq(copyInto(0, 5101, "/bin/cp", macCarol, "/private/var/folders/zz/abc123/T/st/a.docx", "/private/var/folders/zz/abc123/T/st/b.docx"),
				one(execEv(time.Minute, 5201, 5000, "/private/var/folders/zz/abc123/T", macCarol, nil, "/usr/bin/zip", "-r", "st.zip", "st"))),
			want: 1, staging: "/private/var/folders/zz/abc123/T/st", files: 2,
		},
		{
			// A copy of bash named make, put in /tmp, is not make.
			name: "an allowed name in a staging directory is not the allowed tool",
			cfg:  linuxCfg,
			events: seq(
				one(fileEv(0, event.KindFileCreate, "/tmp/loot/a.docx", 10, 390, "/usr/bin/cp", alice, "/tmp/make")),
				one(fileEv(time.Second, event.KindFileCreate, "/tmp/loot/b.docx", 10, 390, "/usr/bin/cp", alice, "/tmp/make")),
				one(execEv(time.Minute, 391, 389, "/tmp", alice, []string{"/tmp/make"}, "/usr/bin/tar", "czf", "loot.tgz", "loot"))),
			want: 1, staging: "/tmp/loot", files: 2,
		},
		{
			name: "the allowed tool where it lives is quiet",
			cfg:  linuxCfg,
			events: seq(
				one(fileEv(0, event.KindFileCreate, "/tmp/build/a.o", 10, 392, "/usr/bin/cp", alice, "/usr/bin/make")),
				one(fileEv(time.Second, event.KindFileCreate, "/tmp/build/b.o", 10, 392, "/usr/bin/cp", alice, "/usr/bin/make")),
				one(execEv(time.Minute, 393, 389, "/tmp", alice, []string{"/usr/bin/make"}, "/usr/bin/tar", "czf", "build.tgz", "build"))),
			want: 0,
		},
		{
			name: "an absolute path allows exactly that program",
			cfg:  Config{AnalyticID: "AN0041", Platform: "linux", AllowedParents: []string{"/opt/backup/bin/*"}},
			events: seq(
				one(fileEv(0, event.KindFileCreate, "/var/tmp/bk/a.sql", 10, 394, "/usr/bin/cp", daemon, "/opt/backup/bin/nightly")),
				one(fileEv(time.Second, event.KindFileCreate, "/var/tmp/bk/b.sql", 10, 394, "/usr/bin/cp", daemon, "/opt/backup/bin/nightly")),
				one(execEv(time.Minute, 395, 394, "/var/tmp", daemon, []string{"/opt/backup/bin/nightly"}, "/usr/bin/tar", "czf", "bk.tgz", "bk"))),
			want: 0,
		},
		{
			// /tmp/pip-* is pip's scratch space, not everyone's.
			name: "an allowed path is allowed only for the tool it is for",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 396, "/usr/bin/cp", alice, "/tmp/pip-x/a.docx", "/tmp/pip-x/b.docx"),
				one(execEv(time.Minute, 397, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "x.tgz", "pip-x"))),
			want: 1, staging: "/tmp/pip-x", files: 2,
		},
		{
			name: "pip's own scratch files are quiet",
			cfg:  linuxCfg,
			events: seq(
				[]*event.Event{{Time: t0, Kind: event.KindFileCreate, Path: "/tmp/pip-build-1/a.py", Actor: alice, Source: "fanotify",
					Process: event.Process{PID: 398, Exe: "/usr/bin/python3.11", Argv: []string{"python3", "/usr/bin/pip", "install", "."}, Cwd: "/home/alice"}},
					{Time: t0.Add(time.Second), Kind: event.KindFileCreate, Path: "/tmp/pip-build-1/b.py", Actor: alice, Source: "fanotify",
						Process: event.Process{PID: 398, Exe: "/usr/bin/python3.11", Argv: []string{"python3", "/usr/bin/pip", "install", "."}, Cwd: "/home/alice"}}},
				one(execEv(time.Minute, 399, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "p.tgz", "pip-build-1"))),
			want: 0,
		},
		{
			// gzip filtering its stdin reads what cat feeds it in the same
			// pipeline, and learns its archive from its own write.
			name: "cat a b c | gzip > x.gz links through the pipeline",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 410, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx", "/tmp/loot/c.pdf"),
				one(execEv(time.Minute, 412, 400, "/tmp/loot", alice, nil, "/usr/bin/gzip")),
				one(execEv(time.Minute+time.Millisecond, 411, 400, "/tmp/loot", alice, nil, "/usr/bin/cat", "a.docx", "b.docx", "c.pdf")),
				one(fileEv(time.Minute+2*time.Millisecond, event.KindFileWrite, "/tmp/x.gz", 5000, 412, "/usr/bin/gzip", alice))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/x.gz", files: 3, reason: []string{"with gzip"}, updates: 1,
		},
		{
			name: "a pipeline's reader that starts first is remembered",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 413, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 414, 401, "/tmp/loot", alice, nil, "/usr/bin/cat", "a.docx", "b.docx")),
				one(execEv(time.Minute+time.Millisecond, 415, 401, "/tmp/loot", alice, nil, "/usr/bin/xz", "-9"))),
			want: 1, staging: "/tmp/loot", files: 2,
		},
		{
			name: "gzip fed by another shell's cat is not linked",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 416, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 417, 402, "/tmp/loot", alice, nil, "/usr/bin/cat", "a.docx", "b.docx")),
				one(execEv(time.Minute+time.Millisecond, 418, 403, "/tmp/loot", alice, nil, "/usr/bin/gzip"))),
			want: 0,
		},
		{
			// A script or a renamed archiver writing a .dat: the file
			// watcher read gzip's magic in its first bytes.
			name: "an archive recognised by its content",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 420, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				[]*event.Event{{Time: t0.Add(time.Minute), Kind: event.KindFileWrite, Path: "/tmp/loot.dat", Size: 900, Actor: alice,
					Source: "fanotify", ArchiveFormat: "gzip", Process: event.Process{PID: 421, PPID: 1, Exe: "/tmp/.x/helper",
						Argv: []string{"/tmp/.x/helper", "-c", "/tmp/loot"}, Cwd: "/home/alice"}}}),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.dat", files: 2,
		},
		{
			name: "a document whose zip magic says what it is, is not an archive",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 422, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				[]*event.Event{{Time: t0.Add(time.Minute), Kind: event.KindFileWrite, Path: "/tmp/loot.docx", Size: 900, Actor: alice,
					Source: "fanotify", ArchiveFormat: "zip", Process: event.Process{PID: 423, PPID: 1, Exe: "/usr/bin/libreoffice"}}}),
			want: 0,
		},
		{
			// The collector says what elevated means on its platform; the
			// model does not guess it from uids.
			name: "uid 0 is not elevated unless the collector says so",
			cfg:  Config{AnalyticID: "AN0041", Platform: "linux", UserContext: []string{"elevated"}},
			events: seq(copyInto(0, 380, "/usr/bin/cp", event.Actor{UID: 0, EUID: 0, AUID: 1000, TTY: "pts/0"}, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 381, 100, "/tmp", event.Actor{UID: 0, EUID: 0, AUID: 1000, TTY: "pts/0"}, nil, "/usr/bin/tar", "cf", "loot.tar", "loot"))),
			want: 0,
		},
		{
			name: "a Windows interactive logon passes the interactive gate without a tty",
			cfg:  Config{AnalyticID: "AN0040", Platform: "windows", Host: "WS-7", UserContext: []string{"interactive"}},
			events: seq(copyInto(0, 4104, `C:\Windows\explorer.exe`, winBob, `C:\Users\Public\st\a.docx`, `C:\Users\Public\st\b.xlsx`),
				one(execEv(time.Minute, 4204, 4000, `C:\Users\bob`, winBob, nil, `C:\Program Files\7-Zip\7z.exe`, "a", `C:\Users\Public\st.7z`, `C:\Users\Public\st`))),
			want: 1, staging: `C:\Users\Public\st`, files: 2,
			reason: []string{`CORP\bob copied 2 files`},
		},
		{
			// macOS's default file system ignores case: /users/shared/STAGE
			// is the directory the files went into.
			name: "macOS paths compare case-insensitively",
			cfg:  macCfg,
			events: seq(copyInto(0, 5102, "/bin/cp", macCarol, "/Users/Shared/Stage/Q3 Plan.docx", "/Users/Shared/Stage/ledger.numbers"),
				one(execEv(time.Minute, 5202, 5000, "/Users/carol", macCarol, nil, "/usr/bin/zip", "-r", "/users/shared/stage.zip", "/users/shared/STAGE"))),
			want: 1, staging: "/Users/Shared/Stage", archive: "/users/shared/stage.zip", files: 2,
			process: "/usr/bin/zip -r /users/shared/stage.zip /users/shared/STAGE",
		},
		{
			name: "the same spelled on Linux names another directory",
			cfg:  Config{AnalyticID: "AN0041", Platform: "linux", StagingDirectories: []string{"/Users/Shared/"}},
			events: seq(copyInto(0, 5103, "/bin/cp", macCarol, "/Users/Shared/Stage/Q3 Plan.docx", "/Users/Shared/Stage/ledger.numbers"),
				one(execEv(time.Minute, 5203, 5000, "/Users/carol", macCarol, nil, "/usr/bin/zip", "-r", "/users/shared/stage.zip", "/users/shared/STAGE"))),
			want: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, all, dets := run(t, tc.cfg, tc.events)
			if len(dets) != tc.want || len(all) != tc.want+tc.updates {
				for _, d := range dets {
					t.Logf("detection: %s", d.Reason)
				}
				t.Fatalf("got %d detections, want %d", len(dets), tc.want)
			}
			if tc.want == 0 {
				return
			}
			d := dets[0]
			if d.StagingPath != tc.staging {
				t.Errorf("staging path %q, want %q", d.StagingPath, tc.staging)
			}
			if tc.archive != "" && d.ArchivePath != tc.archive {
				t.Errorf("archive path %q, want %q", d.ArchivePath, tc.archive)
			}
			if d.FileCount != tc.files {
				t.Errorf("file count %d, want %d", d.FileCount, tc.files)
			}
			for _, r := range tc.reason {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
			if tc.process != "" && d.Process != tc.process {
				t.Errorf("process %s, want %s", d.Process, tc.process)
			}
			if d.Score < tc.minScore {
				t.Errorf("score %d below %d (%s)", d.Score, tc.minScore, d.Reason)
			}
			checkDetection(t, tc.cfg, d)
		})
	}
}

var uidPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkDetection(t *testing.T, cfg Config, d event.Detection) {
	t.Helper()
	technique := "T1074.001"
	if strings.HasPrefix(d.StagingPath, `\\`) {
		technique = "T1074.002"
	}
	if d.DetectionID != "DET0014" || d.TechniqueID != technique || d.AnalyticID != cfg.AnalyticID || d.Host != cfg.Host || d.Platform != cfg.Platform {
		t.Errorf("identity columns wrong: %+v", d)
	}
	if !uidPattern.MatchString(d.UID) {
		t.Errorf("uid %q is not 32 hex digits", d.UID)
	}
	if d.Score < 0 || d.Score > 100 || d.Severity != severity(d.Score) {
		t.Errorf("score %d severity %q", d.Score, d.Severity)
	}
	if d.FirstSeen.After(d.LastSeen) || d.Time.Before(d.FirstSeen) {
		t.Errorf("times out of order: first %v time %v last %v", d.FirstSeen, d.Time, d.LastSeen)
	}
	if len(d.Evidence) < 1 || len(d.Evidence) > DefaultMaxEvidence || len(d.Evidence) < 2 && d.FileCount > 0 && !strings.Contains(d.Reason, "batch") && !strings.Contains(d.Evidence[0].Note, "copy") {
		t.Fatalf("evidence length %d", len(d.Evidence))
	}
	for i := 1; i < len(d.Evidence); i++ {
		if d.Evidence[i].Time.Before(d.Evidence[i-1].Time) {
			t.Errorf("evidence out of order at %d", i)
		}
	}
	last := d.Evidence[len(d.Evidence)-1]
	if !strings.Contains(last.Note, "archive step") && !strings.Contains(last.Note, "encryption") && !strings.Contains(last.Note, "copy (") && !strings.Contains(last.Note, "copy step") {
		t.Errorf("last evidence is not the archive step: %+v", last)
	}
	if d.Reason == "" || strings.Contains(d.Reason, "\n") {
		t.Errorf("reason %q", d.Reason)
	}
}

func TestEncryptionReemitsSameUID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		encrypt *event.Event
	}{
		{"gpg -c", execEv(3*time.Minute, 401, 100, "/tmp", alice, nil, "/usr/bin/gpg", "--batch", "-c", "loot.tgz")},
		{"gpg --symmetric -o", execEv(3*time.Minute, 401, 100, "/home/alice", alice, nil, "/usr/bin/gpg", "--symmetric", "-o", "/tmp/l.gpg", "/tmp/loot.tgz")},
		{"openssl enc", execEv(3*time.Minute, 401, 100, "/tmp", alice, nil, "/usr/bin/openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-in", "loot.tgz", "-out", "loot.tgz.enc")},
		{"pipeline tar | gpg", execEv(2*time.Minute, 401, 100, "/tmp", alice, nil, "/usr/bin/gpg", "-c")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			output := "/tmp/loot.tgz"
			if tc.name == "pipeline tar | gpg" {
				output = "-"
			}
			events := seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(2*time.Minute, 400, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", output, "loot")),
				one(tc.encrypt))
			c, all, uniq := run(t, linuxCfg, events)
			if len(all) != 2 || len(uniq) != 1 {
				t.Fatalf("got %d emissions, %d detections; want 2 and 1", len(all), len(uniq))
			}
			before, after := all[0], all[1]
			if before.UID != after.UID {
				t.Errorf("UID changed: %s → %s", before.UID, after.UID)
			}
			if after.Score != min(100, before.Score+20) {
				t.Errorf("score %d → %d, want +20", before.Score, after.Score)
			}
			if !strings.Contains(after.Reason, "then encrypted it with") {
				t.Errorf("reason %q", after.Reason)
			}
			if last := after.Evidence[len(after.Evidence)-1]; !strings.Contains(last.Note, "encryption") {
				t.Errorf("last evidence %+v", last)
			}
			if s := c.Stats(); s.Detections != 1 || s.Updates != 1 || s.EncryptionSteps != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestOutOfOrderEventsUpdateDetection(t *testing.T) {
	t.Parallel()
	events := seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
		one(execEv(time.Minute, 400, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "loot.tar", "loot")),
		// delivered after the exec by a slower sensor, but written before it
		one(fileEv(time.Minute-2*time.Second, event.KindFileWrite, "/tmp/loot/c.docx", 1000, 200, "/usr/bin/cp", alice)))
	c, all, uniq := run(t, linuxCfg, events)
	if len(all) != 2 || len(uniq) != 1 {
		t.Fatalf("got %d emissions, %d detections", len(all), len(uniq))
	}
	if all[0].FileCount != 2 || all[1].FileCount != 3 || all[0].UID != all[1].UID {
		t.Errorf("counts %d → %d, uids %s %s", all[0].FileCount, all[1].FileCount, all[0].UID, all[1].UID)
	}
	if c.Stats().Late != 1 {
		t.Errorf("late = %d", c.Stats().Late)
	}
}

func TestDeterministicUID(t *testing.T) {
	t.Parallel()
	events := func(pid int64) []*event.Event {
		return seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles...),
			one(execEv(2*time.Minute, pid, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot")))
	}
	_, _, a := run(t, linuxCfg, events(300))
	_, _, b := run(t, linuxCfg, events(300))
	_, _, other := run(t, linuxCfg, events(301))
	otherHost := linuxCfg
	otherHost.Host = "web-2"
	_, _, hostB := run(t, otherHost, events(300))
	if len(a) != 1 || len(b) != 1 || len(other) != 1 || len(hostB) != 1 {
		t.Fatalf("detections %d %d %d %d", len(a), len(b), len(other), len(hostB))
	}
	if a[0].UID != b[0].UID {
		t.Errorf("same events, different UIDs %s %s", a[0].UID, b[0].UID)
	}
	if a[0].UID == other[0].UID || a[0].UID == hostB[0].UID {
		t.Errorf("different steps share UID %s", a[0].UID)
	}
	if a[0].Reason != b[0].Reason || a[0].Score != b[0].Score || len(a[0].Evidence) != len(b[0].Evidence) {
		t.Errorf("replay differs: %q vs %q", a[0].Reason, b[0].Reason)
	}
}

func TestCapsAndCounters(t *testing.T) {
	t.Parallel()
	cfg := linuxCfg
	cfg.MaxGroups = 2
	cfg.MaxFilesPerGroup = 3
	cfg.MaxEvidence = 4
	events := seq(
		copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/g1/a", "/tmp/g1/b"),
		copyInto(10*time.Second, 200, "/usr/bin/cp", alice, "/tmp/g2/a", "/tmp/g2/b"),
		copyInto(20*time.Second, 200, "/usr/bin/cp", alice, "/tmp/g3/1.docx", "/tmp/g3/2.docx", "/tmp/g3/3.docx", "/tmp/g3/4.docx", "/tmp/g3/5.docx"),
		one(fileEv(30*time.Second, event.KindFileWrite, "/tmp/go-build99/x.a", 5, 201, "/usr/local/go/bin/go", alice)),
		one(fileEv(30*time.Second, event.KindFileWrite, "/tmp/y/z", 5, 202, "/usr/bin/make", alice, "/usr/bin/bash")),
		one(&event.Event{Kind: event.KindFileWrite, Path: "/tmp/no-time"}),
		one(&event.Event{Time: t0.Add(31 * time.Second), Kind: event.KindFileWrite}),
		[]*event.Event{nil},
		one(execEv(time.Minute, 400, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "g3.tar", "g3")),
	)
	c, _, dets := run(t, cfg, events)
	if len(dets) != 1 {
		t.Fatalf("detections %d", len(dets))
	}
	d := dets[0]
	if d.FileCount != 5 {
		t.Errorf("file count %d, want 5 (3 kept, 2 counted past the cap)", d.FileCount)
	}
	if len(d.Evidence) > 4 {
		t.Errorf("evidence %d > MaxEvidence", len(d.Evidence))
	}
	s := c.Stats()
	want := Stats{Events: 24, FileEvents: 21, ExecEvents: 1, Invalid: 3, Staged: 18, Ignored: 2, ArchiveSteps: 1, Detections: 1,
		FilesTracked: 5, Groups: 2, Steps: 1, Dropped: DropStats{Groups: 1, Files: 2, Evidence: 6}}
	if s != want {
		t.Errorf("stats\n got %+v\nwant %+v", s, want)
	}
}

func TestWindowExpiryFreesMemory(t *testing.T) {
	t.Parallel()
	c, err := New(linuxCfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/a/1", "/tmp/b/2", "/tmp/c/3") {
		c.Observe(e)
		_ = i
	}
	c.Observe(execEv(time.Minute, 300, 1, "/tmp", alice, nil, "/usr/bin/tar", "cf", "x.tar", "a"))
	if s := c.Stats(); s.Groups != 3 || s.Steps != 1 {
		t.Fatalf("before expiry %+v", s)
	}
	c.Expire(t0.Add(time.Minute + DefaultTimeWindow + time.Second))
	s := c.Stats()
	if s.Groups != 0 || s.FilesTracked != 0 || s.Steps != 0 || s.ExpiredGroups != 3 {
		t.Errorf("after expiry %+v", s)
	}
	// an event far behind "now" is stale, not staged
	c.Observe(fileEv(0, event.KindFileWrite, "/tmp/a/late", 1, 200, "/usr/bin/cp", alice))
	if s := c.Stats(); s.Stale != 1 || s.Groups != 0 {
		t.Errorf("stale event: %+v", s)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   Config
		field string
	}{
		{Config{TimeWindow: -time.Second}, "TimeWindow"},
		{Config{StagingDirectories: []string{"tmp/"}}, "StagingDirectories"},
		{Config{StagingDirectories: []string{}}, "StagingDirectories"},
		{Config{Platform: "windows", StagingDirectories: []string{`C:\`}}, "StagingDirectories"},
		{Config{UserContext: []string{"sometimes"}}, "UserContext"},
		{Config{MinimumFileCount: -1}, "MinimumFileCount"},
		{Config{MaxGroups: -5}, "MaxGroups"},
		{Config{MaxEvidence: 2}, "MaxEvidence"},
		{Config{ArchiverPatterns: []string{"/usr/bin/tar"}}, "ArchiverPatterns"},
		{Config{AllowedParents: []string{""}}, "AllowedParents"},
		{Config{AllowedPaths: []string{" "}}, "AllowedPaths"},
		{Config{PathStyle: 9}, "PathStyle"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg)
		ce, ok := err.(*ConfigError)
		if !ok || ce.Field != tc.field {
			t.Errorf("%+v: err %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Config(); got.TimeWindow != 30*time.Minute || got.MinimumFileCount != 2 || got.DetectionID != "DET0014" {
		t.Errorf("defaults %+v", got)
	}
}

func TestScoreRisesWithEvidence(t *testing.T) {
	t.Parallel()
	var none, docs, keys [5]int64
	docs[catDocument] = 1
	keys[catKey] = 1
	steps := []int{
		computeScore(2, 0, none, false, false, false),
		computeScore(20, 0, none, false, false, false),
		computeScore(20, 50<<20, none, false, false, false),
		computeScore(20, 50<<20, docs, false, false, false),
		computeScore(20, 50<<20, docs, false, false, true),
		computeScore(20, 50<<20, docs, false, true, true),
		computeScore(20, 50<<20, docs, true, true, true),
	}
	for i := 1; i < len(steps); i++ {
		if steps[i] <= steps[i-1] {
			t.Errorf("score did not rise at step %d: %v", i, steps)
		}
	}
	if computeScore(2, 0, keys, false, false, false) <= computeScore(2, 0, docs, false, false, false) {
		t.Error("keys should weigh more than documents")
	}
	if s := computeScore(1e9, 1e15, [5]int64{0, 9, 9, 9, 9}, true, true, true); s != 100 {
		t.Errorf("saturated score %d", s)
	}
	if severity(39) != "low" || severity(40) != "medium" || severity(69) != "medium" || severity(70) != "high" {
		t.Error("severity bands")
	}
}

// FuzzObserve feeds hostile events: no panic, and the counters add up.
func FuzzObserve(f *testing.F) {
	f.Add(uint8(1), "/usr/bin/tar", "czf\x00/tmp/x.tgz\x00loot", "/tmp", "/tmp/loot/a", false, int64(5))
	f.Add(uint8(3), "/usr/bin/cp", "", "/", "/tmp//loot/../loot/./b", false, int64(-7))
	f.Add(uint8(2), `C:\x\7z.exe`, "a\x00x.7z\x00*", `C:\Users\b`, `\\?\C:\Users\b\AppData\Local\Temp\x\y`, true, int64(1))
	f.Add(uint8(9), "", "", "", "", true, int64(0))
	f.Fuzz(func(t *testing.T, kind uint8, exe, args, cwd, path string, windows bool, dt int64) {
		cfg := Config{AnalyticID: "AN0041", Platform: "linux", MaxGroups: 4, MaxFilesPerGroup: 2, MaxEvidence: 3, MaxSteps: 2}
		if windows {
			cfg.Platform = "windows"
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		argv := append([]string{exe}, strings.Split(args, "\x00")...)
		for i := 0; i < 6; i++ {
			e := &event.Event{Time: t0.Add(time.Duration(dt%int64(time.Hour)) * time.Duration(i%3)), Kind: event.Kind(kind % 8),
				Path: path, Size: dt, Actor: alice, Process: event.Process{PID: int64(i % 2), Exe: exe, Argv: argv, Cwd: cwd}}
			if i%2 == 1 {
				e.Kind = event.KindExec
			}
			for _, d := range c.Observe(e) {
				if d.Score < 0 || d.Score > 100 || len(d.Evidence) > cfg.MaxEvidence {
					t.Fatalf("bad detection %+v", d)
				}
			}
		}
		s := c.Stats()
		if s.Events != 6 || s.Groups > 4 || s.Steps > 2 || s.FileEvents+s.ExecEvents+s.Invalid+s.Stale < 6 {
			t.Fatalf("stats %+v", s)
		}
	})
}
