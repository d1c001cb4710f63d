//go:build linux

package plugin

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setParentDeathSignal asks the kernel for SIGTERM when the parent goes,
// which runs the same clean shutdown as a SIGTERM from a person.
func setParentDeathSignal() {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
}
