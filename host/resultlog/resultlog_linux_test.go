//go:build linux

package resultlog_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stagewatch/stagewatch/host/resultlog"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

// A write the kernel cuts short (here by RLIMIT_FSIZE, as a full disk
// would) fails, and the next write starts on a fresh line rather than
// gluing onto the partial one. It changes a process-wide limit, so it
// does not run in parallel with the other tests.
func TestWriteCutShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.log")
	l := open(t, path, resultlog.Options{})
	write(t, l, line(1))

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// The file may grow by 10 bytes: the next write stops in its first line.
	const room = 10
	long := `{"n":2,"pad":"` + strings.Repeat("x", 40) + "\"}\n"
	cut := old
	cut.Cur = uint64(len(line(1)) + room)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &cut); err != nil {
		t.Fatal(err)
	}
	_, err := l.Write([]byte(long + line(3)))
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil {
		t.Fatal("a write past RLIMIT_FSIZE succeeded")
	}
	if got := content(t, path); got != line(1)+long[:room] {
		t.Fatalf("after the short write the log is %q", got)
	}

	write(t, l, line(4))
	if got, want := content(t, path), line(1)+long[:room]+"\n"+line(4); got != want {
		t.Fatalf("log is %q, want %q (the next write on a fresh line)", got, want)
	}
}

// A file another user put where the log was is not written to.
func TestReopenRefusesAnotherUsersFile(t *testing.T) {
	testenv.RequireRoot(t, "the planted file is chown'ed to nobody")
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.log")
	l := open(t, path, resultlog.Options{})
	write(t, l, line(1))
	os.Rename(path, path+".1")
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte(line(2))); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Write to a file owned by nobody: %v", err)
	}
	if got := content(t, path); got != "" {
		t.Fatalf("nobody's file now holds %q", got)
	}
}
