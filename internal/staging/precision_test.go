package staging

import (
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Actors of the precision tests: root with no login, as services and cron
// jobs run, in two process subtrees; a login user in two sessions.
var (
	rootJobA  = event.Actor{UID: 0, EUID: 0, AUID: event.Unknown, User: "root", Scope: "812"}
	rootJobB  = event.Actor{UID: 0, EUID: 0, AUID: event.Unknown, User: "root", Scope: "977"}
	aliceSes2 = event.Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "alice", Session: "12", TTY: "pts/3", Interactive: true}
)

func fileBy(at time.Duration, kind event.Kind, path string, size, pid, ppid int64, cwd string, actor event.Actor, argv ...string) *event.Event {
	return &event.Event{Time: t0.Add(at), Kind: kind, Path: path, Size: size, Actor: actor, Source: "fanotify",
		Process: event.Process{PID: pid, PPID: ppid, Exe: argv[0], Argv: argv, Cwd: cwd}}
}

// writeBy is a create then close of one file by one process.
func writeBy(at time.Duration, path string, size, pid, ppid int64, cwd string, actor event.Actor, argv ...string) []*event.Event {
	return []*event.Event{fileBy(at, event.KindFileCreate, path, 0, pid, ppid, cwd, actor, argv...),
		fileBy(at+50*time.Millisecond, event.KindFileWrite, path, size, pid, ppid, cwd, actor, argv...)}
}

// listed is an exec whose list file the collector read.
func listed(ev *event.Event, names ...string) *event.Event {
	ev.Process.Listed = names
	return ev
}

func removed(at time.Duration, kind event.Kind, path string, pid int64, actor event.Actor, exe string) *event.Event {
	return &event.Event{Time: t0.Add(at), Kind: kind, Path: path, Actor: actor, Source: "fanotify",
		Process: event.Process{PID: pid, PPID: 1, Exe: exe}}
}

func TestPrecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		events  []*event.Event
		want    int
		staging string
		archive string
		files   int64
		reason  []string
		absent  []string
		updates int
	}{
		{
			// The report that started it: a compiler, sort's spills and a
			// downloaded tarball copied into /tmp and unpacked, all by root
			// with no login, within a minute.
			name: "cp of a downloaded tarball among root's temporaries is quiet",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/ccA1.s", 9000, 501, 500, "/root/src", rootJobA, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "hello.c"),
				writeBy(time.Second, "/tmp/ccB2.o", 9000, 502, 500, "/root/src", rootJobA, "/usr/bin/as"),
				one(removed(2*time.Second, event.KindFileDelete, "/tmp/ccA1.s", 500, rootJobA, "/usr/bin/gcc")),
				one(removed(2*time.Second, event.KindFileDelete, "/tmp/ccB2.o", 500, rootJobA, "/usr/bin/gcc")),
				writeBy(3*time.Second, "/tmp/sortAAA1", 1<<20, 610, 600, "/var/log", rootJobB, "/usr/bin/sort", "-T", "/tmp", "big.log"),
				writeBy(3*time.Second, "/tmp/sortAAA2", 1<<20, 610, 600, "/var/log", rootJobB, "/usr/bin/sort", "-T", "/tmp", "big.log"),
				one(removed(4*time.Second, event.KindFileDelete, "/tmp/sortAAA1", 610, rootJobB, "/usr/bin/sort")),
				one(removed(4*time.Second, event.KindFileDelete, "/tmp/sortAAA2", 610, rootJobB, "/usr/bin/sort")),
				writeBy(10*time.Second, "/tmp/tool-dl.tgz", 2_500_000, 701, 700, "/root", rootJobA, "/usr/bin/cp", "/root/Downloads/tool-dl.tgz", "/tmp/"),
				one(execEv(11*time.Second, 702, 700, "/tmp", rootJobA, nil, "/usr/bin/tar", "xzf", "tool-dl.tgz")),
				writeBy(11*time.Second, "/tmp/tool/bin/tool", 900_000, 702, 700, "/tmp", rootJobA, "/usr/bin/tar", "xzf", "tool-dl.tgz")),
			want: 0,
		},
		{
			name: "archives moved, linked or downloaded into place are no step",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(&event.Event{Time: t0.Add(time.Minute), Kind: event.KindFileMoveIn, Path: "/tmp/loot/old.zip", SourcePath: "/home/alice/old.zip",
					Actor: alice, Process: event.Process{PID: 210, Exe: "/usr/bin/mv", Argv: []string{"mv", "/home/alice/old.zip", "/tmp/loot/"}, Cwd: "/tmp/loot"}}),
				writeBy(time.Minute, "/tmp/loot/dl.tgz", 1000, 211, 100, "/tmp/loot", alice, "/usr/bin/curl", "-O", "https://example.org/dl.tgz"),
				writeBy(time.Minute, "/tmp/loot/pkg.tar.zst", 1000, 212, 100, "/tmp/loot", alice, "/usr/bin/ln", "-s", "/var/cache/pkg.tar.zst", "."),
				writeBy(time.Minute, "/tmp/loot/copy.7z", 1000, 213, 100, "/tmp/loot", alice, "/usr/bin/rsync", "-a", "/srv/x.7z", "copy.7z")),
			want: 0,
		},
		{
			name: "files deleted or moved out before the archive are not in it",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles...),
				one(removed(time.Minute, event.KindFileDelete, "/tmp/loot/notes.txt", 201, alice, "/usr/bin/rm")),
				one(&event.Event{Time: t0.Add(time.Minute), Kind: event.KindFileMoveIn, Path: "/home/alice/board.pdf", SourcePath: "/tmp/loot/board.pdf",
					Actor: alice, Process: event.Process{PID: 202, Exe: "/usr/bin/mv"}}),
				one(&event.Event{Time: t0.Add(time.Minute), Kind: event.KindFileMoveOut, Path: "/tmp/loot/sub", Dir: true,
					Actor: alice, Process: event.Process{PID: 203, Exe: "/usr/bin/mv"}}),
				one(execEv(2*time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 1, staging: "/tmp/loot", files: 2, // q3-report.docx, salaries.xlsx
		},
		{
			// sub/id_rsa went with its directory: a move out of a tree.
			name: "a directory moved out takes its files",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles...),
				one(&event.Event{Time: t0.Add(time.Minute), Kind: event.KindFileMoveOut, Path: "/tmp/loot/sub", Dir: true,
					Actor: alice, Process: event.Process{PID: 203, Exe: "/usr/bin/mv"}}),
				// A file in the same directory as that tree: untouched.
				one(removed(time.Minute, event.KindFileDelete, "/tmp/loot/su", 204, alice, "/usr/bin/rm")),
				one(execEv(2*time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 1, staging: "/tmp/loot", files: 4, absent: []string{"key or secret"},
		},
		{
			name: "the staged directory itself moved away takes everything",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles...),
				one(&event.Event{Time: t0.Add(time.Minute), Kind: event.KindFileMoveOut, Path: "/tmp/loot", Dir: true,
					Actor: alice, Process: event.Process{PID: 203, Exe: "/usr/bin/mv"}}),
				one(execEv(2*time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 0,
		},
		{
			name: "a file deleted after the archive is still in it",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(2*time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot")),
				one(removed(3*time.Minute, event.KindFileDelete, "/tmp/loot/q3-report.docx", 201, alice, "/usr/bin/rm")),
				one(execEv(4*time.Minute, 301, 100, "/tmp", alice, nil, "/usr/bin/gpg", "-c", "/tmp/loot.tgz"))),
			want: 1, staging: "/tmp/loot", files: 3, updates: 1, reason: []string{"then encrypted it with gpg"},
		},
		{
			name: "files directly in /tmp: only those the archiver names",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/a.docx", 1000, 200, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/a.docx", "/tmp/"),
				writeBy(time.Second, "/tmp/b.xlsx", 1000, 201, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/b.xlsx", "/tmp/"),
				writeBy(2*time.Second, "/tmp/unrelated.log", 1000, 202, 100, "/home/alice", alice, "/usr/bin/tee", "/tmp/unrelated.log"),
				writeBy(2*time.Second, "/tmp/other.csv", 1000, 203, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/other.csv", "/tmp/"),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/x.tgz", "a.docx", "b.xlsx"))),
			want: 1, staging: "/tmp", files: 2, reason: []string{"copied 2 files from /home/alice"},
		},
		{
			name: "the root of /tmp archived whole names none of its files",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/a.docx", 1000, 200, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/a.docx", "/tmp/"),
				writeBy(time.Second, "/tmp/b.xlsx", 1000, 201, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/b.xlsx", "/tmp/"),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/zip", "-qr", "/home/alice/all.zip", "."))),
			want: 0,
		},
		{
			name: "a wildcard the archiver expands itself, and files sharing the archive's stem",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/q3.docx", 1000, 200, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/q3.docx", "/tmp/"),
				writeBy(time.Second, "/tmp/q4.docx", 1000, 201, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/q4.docx", "/tmp/"),
				writeBy(2*time.Second, "/tmp/dump.sql", 1000, 202, 100, "/home/alice", alice, "/usr/bin/pg_dump", "-f", "/tmp/dump.sql"),
				writeBy(2*time.Second, "/tmp/dump-users.csv", 1000, 203, 100, "/home/alice", alice, "/usr/bin/psql", "-o", "/tmp/dump-users.csv"),
				writeBy(3*time.Second, "/tmp/notes.txt", 1000, 204, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/notes.txt", "/tmp/"),
				one(execEv(time.Minute, 300, 100, "/home/alice", alice, nil, "/usr/bin/7z", "a", "/tmp/dump", "/tmp/*.docx", "/tmp/dump.sql"))),
			// 7z wrote /tmp/dump.7z: the two .docx by the wildcard, dump.sql
			// by name, dump-users.csv by the stem; notes.txt by nothing.
			want: 1, staging: "/tmp", archive: "/tmp/dump.7z", files: 4,
			reason: []string{"copied 2 files from /home/alice and created 2 files"},
		},
		{
			name: "tar -T: the names in the list file",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/a.docx", 1000, 200, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/a.docx", "/tmp/"),
				writeBy(time.Second, "/tmp/b.xlsx", 1000, 201, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/b.xlsx", "/tmp/"),
				writeBy(time.Second, "/tmp/c.pdf", 1000, 201, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/c.pdf", "/tmp/"),
				one(listed(execEv(time.Minute, 300, 100, "/home/alice", alice, nil, "/usr/bin/tar", "czf", "/home/alice/x.tgz", "-C", "/tmp", "-T", "/home/alice/list.txt"),
					"/tmp/a.docx", "b.xlsx"))),
			want: 1, staging: "/tmp", files: 2,
		},
		{
			name: "root's jobs in two process subtrees are two actors",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 800, "/usr/bin/cp", rootJobA, "/var/tmp/exp/a.csv", "/var/tmp/exp/b.csv"),
				one(execEv(time.Minute, 980, 977, "/var/tmp", rootJobB, nil, "/usr/bin/tar", "czf", "/var/tmp/exp.tgz", "exp"))),
			want: 0,
		},
		{
			name: "a job that stages and archives in its own subtree is one actor",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 800, "/usr/bin/cp", rootJobA, "/var/tmp/exp/a.csv", "/var/tmp/exp/b.csv"),
				one(execEv(time.Minute, 813, 812, "/var/tmp", rootJobA, nil, "/usr/bin/tar", "czf", "/var/tmp/exp.tgz", "exp"))),
			want: 1, staging: "/var/tmp/exp", files: 2,
		},
		{
			name: "one person in two login sessions is two actors",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 300, 100, "/tmp", aliceSes2, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 0,
		},
		{
			// GNU tar forks; the child writes the archive before exec'ing
			// gzip. One story, one detection.
			name: "tar's forked child writing the archive is tar",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot")),
				writeBy(time.Minute+10*time.Millisecond, "/tmp/loot.tgz", 9000, 301, 300, "/tmp", alice, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"),
				one(execEv(time.Minute+20*time.Millisecond, 302, 301, "/tmp", alice, nil, "/usr/bin/gzip"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tgz", files: 3,
		},
		{
			name: "a path recreated by someone else starts afresh",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", bob, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(removed(time.Minute, event.KindFileDelete, "/tmp/loot/a.docx", 201, bob, "/usr/bin/rm")),
				one(removed(time.Minute, event.KindFileDelete, "/tmp/loot/b.docx", 201, bob, "/usr/bin/rm")),
				copyInto(4*time.Minute, 400, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(4*time.Minute+5*time.Second, 401, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 1, staging: "/tmp/loot", files: 2, reason: []string{"within 5s"},
		},
		{
			name: "zip adds .zip, and the gpg -c of it raises the same detection",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/T1560/a.docx", "/tmp/T1560/b.docx", "/tmp/T1560/c.pdf"),
				one(execEv(3*time.Minute, 300, 100, "/tmp/T1560", alice, nil, "/usr/bin/zip", "--password", "P", "/tmp/T1560/T1560", "./a.docx", "./b.docx", "./c.pdf")),
				one(execEv(3*time.Minute+time.Second, 301, 100, "/tmp/T1560", alice, nil, "/usr/bin/gpg", "-c", "/tmp/T1560/T1560.zip"))),
			want: 1, staging: "/tmp/T1560", archive: "/tmp/T1560/T1560.zip", files: 3, updates: 1,
			reason: []string{"with a password, then encrypted it with gpg"},
		},
		{
			name: "7z and rar add their suffixes too",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/tmp/loot/a.docx", "/tmp/loot/b.docx"),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/7z", "a", "-tzip", "/tmp/loot-out", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot-out.zip", files: 2,
		},
		{
			name: "files created in place are created, moved ones moved",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/tmp/loot/notes.txt", 100, 200, 100, "/tmp/loot", alice, "/usr/bin/vim", "notes.txt"),
				one(&event.Event{Time: t0.Add(time.Second), Kind: event.KindFileMoveIn, Path: "/tmp/loot/plan.docx", SourcePath: "/home/alice/Documents/plan.docx",
					Actor: alice, Process: event.Process{PID: 201, Exe: "/usr/bin/mv"}}),
				one(&event.Event{Time: t0.Add(time.Second), Kind: event.KindFileMoveIn, Path: "/tmp/loot/plan2.docx", SourcePath: "/home/alice/Documents/plan2.docx",
					Actor: alice, Process: event.Process{PID: 201, Exe: "/usr/bin/mv"}}),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			want: 1, staging: "/tmp/loot", files: 3,
			reason: []string{"alice (pts/0) moved 2 files from /home/alice/Documents and created 1 file (2 documents"},
			absent: []string{"copied"},
		},
		{
			name: "a directory copied whole names where it came from",
			cfg:  linuxCfg,
			events: seq(
				writeBy(0, "/dev/shm/.ssh/id_ed25519", 400, 200, 100, "/home/alice", alice, "/usr/bin/cp", "-r", "/home/alice/.ssh", "/dev/shm/"),
				writeBy(0, "/dev/shm/.ssh/config", 100, 200, 100, "/home/alice", alice, "/usr/bin/cp", "-r", "/home/alice/.ssh", "/dev/shm/"),
				one(execEv(time.Minute, 300, 100, "/dev/shm", alice, nil, "/usr/bin/tar", "cf", "/dev/shm/k.tar", ".ssh"))),
			want: 1, staging: "/dev/shm/.ssh", files: 2, reason: []string{"copied 2 files from /home/alice/.ssh "},
		},
		// Found by the evaluation suite (plugins/linux/eval).
		{
			name: "gzip of the tar just made is the same staging, its archive compressed again",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/mv", alice, "/mnt/scratch/.m/a.eml", "/mnt/scratch/.m/b.eml", "/mnt/scratch/.m/c.eml"),
				one(execEv(time.Minute, 300, 100, "/mnt/scratch", alice, nil, "/usr/bin/tar", "cf", "/mnt/scratch/m.tar", ".m")),
				writeBy(time.Minute+100*time.Millisecond, "/mnt/scratch/m.tar", 3000, 300, 100, "/mnt/scratch", alice, "/usr/bin/tar"),
				one(execEv(time.Minute+time.Second, 301, 100, "/mnt/scratch", alice, nil, "/usr/bin/gzip", "/mnt/scratch/m.tar")),
				writeBy(time.Minute+1100*time.Millisecond, "/mnt/scratch/m.tar.gz", 300, 301, 100, "/mnt/scratch", alice, "/usr/bin/gzip"),
				one(execEv(time.Minute+2*time.Second, 302, 100, "/mnt/scratch", alice, nil, "/usr/bin/gpg", "-c", "/mnt/scratch/m.tar.gz"))),
			want: 1, updates: 2, staging: "/mnt/scratch", archive: "/mnt/scratch/m.tar.gz", files: 3,
			reason: []string{"then encrypted it with gpg"},
		},
		{
			name: "tar to its stdout piped into gzip takes the archive gzip writes",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 300, 100, "/tmp", alice, nil, "/usr/bin/tar", "cf", "-", "-C", "/tmp", "loot")),
				one(execEv(time.Minute, 301, 100, "/tmp", alice, nil, "/usr/bin/gzip")),
				writeBy(time.Minute+100*time.Millisecond, "/tmp/loot.tar.gz", 300, 301, 100, "/tmp", alice, "/usr/bin/gzip")),
			want: 1, updates: 1, staging: "/tmp/loot", archive: "/tmp/loot.tar.gz", files: 3,
		},
		{
			name: "tar to its stdout piped into gzip, the redirection recorded before gzip's exec (audit)",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(execEv(time.Minute, 300, 100, "/root", alice, nil, "/usr/bin/tar", "cf", "-", "-C", "/tmp", "loot")),
				one(fileBy(time.Minute, event.KindFileCreate, "/tmp/loot.tar.gz", 0, 301, 100, "/root", alice, "/usr/bin/bash")),
				one(execEv(time.Minute, 301, 100, "/root", alice, nil, "/usr/bin/gzip"))),
			want: 1, updates: 1, staging: "/tmp/loot", archive: "/tmp/loot.tar.gz", files: 3,
		},
		{
			// Live, the two execs of a pipeline reach the correlator in
			// either order, and gzip's close of its file may come before
			// its exec (exec times move forward by the settle delay).
			name: "tar piped into gzip, gzip's exec and its write seen before tar's",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				one(fileBy(time.Minute, event.KindFileCreate, "/tmp/loot.tar.gz", 0, 301, 100, "/root", alice, "/usr/bin/bash")),
				writeBy(time.Minute+50*time.Millisecond, "/tmp/loot.tar.gz", 300, 301, 100, "/root", alice, "/usr/bin/gzip"),
				one(execEv(time.Minute+100*time.Millisecond, 301, 100, "/root", alice, nil, "/usr/bin/gzip")),
				one(execEv(time.Minute+110*time.Millisecond, 300, 100, "/root", alice, nil, "/usr/bin/tar", "cf", "-", "-C", "/tmp", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tar.gz", files: 3,
		},
		{
			name: "tar piped into gzip, gzip's write seen before its exec and no create (fanotify lags)",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, lootFiles[:3]...),
				writeBy(time.Minute+50*time.Millisecond, "/tmp/loot.tar.gz", 300, 301, 100, "/root", alice, "/usr/bin/gzip"),
				one(execEv(time.Minute+100*time.Millisecond, 301, 100, "/root", alice, nil, "/usr/bin/gzip")),
				one(execEv(time.Minute+110*time.Millisecond, 300, 100, "/root", alice, nil, "/usr/bin/tar", "cf", "-", "-C", "/tmp", "loot"))),
			want: 1, staging: "/tmp/loot", archive: "/tmp/loot.tar.gz", files: 3,
		},
		{
			name: "zip names an archive with a leading dot as given",
			cfg:  linuxCfg,
			events: seq(copyInto(0, 200, "/usr/bin/cp", alice, "/var/tmp/.pgdump/a.sql", "/var/tmp/.pgdump/b.sqlite"),
				one(execEv(time.Minute, 300, 100, "/var/tmp", alice, nil, "/usr/bin/zip", "-q", "-r", "-P", "pw", "/var/tmp/.pgdump.zip", ".pgdump"))),
			want: 1, staging: "/var/tmp/.pgdump", archive: "/var/tmp/.pgdump.zip", files: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, all, dets := run(t, tc.cfg, tc.events)
			if len(dets) != tc.want || len(all) != tc.want+tc.updates {
				for _, d := range all {
					t.Logf("detection %s: %s", d.UID, d.Reason)
				}
				t.Fatalf("got %d detections (%d emitted), want %d (%d)", len(dets), len(all), tc.want, tc.want+tc.updates)
			}
			if tc.want == 0 {
				return
			}
			d := dets[0]
			if d.StagingPath != tc.staging || tc.archive != "" && d.ArchivePath != tc.archive || d.FileCount != tc.files {
				t.Errorf("staging %q archive %q files %d, want %q %q %d (%s)", d.StagingPath, d.ArchivePath, d.FileCount, tc.staging, tc.archive, tc.files, d.Reason)
			}
			for _, r := range tc.reason {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
			for _, r := range tc.absent {
				if strings.Contains(d.Reason, r) {
					t.Errorf("reason %q has %q", d.Reason, r)
				}
			}
			checkDetection(t, tc.cfg, d)
		})
	}
}

