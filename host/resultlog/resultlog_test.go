package resultlog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/host/resultlog"
)

func open(t *testing.T, path string, opts resultlog.Options) *resultlog.Log {
	t.Helper()
	l, err := resultlog.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func write(t *testing.T, l *resultlog.Log, s string) {
	t.Helper()
	if n, err := l.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func line(i int) string { return fmt.Sprintf("{\"n\":%d}\n", i) }

func content(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A file left ending in a partial line (a crash mid-write, a full disk)
// gets a newline before the next lines, so they never glue onto it.
func TestNextLinesStartOnAFreshLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log", "results.log")
	os.Mkdir(filepath.Dir(path), 0o750)
	if err := os.WriteFile(path, []byte(line(1)+`{"n":2,"torn`), 0o640); err != nil {
		t.Fatal(err)
	}
	l := open(t, path, resultlog.Options{})
	write(t, l, line(3))
	write(t, l, line(4))
	if got, want := content(t, path), line(1)+`{"n":2,"torn`+"\n"+line(3)+line(4); got != want {
		t.Fatalf("log is %q, want %q", got, want)
	}
}

// logrotate's create mode renames the log (and may create a new one): the
// next write goes to the file the path names now; nothing written before
// is lost from the renamed one.
func TestFollowsRename(t *testing.T) {
	t.Parallel()
	for _, created := range []bool{false, true} {
		t.Run(fmt.Sprintf("created=%v", created), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "results.log")
			l := open(t, path, resultlog.Options{})
			write(t, l, line(1))
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if created {
				if err := os.WriteFile(path, nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			write(t, l, line(2))
			if got := content(t, path+".1"); got != line(1) {
				t.Errorf("renamed log is %q", got)
			}
			if got := content(t, path); got != line(2) {
				t.Errorf("new log is %q", got)
			}
		})
	}
}

// A removed log is created again.
func TestFollowsRemoval(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.log")
	l := open(t, path, resultlog.Options{})
	write(t, l, line(1))
	os.Remove(path)
	write(t, l, line(2))
	if got := content(t, path); got != line(2) {
		t.Fatalf("log is %q", got)
	}
}

// logrotate's copytruncate mode truncates the log in place: the next write
// lands at the new end, with no hole of NULs where the old lines were.
func TestCopyTruncate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.log")
	l := open(t, path, resultlog.Options{MaxSize: 1 << 20})
	for i := range 10 {
		write(t, l, line(i))
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	write(t, l, line(10))
	if got := content(t, path); got != line(10) {
		t.Fatalf("log after truncation is %q", got)
	}
}

// Reopen (SIGHUP) opens the path again at once, without waiting for a write.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.log")
	l := open(t, path, resultlog.Options{})
	write(t, l, line(1))
	os.Rename(path, path+".1")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Size() != 0 {
		t.Fatalf("after Reopen: %v %v", info, err)
	}
	write(t, l, line(2))
	if got := content(t, path); got != line(2) {
		t.Fatalf("log is %q", got)
	}
	l.Close()
	if _, err := l.Write([]byte(line(3))); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// A link put where the log was is never followed, neither by a write
// after a rotation nor by Reopen, and the file it points to is untouched.
func TestReopenRefusesLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "results.log")
	target := filepath.Join(dir, "shadow")
	os.WriteFile(target, []byte("root:x:0:0\n"), 0o600)
	l := open(t, path, resultlog.Options{})
	write(t, l, line(1))
	os.Rename(path, path+".1")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), "results log") {
		t.Fatalf("Reopen onto a link: %v", err)
	}
	if _, err := l.Write([]byte(line(2))); err == nil {
		t.Fatal("Write through a link succeeded")
	}
	if got := content(t, target); got != "root:x:0:0\n" {
		t.Fatalf("link target is now %q", got)
	}
	// Once the link is gone, writing goes on in a new file.
	os.Remove(path)
	write(t, l, line(3))
	if got := content(t, path); got != line(3) {
		t.Fatalf("log is %q", got)
	}
}

// With a cap, the log rotates before a write would pass it: every file
// ends on a whole line, none is over the cap (each write here is smaller
// than it), only MaxFiles rotated files are kept, and read oldest first
// the files hold the most recent lines in order.
func TestSizeCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "results.log")
	const maxSize = 100
	l := open(t, path, resultlog.Options{MaxSize: maxSize, MaxFiles: 2})
	var all strings.Builder
	for i := range 40 {
		s := line(i)
		if i%3 == 0 {
			s += line(1000 + i) // some writes carry two lines
		}
		write(t, l, s)
		all.WriteString(s)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 kept: %v", path, err)
	}
	var kept string
	for _, p := range []string{path + ".2", path + ".1", path} {
		c := content(t, p)
		if c == "" || !strings.HasSuffix(c, "\n") || len(c) > maxSize {
			t.Errorf("%s: %d bytes %q, want whole lines within %d bytes", p, len(c), c, maxSize)
		}
		kept += c
	}
	if want := all.String(); !strings.HasSuffix(want, kept) || len(kept) <= maxSize {
		t.Fatalf("kept %q, want the end of %q", kept, want)
	}

	// A write larger than the cap goes whole into a fresh file.
	big := strings.Repeat(line(7), 20)
	write(t, l, big)
	if got := content(t, path); got != big {
		t.Fatalf("a write over the cap: log is %q", got)
	}
}

// A torn file is ended with a newline before it is rotated.
func TestRotatedFileEndsOnALine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.log")
	os.WriteFile(path, []byte(line(1)+`{"torn`), 0o640)
	l := open(t, path, resultlog.Options{MaxSize: 20})
	write(t, l, line(2))
	if got := content(t, path+".1"); got != line(1)+`{"torn`+"\n" {
		t.Errorf("rotated file is %q", got)
	}
	if got := content(t, path); got != line(2) {
		t.Errorf("log is %q", got)
	}
}

// The directory is checked on every open, as the first one.
func TestOpenChecksTheDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "log")
	path := filepath.Join(dir, "results.log")
	l := open(t, path, resultlog.Options{})
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o750 {
		t.Fatalf("log directory: %v %v", info, err)
	}
	os.Chmod(dir, 0o770)
	if err := l.Reopen(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("Reopen in a group-writable directory: %v", err)
	}
	if _, err := resultlog.Open(path, resultlog.Options{}); err == nil {
		t.Fatal("Open in a group-writable directory succeeded")
	}
	// The file stays open: writing goes on.
	write(t, l, line(1))
}
