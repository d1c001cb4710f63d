package statedb

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// LockWait is how long a new process waits for the state's lock: the one
// it replaces (a plugin whose host was killed) may still be saving as it
// shuts down.
const LockWait = 10 * time.Second

// Lock takes the state directory for this process, waiting up to
// wait for a process that holds it to let go; a second live writer
// (another stagewatchd, a plugin left over) is refused, named by its pid,
// rather than writing the same database.
func Lock(dir string, wait time.Duration) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := openLockFile(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	deadline := time.Now().Add(wait)
	for {
		busy, err := tryLock(f)
		if err == nil {
			break
		}
		if !busy {
			f.Close()
			return nil, fmt.Errorf("state directory %s: lock: %w", dir, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			who := "another process"
			if pid := string(bytes.TrimSpace(holder)); pid != "" {
				who = "process " + pid
			}
			return nil, fmt.Errorf("state directory %s is in use by %s (waited %s)", dir, who, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// Unlock lets the state directory go.
func Unlock(f *os.File) {
	if f != nil {
		unlockFile(f)
		_ = f.Close()
	}
}
