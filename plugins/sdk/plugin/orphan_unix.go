//go:build unix

package plugin

import (
	"os"
	"time"
)

// watchHost calls gone once when the host process that started this plugin
// is no longer its parent: the host was killed (SIGKILL from osquery's
// watchdog, the OOM killer) and the plugin was re-parented. Without it a
// plugin would outlive its host with its kernel state in place (audit
// rules, fanotify marks), and the host's restart would start a second one.
// Linux also gets a parent-death signal at once; the check every
// parentCheck catches what that signal misses (it follows the thread that
// started the plugin, not the host process) and covers macOS.
func watchHost(gone func()) {
	ppid := os.Getppid()
	if ppid == 1 {
		// Started by init itself (a container's entrypoint): nothing to
		// outlive.
		return
	}
	setParentDeathSignal()
	if os.Getppid() != ppid {
		gone()
		return
	}
	go func() {
		t := time.NewTicker(parentCheck)
		defer t.Stop()
		for range t.C {
			if os.Getppid() != ppid {
				gone()
				return
			}
		}
	}()
}

const parentCheck = time.Second
