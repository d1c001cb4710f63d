package auditlog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

const fixtures = "../testdata/audit"

func readFixture(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, slices.Clone(sc.Bytes()))
	}
	return lines
}

// replay feeds lines through a fresh Assembler.
func replay(lines [][]byte) ([]*event.Event, Stats) {
	var evs []*event.Event
	a := NewAssembler(func(ev *event.Event) { evs = append(evs, ev) })
	for _, l := range lines {
		_ = a.Line(l)
	}
	a.Flush()
	return evs, a.Stats()
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		line   string
		typ    uint16
		serial uint64
		node   string
		check  map[string]string // decoded string fields
		absent []string
	}{
		{
			name:   "raw syscall",
			line:   `type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=4294967295 uid=0 tty=(none) ses=4294967295 comm="tar" exe="/usr/bin/tar" key=(null)`,
			typ:    TypeSyscall,
			serial: 456,
			check:  map[string]string{"comm": "tar", "exe": "/usr/bin/tar"},
			absent: []string{"key", "missing"},
		},
		{
			name:   "enriched with node",
			line:   "node=web1 type=SYSCALL msg=audit(1700000000.5:7): arch=c000003e syscall=59 uid=0 comm=\"zip\" key=\"k\"\x1dARCH=x86_64 SYSCALL=execve UID=\"root\"",
			typ:    TypeSyscall,
			serial: 7,
			node:   "web1",
			check:  map[string]string{"comm": "zip", "key": "k"},
		},
		{
			name:   "hex argv",
			line:   `type=EXECVE msg=audit(1700000000.123:456): argc=2 a0="cp" a1=612062`,
			typ:    TypeExecve,
			serial: 456,
			check:  map[string]string{"a0": "cp", "a1": "a b"},
		},
		{
			name:   "unknown type and question mark",
			line:   `type=UNKNOWN[1334] msg=audit(1700000000.000:1): name=? cwd="/"`,
			typ:    1334,
			serial: 1,
			check:  map[string]string{"cwd": "/"},
			absent: []string{"name"},
		},
		{
			name:   "user message with single quotes",
			line:   `type=USER_CMD msg=audit(1700000000.000:2): pid=1 uid=0 msg='cwd="/root" cmd=6C73 res=success'`,
			typ:    1123,
			serial: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseLine([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if r.Type != tc.typ || r.Serial != tc.serial || r.Node != tc.node {
				t.Errorf("type %d serial %d node %q, want %d %d %q", r.Type, r.Serial, r.Node, tc.typ, tc.serial, tc.node)
			}
			for k, want := range tc.check {
				if got, ok, err := r.Str(k); !ok || err != nil || got != want {
					t.Errorf("Str(%s) = %q, %v, %v; want %q", k, got, ok, err, want)
				}
			}
			for _, k := range tc.absent {
				if got, ok, _ := r.Str(k); ok {
					t.Errorf("Str(%s) = %q, want absent", k, got)
				}
			}
		})
	}
}

func TestParseLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ line, want string }{
		{"", "does not start with type="},
		{"hello", "does not start with type="},
		{"node=x", "ends after node="},
		{"type=SYSCALL", "no record type"},
		{"type=SYSCALL foo", "without msg=audit"},
		{"type=SYSCALL msg=audit(1.2:3 a=b", "unterminated audit( stamp"},
		{"type=SYSCALL msg=audit(1.2): a=b", "has no serial"},
		{"type=SYSCALL msg=audit(12:3): a=b", "has no milliseconds"},
		{"type=SYSCALL msg=audit(x.2:3): a=b", "bad stamp"},
		{"type=SYSCALL msg=audit(1.5000:3): a=b", "bad stamp"},
		{`type=EXECVE msg=audit(1.2:3): a0="tar`, "unterminated quote"},
		{"type=SOCKADDR msg=audit(1.2:3): saddr=01\x1dSADDR={ x", "unterminated brace"},
	}
	for _, tc := range tests {
		_, err := ParseLine([]byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLine(%q) error = %v, want it to mention %q", tc.line, err, tc.want)
		}
	}
	r, _ := ParseLine([]byte(`type=EXECVE msg=audit(1.2:3): argc=1 a0=7G`))
	if _, _, err := r.Str("a0"); err == nil || !strings.Contains(err.Error(), "bad hex") {
		t.Errorf("Str(a0=7G) error = %v, want bad hex", err)
	}
}

