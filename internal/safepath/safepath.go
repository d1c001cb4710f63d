// Package safepath checks the paths that code running as root reads code
// from or writes into, against the local user who plants a file or a link
// there: a plugin dropped into a world-writable plugin_dir, a socket path in
// /tmp, a results log that is a symlink to /etc/shadow.
//
// The rule is osquery's for extensions, applied to the whole path: a file
// and every directory above it are owned by root (or by the user the
// process runs as) and writable by no one else. One exception keeps
// ordinary layouts usable: a directory above the file's own may be
// world-writable when it is root's and sticky (/tmp), since there only an
// entry's owner can rename or remove it. The file's own directory never may.
package safepath

import (
	"fmt"
	"io/fs"
)

// Error is a path that is not safe, and why.
type Error struct {
	Path    string // the path at fault: the file, or one directory above it
	Problem string
}

func (e *Error) Error() string { return e.Path + ": " + e.Problem }

func modeText(m fs.FileMode) string { return fmt.Sprintf("%04o", uint32(m.Perm())|stickyBit(m)) }

func stickyBit(m fs.FileMode) uint32 {
	if m&fs.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}
