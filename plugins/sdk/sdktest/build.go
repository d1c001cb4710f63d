package sdktest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// builds caches one build per plugin package for the life of the test
// binary: linking a gRPC plugin takes seconds, copying it milliseconds.
var builds = struct {
	sync.Mutex
	dir   string
	byPkg map[string]*build
}{byPkg: map[string]*build{}}

type build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BuildPlugin builds the plugin main package pkg (an import path) and
// returns the path of a private copy in t.TempDir(), which the test may
// alter freely. The first call per package in a test binary runs go build;
// call RemoveBuilds from TestMain to delete the cached builds afterwards.
func BuildPlugin(t testing.TB, pkg string) string {
	t.Helper()
	built, err := cachedBuild(pkg)
	if err != nil {
		t.Fatalf("sdktest: build %s: %v", pkg, err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(built))
	if err := copyExecutable(built, dst); err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	return dst
}

func cachedBuild(pkg string) (string, error) {
	builds.Lock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "stagewatch-sdktest-")
		if err != nil {
			builds.Unlock()
			return "", err
		}
		builds.dir = dir
	}
	b, ok := builds.byPkg[pkg]
	if !ok {
		b = &build{dir: filepath.Join(builds.dir, fmt.Sprint(len(builds.byPkg)))}
		builds.byPkg[pkg] = b
	}
	builds.Unlock()

	b.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		if err := os.Mkdir(b.dir, 0o755); err != nil {
			b.err = err
			return
		}
		out := filepath.Join(b.dir, path.Base(pkg))
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		if log, err := exec.Command(goTool, "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("%w\n%s", err, log)
			return
		}
		b.path = out
	})
	return b.path, b.err
}

// RemoveBuilds deletes the builds cached by BuildPlugin. Call it from
// TestMain after m.Run.
func RemoveBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir = ""
	builds.byPkg = map[string]*build{}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, copyErr := io.Copy(out, in)
	return errors.Join(copyErr, out.Close())
}
