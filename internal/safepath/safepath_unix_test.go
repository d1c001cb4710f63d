//go:build unix

package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/testenv"
)

const nobody = 65534

// base is a directory root owns and only root writes, below /tmp (which
// is root's and sticky, so it may be above a trusted file).
func base(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func write(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantProblem(t *testing.T, err error, path, problem string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Path != path || !strings.Contains(pe.Problem, problem) {
		t.Fatalf("error %v, want %s: …%s…", err, path, problem)
	}
}

func TestTrusted(t *testing.T) {
	testenv.RequireRoot(t, "files owned by another user are made with chown")
	t.Parallel()
	b := base(t)
	good := write(t, filepath.Join(b, "plugins", "stagewatch-linux"), 0o755)
	if err := Trusted(good); err != nil {
		t.Fatalf("a root-owned plugin in a root-owned tree: %v", err)
	}

	wide := write(t, filepath.Join(b, "wide", "p"), 0o755)
	os.Chmod(filepath.Dir(wide), 0o777)
	wantProblem(t, Trusted(wide), filepath.Dir(wide), "writable by group or others (mode 0777)")

	groupw := write(t, filepath.Join(b, "g", "p"), 0o775)
	wantProblem(t, Trusted(groupw), groupw, "writable by group or others")

	theirs := write(t, filepath.Join(b, "theirs", "p"), 0o755)
	os.Chown(theirs, nobody, nobody)
	wantProblem(t, Trusted(theirs), theirs, "owned by uid 65534")

	theirDir := write(t, filepath.Join(b, "theirdir", "sub", "p"), 0o755)
	os.Chown(filepath.Join(b, "theirdir"), nobody, nobody)
	wantProblem(t, Trusted(theirDir), filepath.Join(b, "theirdir"), "owned by uid 65534")

	// A sticky, world-writable directory may be above the file's own
	// directory (the tree here is below /tmp), never be it.
	sticky := filepath.Join(b, "sticky")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, os.ModeSticky|0o777)
	if err := Trusted(write(t, filepath.Join(sticky, "mine", "p"), 0o755)); err != nil {
		t.Fatalf("below a root-owned sticky directory: %v", err)
	}
	wantProblem(t, Trusted(write(t, filepath.Join(sticky, "p"), 0o755)), sticky, "mode 1777")

	// A link is judged where it leads too.
	link := filepath.Join(b, "plugins", "link")
	if err := os.Symlink(wide, link); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, Trusted(link), filepath.Dir(wide), "writable by group or others")

	if err := Trusted(filepath.Join(b, "plugins")); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
}

func TestOwnDir(t *testing.T) {
	testenv.RequireRoot(t, "directories owned by another user are made with chown")
	t.Parallel()
	b := base(t)
	fresh := filepath.Join(b, "run", "stagewatch")
	if err := OwnDir(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(fresh); info.Mode().Perm() != 0o700 {
		t.Fatalf("created with mode %o", info.Mode().Perm())
	}
	if err := OwnDir(fresh, 0o700); err != nil {
		t.Fatalf("again: %v", err)
	}

	// A directory others can write is refused and left as it was.
	for _, mode := range []os.FileMode{0o777, os.ModeSticky | 0o777, 0o770} {
		d := filepath.Join(b, "wide"+modeText(mode))
		os.Mkdir(d, 0o755)
		os.Chmod(d, mode)
		wantProblem(t, OwnDir(d, 0o700), d, "writable by group or others")
		if info, _ := os.Stat(d); info.Mode().Perm() != mode.Perm() {
			t.Fatalf("%s was changed to %o", d, info.Mode().Perm())
		}
	}
	wantProblem(t, OwnDir("/tmp", 0o700), "/tmp", "mode 1777")
	if info, _ := os.Stat("/tmp"); info.Mode().Perm() != 0o777 || info.Mode()&os.ModeSticky == 0 {
		t.Fatalf("/tmp is now %v", info.Mode())
	}

	link := filepath.Join(b, "link")
	os.Symlink(fresh, link)
	wantProblem(t, OwnDir(link, 0o700), link, "symbolic link")

	theirs := filepath.Join(b, "theirs")
	os.Mkdir(theirs, 0o700)
	os.Chown(theirs, nobody, nobody)
	wantProblem(t, OwnDir(theirs, 0o700), theirs, "owned by uid 65534")

	file := write(t, filepath.Join(b, "file"), 0o600)
	wantProblem(t, OwnDir(file, 0o700), file, "not a directory")

	// Made inside a directory others can write but not sticky: refused,
	// since another user could rename it away and put theirs there.
	open := filepath.Join(b, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	wantProblem(t, OwnDir(filepath.Join(open, "mine"), 0o700), open, "writable by group or others")
}
