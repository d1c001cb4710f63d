//go:build windows

package safepath

import (
	"io/fs"
	"os"
)

// Trusted is not checked on Windows yet: there, as osquery does, the
// installer sets the ACLs of the install directory.
func Trusted(path string) error {
	if _, err := os.Stat(path); err != nil {
		return &Error{Path: path, Problem: err.Error()}
	}
	return nil
}

// OwnDir creates dir when missing; ACLs are the installer's on Windows.
func OwnDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return &Error{Path: dir, Problem: err.Error()}
	}
	return nil
}

// OwnedFile is not checked on Windows yet (see Trusted).
func OwnedFile(path string, info fs.FileInfo) error { return nil }
