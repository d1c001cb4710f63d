//go:build unix

package esclient

import (
	"os/exec"
	"syscall"
)

// setGroup puts the child in a process group of its own, so that stopping
// it stops whatever it started.
func setGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