func TestHumanDurationNeverRoundsUp(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		300 * time.Millisecond:                     "1s",
		59*time.Second + 900*time.Millisecond:      "59s",
		180 * time.Second:                          "3m",
		180*time.Second + 400*time.Millisecond:     "3m",
		200 * time.Second:                          "3m20s",
		time.Hour + 5*time.Minute + 50*time.Second: "1h5m",
		2 * time.Hour:                              "2h",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestManyActorsInOneGroup: /tmp sees a new actor for every cron job run;
// past the per-group bound the ones with nothing left there make room, so
// staging by the next one is still seen.
func TestManyActorsInOneGroup(t *testing.T) {
	t.Parallel()
	c, err := New(linuxCfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxActorsPerGroup {
		a := event.Actor{UID: 0, EUID: 0, AUID: event.Unknown, Scope: "job-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)}
		path := "/tmp/spill-" + a.Scope
		at := time.Duration(i) * 100 * time.Millisecond
		c.Observe(fileBy(at, event.KindFileCreate, path, 0, int64(1000+i), 1, "/", a, "/usr/bin/sort"))
		c.Observe(removed(at+10*time.Millisecond, event.KindFileDelete, path, int64(1000+i), a, "/usr/bin/sort"))
		// Files older than the window let their actors go.
		c.Expire(t0.Add(at))
	}
	// Nothing of the jobs is left within the window after it passes.
	late := 3*time.Duration(maxActorsPerGroup)*100*time.Millisecond + DefaultTimeWindow
	var out []event.Detection
	for _, e := range seq(
		writeBy(late, "/tmp/a.docx", 1000, 5000, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/a.docx", "/tmp/"),
		writeBy(late+time.Second, "/tmp/b.docx", 1000, 5001, 100, "/home/alice", alice, "/usr/bin/cp", "/home/alice/b.docx", "/tmp/"),
		one(execEv(late+time.Minute, 5002, 100, "/tmp", alice, nil, "/usr/bin/tar", "czf", "/tmp/x.tgz", "a.docx", "b.docx"))) {
		out = append(out, c.Observe(e)...)
	}
	if len(out) != 1 || out[0].FileCount != 2 {
		t.Fatalf("detections after %d actors: %+v (dropped %+v)", 3*maxActorsPerGroup, out, c.Stats().Dropped)
	}
}

// TestSelfMadeArchives: a process zipping files it created itself is
// staging when the archive stays, and a test's or build's scratch when it
// is removed at once with them.
func TestSelfMadeArchives(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3.11"
	made := seq(copyInto(0, 300, py, alice, "/tmp/tmpab12cd34/a.csv", "/tmp/tmpab12cd34/b.csv", "/tmp/tmpab12cd34/c.csv"),
		one(fileEv(4*time.Second, event.KindFileCreate, "/tmp/tmpab12cd34/export.zip", 0, 300, py, alice)),
		one(fileEv(4*time.Second+10*time.Millisecond, event.KindFileWrite, "/tmp/tmpab12cd34/export.zip", 900, 300, py, alice)))
	removed := func(at time.Duration) []*event.Event {
		ev := fileEv(at, event.KindFileDelete, "/tmp/tmpab12cd34", 0, 300, py, alice)
		ev.Dir = true
		return one(ev)
	}
	later := one(fileEv(time.Minute, event.KindFileCreate, "/tmp/other/x", 0, 301, "/usr/bin/touch", alice))
	for _, tc := range []struct {
		name   string
		events []*event.Event
		want   int
	}{
		{"removed with its files at once: a test's scratch", seq(made, removed(4*time.Second+50*time.Millisecond), later), 0},
		{"kept: staged", seq(made, later), 1},
		{"kept past the grace, removed later: staged", seq(made, one(fileEv(10*time.Second, event.KindFileCreate, "/tmp/other/y", 0, 302, "/usr/bin/touch", alice)), removed(20*time.Second)), 1},
		{"kept to the end of the input: staged", made, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, dets := run(t, linuxCfg, tc.events)
			if len(dets) != tc.want {
				t.Fatalf("%d detections, want %d", len(dets), tc.want)
			}
		})
	}
}
