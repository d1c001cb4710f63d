//go:build linux

package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// SmallFS mounts a tmpfs of size bytes (mode 0700, root's) for the test
// and returns its path; it is unmounted when the test ends. It needs root.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	RequireRoot(t, "mounting a small file system")
	dir := filepath.Join(t.TempDir(), "smallfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		Unavailable(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// FillFS writes a file in dir until the file system is full and returns
// its path; removing it frees the space.
func FillFS(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if err == io.ErrShortWrite || isNoSpace(err) {
				return path
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

func isNoSpace(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == unix.ENOSPC
}
