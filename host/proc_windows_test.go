package host_test

import "os"

// processGone is approximate on Windows: FindProcess opens a handle, which
// fails once the process is gone and reaped.
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	p.Release()
	return false
}