func kinds(evs []*event.Event) map[event.Kind]int {
	m := map[event.Kind]int{}
	for _, ev := range evs {
		m[ev.Kind]++
	}
	return m
}

// countExecs counts successful execve SYSCALL records in the raw text, an
// independent check on what the assembler emits.
func countExecs(lines [][]byte) int {
	n := 0
	for _, l := range lines {
		if bytes.Contains(l, []byte("type=SYSCALL ")) && bytes.Contains(l, []byte(" syscall=59 success=yes ")) {
			n++
		}
	}
	return n
}

func findEvent(evs []*event.Event, kind event.Kind, match func(*event.Event) bool) *event.Event {
	for _, ev := range evs {
		if ev.Kind == kind && match(ev) {
			return ev
		}
	}
	return nil
}

func argv0(name string, args ...string) func(*event.Event) bool {
	want := append([]string{name}, args...)
	return func(ev *event.Event) bool { return slices.Equal(ev.Process.Argv, want) }
}

func pathIs(p string) func(*event.Event) bool {
	return func(ev *event.Event) bool { return ev.Path == p }
}

// The fixtures were recorded with plugins/linux/testdata/audit/record.sh;
// the expectations below are what those sessions did.
func TestFixtures(t *testing.T) {
	t.Parallel()
	const stage = "/tmp/sw-stage-q3"
	const docs = "/srv/stagewatch-record/docs"
	type want struct {
		kind  event.Kind
		match func(*event.Event) bool
		check func(t *testing.T, ev *event.Event)
	}
	tests := []struct {
		file  string
		kinds map[event.Kind]int
		want  []want
	}{
		{
			file:  "staging.log",
			kinds: map[event.Kind]int{event.KindExec: 23, event.KindFileCreate: 23, event.KindFileWrite: 1, event.KindFileMoveIn: 3, event.KindFileDelete: 20},
			want: []want{
				{event.KindFileCreate, pathIs(stage + "/report.docx"), nil},
				{event.KindFileCreate, pathIs(stage + "/budget.csv"), nil},
				{event.KindFileCreate, pathIs(stage + "/board minutes.docx"), nil},
				{event.KindFileCreate, pathIs(stage + "/deploy-key.pem"), nil},
				{event.KindFileCreate, pathIs(stage + "/spec.pdf"), func(t *testing.T, ev *event.Event) {
					if !slices.Equal(ev.Process.Argv, []string{"cp", docs + "/deploy-key.pem", docs + "/spec.pdf", stage + "/"}) {
						t.Errorf("cp argv from proctitle = %q", ev.Process.Argv)
					}
				}},
				{event.KindExec, argv0("cp", docs+"/board minutes.docx", stage+"/"), nil},
				{event.KindExec, argv0("tar", "czf", "/tmp/sw-q3.tgz", "-C", "/tmp", "sw-stage-q3"), func(t *testing.T, ev *event.Event) {
					if ev.Process.Cwd != "/tmp" || ev.Process.Exe != "/usr/bin/tar" {
						t.Errorf("tar cwd %q exe %q", ev.Process.Cwd, ev.Process.Exe)
					}
					a := ev.Actor
					if a.UID != 1000 || a.EUID != 1000 || a.AUID != 1000 || a.TTY != "pts0" || a.User != "cloudsdk" || !a.Interactive || a.Session == "" {
						t.Errorf("tar actor %+v", a)
					}
					if ev.Source != "audit" || ev.Process.PID <= 0 || ev.Process.PPID <= 0 {
						t.Errorf("tar source %q pid %d ppid %d", ev.Source, ev.Process.PID, ev.Process.PPID)
					}
					if got := ev.Time.UTC().Format(time.RFC3339); !strings.HasPrefix(got, "2026-") {
						t.Errorf("tar time %s", got)
					}
				}},
				{event.KindExec, argv0("zip", "-qr", "../sw-q3.zip", "."), func(t *testing.T, ev *event.Event) {
					if ev.Process.Cwd != stage {
						t.Errorf("zip cwd %q", ev.Process.Cwd)
					}
				}},
				{event.KindExec, argv0("zip", "-q", "-P", "secret", "/tmp/sw-q3-locked.zip", "/tmp/sw-q3.tgz"), nil},
				{event.KindExec, argv0("openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:pw", "-in", "/tmp/sw-q3.zip", "-out", "/tmp/sw-q3.zip.enc"), nil},
				{event.KindFileCreate, pathIs("/tmp/sw-q3.tgz"), nil},
				{event.KindFileCreate, pathIs("/tmp/sw-q3.tgz.gpg"), nil},
				{event.KindFileMoveIn, pathIs("/tmp/sw-q3.zip"), func(t *testing.T, ev *event.Event) {
					if !strings.HasPrefix(ev.SourcePath, "/tmp/zi") { // zip writes a temp file and renames it
						t.Errorf("zip move source %q", ev.SourcePath)
					}
				}},
				{event.KindFileMoveIn, pathIs(stage + "/out.bin"), func(t *testing.T, ev *event.Event) {
					if ev.SourcePath != "/tmp/sw-q3.zip.enc" {
						t.Errorf("mv source %q", ev.SourcePath)
					}
				}},
				{event.KindFileDelete, pathIs("/tmp/sw-q3.tgz"), nil},
			},
		},
		{
			file:  "benign.log",
			kinds: map[event.Kind]int{event.KindExec: 20, event.KindFileCreate: 14, event.KindFileWrite: 2, event.KindFileMoveIn: 2, event.KindFileDelete: 6},
			want: []want{
				{event.KindExec, argv0("tar", "-xzf", docs+"/bundle.tgz", "-C", "/tmp/sw-extract"), func(t *testing.T, ev *event.Event) {
					a := ev.Actor
					if a.UID != 0 || a.AUID != 1001 || a.Interactive || a.User != "" || !a.Elevated {
						t.Errorf("benign actor %+v", a)
					}
				}},
				// tar extracts relative to a directory fd: the path comes
				// from the learned inode of /tmp/sw-extract.
				{event.KindFileCreate, pathIs("/tmp/sw-extract/bundle/src/hello.c"), nil},
				{event.KindFileCreate, pathIs("/tmp/sw-unzip/bundle/README"), nil},
				{event.KindFileMoveIn, pathIs("/var/tmp/sw-apt/sw-demo_1.0_all.deb"), nil},
				{event.KindFileCreate, pathIs("/var/tmp/sw-apt/root/usr/share/sw-demo/data.txt"), nil},
				{event.KindExec, argv0("gcc", "-o", "/srv/stagewatch-record/hello", "hello.c"), nil},
				{event.KindFileMoveIn, pathIs("/var/log/sw-app.log.1"), func(t *testing.T, ev *event.Event) {
					if ev.SourcePath != "/var/log/sw-app.log" {
						t.Errorf("logrotate source %q", ev.SourcePath)
					}
				}},
				{event.KindFileCreate, pathIs("/var/log/sw-app.log.1.gz"), nil},
				{event.KindExec, argv0("/bin/gzip"), nil},
				// A 10000-byte argument is split over records as a2[0], a2[1]….
				{event.KindExec, argv0("/usr/bin/env", "true", strings.Repeat("x", 10000)), nil},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			lines := readFixture(t, tc.file)
			evs, st := replay(lines)
			if got := kinds(evs); !maps(got, tc.kinds) {
				t.Errorf("kinds = %v, want %v", got, tc.kinds)
			}
			if got, want := kinds(evs)[event.KindExec], countExecs(lines); got != want {
				t.Errorf("%d exec events, %d successful execve records", got, want)
			}
			if st.ParseErrors != 0 || st.Unresolved != 0 || st.Incomplete != 0 || st.Late != 0 || st.Records != uint64(len(lines)) {
				t.Errorf("stats %+v for %d lines", st, len(lines))
			}
			for _, ev := range evs {
				if ev.Kind.IsFile() && !strings.HasPrefix(ev.Path, "/") {
					t.Errorf("relative path %q", ev.Path)
				}
			}
			for i, w := range tc.want {
				ev := findEvent(evs, w.kind, w.match)
				if ev == nil {
					t.Errorf("no %s event matching expectation #%d", w.kind, i)
					continue
				}
				if w.check != nil {
					w.check(t, ev)
				}
			}
		})
	}
}

