//go:build unix

package safepath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Trusted checks path (a file to run or read code from) and every
// directory above it, both as written and with symlinks resolved.
func Trusted(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return &Error{Path: path, Problem: err.Error()}
	}
	if err := checkChain(abs); err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return &Error{Path: abs, Problem: err.Error()}
	}
	if resolved != abs {
		return checkChain(resolved)
	}
	return nil
}

// checkChain checks the file at abs (followed, if a link) and, as written,
// each directory above it.
func checkChain(abs string) error {
	info, err := os.Stat(abs)
	if err != nil {
		return &Error{Path: abs, Problem: err.Error()}
	}
	if !info.Mode().IsRegular() {
		return &Error{Path: abs, Problem: "not a regular file"}
	}
	if err := owned(abs, info); err != nil {
		return err
	}
	if info.Mode().Perm()&0o022 != 0 {
		return &Error{Path: abs, Problem: fmt.Sprintf("writable by group or others (mode %s)", modeText(info.Mode()))}
	}
	own := true
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := checkDir(dir, own); err != nil {
			return err
		}
		own = false
		if dir == "/" {
			return nil
		}
	}
}

// checkDir checks one directory above a file; own is true for the file's
// own directory. A link is judged by where it leads, and its own directory
// by the chain that continues above it.
func checkDir(dir string, own bool) error {
	info, err := os.Stat(dir)
	if err != nil {
		return &Error{Path: dir, Problem: err.Error()}
	}
	if !info.IsDir() {
		return &Error{Path: dir, Problem: "not a directory"}
	}
	if err := owned(dir, info); err != nil {
		return err
	}
	perm := info.Mode().Perm()
	switch {
	case perm&0o022 == 0:
		return nil
	case !own && perm&0o002 != 0 && info.Mode()&fs.ModeSticky != 0 && ownerOf(info) == 0:
		// /tmp: others may add entries but not rename or remove ours.
		return nil
	}
	return &Error{Path: dir, Problem: fmt.Sprintf("writable by group or others (mode %s)", modeText(info.Mode()))}
}

func ownerOf(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// OwnedFile checks that a file the process opened is owned by root or by
// the user it runs as.
func OwnedFile(path string, info fs.FileInfo) error { return owned(path, info) }

func owned(path string, info fs.FileInfo) error {
	uid := ownerOf(info)
	if uid == 0 || uid == os.Geteuid() {
		return nil
	}
	return &Error{Path: path, Problem: fmt.Sprintf("owned by uid %d, not by root", uid)}
}

// OwnDir makes dir the process's own directory for what it creates there
// (a socket, state, logs) and returns nil when it is safe to use. A missing
// dir is created with mode, its missing parents 0755; a dir that exists is
// never chmod'ed or chown'ed: it must be a directory (not a link), owned by
// root or this process's user, and not writable by group or others, or the
// error says why. Its parents are checked as Trusted checks a file's.
func OwnDir(dir string, mode fs.FileMode) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &Error{Path: dir, Problem: err.Error()}
	}
	info, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return &Error{Path: abs, Problem: err.Error()}
		}
		if err := os.Mkdir(abs, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return &Error{Path: abs, Problem: err.Error()}
		}
		if info, err = os.Lstat(abs); err != nil {
			return &Error{Path: abs, Problem: err.Error()}
		}
	case err != nil:
		return &Error{Path: abs, Problem: err.Error()}
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		return &Error{Path: abs, Problem: "a symbolic link: refusing to follow it"}
	}
	if !info.IsDir() {
		return &Error{Path: abs, Problem: "not a directory"}
	}
	if err := owned(abs, info); err != nil {
		return err
	}
	if info.Mode().Perm()&0o022 != 0 {
		return &Error{Path: abs, Problem: fmt.Sprintf("writable by group or others (mode %s): use a directory only root can write", modeText(info.Mode()))}
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		if err := checkDir(d, false); err != nil {
			return err
		}
		if d == "/" {
			return nil
		}
	}
}
