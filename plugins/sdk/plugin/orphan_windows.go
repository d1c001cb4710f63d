//go:build windows

package plugin

import "os"

// watchHost calls gone once the host process that started this plugin
// exits. Windows does not re-parent an orphan, so the plugin waits on a
// handle to its parent instead of polling its parent's pid.
func watchHost(gone func()) {
	parent, err := os.FindProcess(os.Getppid())
	if err != nil {
		return
	}
	go func() {
		if _, err := parent.Wait(); err == nil {
			gone()
		}
	}()
}