func maps(a, b map[event.Kind]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The mangled fixture must cost only the lines that are broken.
func TestMangledFixture(t *testing.T) {
	t.Parallel()
	lines := readFixture(t, "mangled.log")
	var errs []error
	var evs []*event.Event
	a := NewAssembler(func(ev *event.Event) { evs = append(evs, ev) })
	for _, l := range lines {
		if err := a.Line(l); err != nil {
			errs = append(errs, err)
		}
	}
	a.Flush()
	st := a.Stats()
	if st.ParseErrors != uint64(len(errs)) || len(errs) < 6 || st.FirstError == nil {
		t.Errorf("parse errors %d (returned %d), first %v", st.ParseErrors, len(errs), st.FirstError)
	}
	if st.Records+uint64(len(errs)) != uint64(len(lines)) {
		t.Errorf("records %d + errors %d != lines %d", st.Records, len(errs), len(lines))
	}
	if findEvent(evs, event.KindExec, argv0("setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", "bash", "/srv/stagewatch-record/staging.sh")) == nil {
		t.Errorf("intact records after the damage were lost; events %d", len(evs))
	}
	if st.Incomplete == 0 {
		t.Errorf("orphan EXECVE records not counted as incomplete: %+v", st)
	}
}

// toNetlink turns an audit.log line into what the kernel sends: a type
// number and the body without auditd's enrichment.
func toNetlink(t *testing.T, line []byte) (uint16, []byte) {
	t.Helper()
	r, err := ParseLine(line)
	if err != nil || r.Type == 0 {
		return 0, nil
	}
	_, body, _ := bytes.Cut(line, []byte(" msg="))
	body, _, _ = bytes.Cut(body, []byte{0x1d})
	return r.Type, body
}

// The netlink stream interleaves events and ends each with EOE; the events
// must come out the same as from the text log.
func TestNetlinkInterleaved(t *testing.T) {
	t.Parallel()
	lines := readFixture(t, "staging.log")
	want, _ := replay(lines)

	type msg struct {
		typ  uint16
		body []byte
	}
	// Group by event, then interleave pairs of neighbouring events record
	// by record, as two CPUs emitting at once would.
	var groups [][]msg
	var last []byte
	for _, l := range lines {
		typ, body := toNetlink(t, l)
		if typ == 0 {
			continue
		}
		stamp, _, _ := bytes.Cut(body, []byte("):"))
		if !bytes.Equal(stamp, last) {
			groups = append(groups, nil)
			last = stamp
		}
		g := &groups[len(groups)-1]
		*g = append(*g, msg{typ, body})
		if typ == TypeProctitle {
			*g = append(*g, msg{TypeEOE, append(slices.Clone(stamp), "): "...)})
		}
	}
	var stream []msg
	for i := 0; i < len(groups); i += 2 {
		a := groups[i]
		var b []msg
		if i+1 < len(groups) {
			b = groups[i+1]
		}
		for j := 0; j < max(len(a), len(b)); j++ {
			if j < len(a) {
				stream = append(stream, a[j])
			}
			if j < len(b) {
				stream = append(stream, b[j])
			}
		}
	}
	var got []*event.Event
	asm := NewAssembler(func(ev *event.Event) { got = append(got, ev) })
	for _, m := range stream {
		if err := asm.Netlink(m.typ, append(slices.Clone(m.body), 0)); err != nil {
			t.Fatal(err)
		}
	}
	asm.Flush()
	key := func(ev *event.Event) string {
		return ev.Time.String() + ev.Kind.String() + ev.Path + strings.Join(ev.Process.Argv, "\x00")
	}
	gotKeys, wantKeys := map[string]int{}, map[string]int{}
	for _, ev := range got {
		gotKeys[key(ev)]++
	}
	for _, ev := range want {
		wantKeys[key(ev)]++
	}
	if len(got) != len(want) {
		t.Errorf("netlink gave %d events, text %d", len(got), len(want))
	}
	for k, n := range wantKeys {
		if gotKeys[k] != n {
			t.Errorf("event %.80q: netlink %d, text %d", k, gotKeys[k], n)
		}
	}
	if st := asm.Stats(); st.Late != 0 || st.Incomplete != 0 || st.ParseErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Syscall numbers differ per arch; these lines follow the kernel's format
// for i386 and aarch64 callers.
func TestArches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		kind  event.Kind
		path  string
		argv  []string
	}{
		{
			name: "i386 execve",
			lines: []string{
				`node=build7 type=SYSCALL msg=audit(1700000000.001:10): arch=40000003 syscall=11 success=yes exit=0 ppid=1 pid=5 auid=1000 uid=1000 euid=1000 tty=pts1 ses=2 comm="tar" exe="/usr/bin/tar" key="stagewatch"`,
				`type=EXECVE msg=audit(1700000000.001:10): argc=2 a0="tar" a1="cf"`,
				`type=CWD msg=audit(1700000000.001:10): cwd="/home/u"`,
				`type=PROCTITLE msg=audit(1700000000.001:10): proctitle=7461720063660`,
			},
			kind: event.KindExec,
			argv: []string{"tar", "cf"},
		},
		{
			name: "aarch64 openat O_CREAT relative",
			lines: []string{
				`type=SYSCALL msg=audit(1700000000.002:11): arch=c00000b7 syscall=56 success=yes exit=3 a0=ffffffffffffff9c a1=1 a2=241 a3=1b6 items=2 ppid=1 pid=6 auid=1000 uid=1000 euid=1000 tty=pts1 ses=2 comm="cp" exe="/usr/bin/cp" key="f"`,
				`type=CWD msg=audit(1700000000.002:11): cwd="/tmp/stage"`,
				`type=PATH msg=audit(1700000000.002:11): item=0 name="/tmp/stage" inode=2 dev=fe:00 mode=040755 nametype=PARENT`,
				`type=PATH msg=audit(1700000000.002:11): item=1 name="a.pdf" inode=3 dev=fe:00 mode=0100644 nametype=CREATE`,
			},
			kind: event.KindFileCreate,
			path: "/tmp/stage/a.pdf",
		},
		{
			name: "i386 rename",
			lines: []string{
				`type=SYSCALL msg=audit(1700000000.003:12): arch=40000003 syscall=38 success=yes exit=0 items=4 ppid=1 pid=7 auid=1000 uid=1000 euid=1000 tty=pts1 ses=2 comm="mv" exe="/usr/bin/mv"`,
				`type=CWD msg=audit(1700000000.003:12): cwd="/home/u"`,
				`type=PATH msg=audit(1700000000.003:12): item=0 name="/home/u/" inode=4 dev=fe:00 mode=040755 nametype=PARENT`,
				`type=PATH msg=audit(1700000000.003:12): item=1 name="/mnt/" inode=5 dev=fe:00 mode=040755 nametype=PARENT`,
				`type=PATH msg=audit(1700000000.003:12): item=2 name="x.db" inode=6 dev=fe:00 mode=0100644 nametype=DELETE`,
				`type=PATH msg=audit(1700000000.003:12): item=3 name="/mnt/x.db" inode=6 dev=fe:00 mode=0100644 nametype=CREATE`,
			},
			kind: event.KindFileMoveIn,
			path: "/mnt/x.db",
		},
		{
			name: "x86_64 open read-only is not an event",
			lines: []string{
				`type=SYSCALL msg=audit(1700000000.004:13): arch=c000003e syscall=2 success=yes exit=3 a0=1 a1=0 items=1 pid=8 uid=0 comm="cat" exe="/usr/bin/cat"`,
				`type=PATH msg=audit(1700000000.004:13): item=0 name="/tmp/a" inode=7 dev=fe:00 mode=0100644 nametype=NORMAL`,
			},
		},
		{
			name: "x86_64 failed execve is not an event",
			lines: []string{
				`type=SYSCALL msg=audit(1700000000.005:14): arch=c000003e syscall=59 success=no exit=-2 pid=9 uid=0 comm="sh" exe="/usr/bin/dash"`,
				`type=EXECVE msg=audit(1700000000.005:14): argc=1 a0="nope"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var lines [][]byte
			for _, l := range tc.lines {
				lines = append(lines, []byte(l))
			}
			evs, st := replay(lines)
			if st.ParseErrors != 0 {
				t.Fatalf("parse errors: %v", st.FirstError)
			}
			if tc.kind == 0 {
				if len(evs) != 0 {
					t.Errorf("got %d events, want none", len(evs))
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != tc.kind || evs[0].Path != tc.path || (tc.argv != nil && !slices.Equal(evs[0].Process.Argv, tc.argv)) {
				for _, ev := range evs {
					t.Logf("%s %q %q", ev.Kind, ev.Path, ev.Process.Argv)
				}
				t.Errorf("want one %s path %q argv %q", tc.kind, tc.path, tc.argv)
			}
			if tc.name == "i386 execve" && evs[0].Host != "build7" {
				t.Errorf("host %q, want build7 from node=", evs[0].Host)
			}
		})
	}
}

func FuzzLine(f *testing.F) {
	for _, name := range []string{"staging.log", "benign.log", "mangled.log"} {
		for i, l := range readFixture(f, name) {
			if i%7 == 0 {
				f.Add(l)
			}
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		a := NewAssembler(func(*event.Event) {})
		err := a.Line(line)
		if st := a.Stats(); (err != nil) != (st.ParseErrors > 0 && st.Records == 0) && err != nil {
			t.Errorf("error %v but stats %+v", err, st)
		}
		_ = a.Netlink(TypeExecve, line)
		a.Flush()
	})
}

func BenchmarkLine(b *testing.B) {
	var lines [][]byte
	for _, name := range []string{"staging.log", "benign.log"} {
		lines = append(lines, readFixture(b, name)...)
	}
	var bytesTotal int
	for _, l := range lines {
		bytesTotal += len(l)
	}
	b.SetBytes(int64(bytesTotal))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		a := NewAssembler(func(*event.Event) {})
		for _, l := range lines {
			_ = a.Line(l)
		}
		a.Flush()
		records += len(lines)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// coreutils' mv renames into a directory through a dirfd:
// renameat2(AT_FDCWD, "/home/sweval/Mail/Exports/contract-1.eml", 3,
// "contract-1.eml"). auditd records the new name's PARENT first, named as
// the cwd, then the old one's: the new name lies in the directory mkdir -p
// made, learned from its inode, not in the cwd. Recorded with auditd by
// the evaluation suite (plugins/linux/eval, stage-mail-mv-tar-then-gzip-mnt).
func TestMoveIntoDirfd(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/mv-into-dirfd.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var moves []string
	a := NewAssembler(func(e *event.Event) {
		if e.Kind == event.KindFileMoveIn {
			moves = append(moves, e.SourcePath+" -> "+e.Path)
		}
	})
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := a.Line(sc.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	a.Flush()
	want := []string{}
	for i := 1; i <= 4; i++ {
		want = append(want, fmt.Sprintf("/home/sweval/Mail/Exports/contract-%d.eml -> /mnt/scratch/.m/contract-%d.eml", i, i))
	}
	if strings.Join(moves, "\n") != strings.Join(want, "\n") {
		t.Errorf("moves:\n%s\nwant:\n%s", strings.Join(moves, "\n"), strings.Join(want, "\n"))
	}
}
