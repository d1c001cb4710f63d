// Package linuxactor says what a Linux actor's ids and terminal mean for
// staging: whether it is interactive and whether it is elevated. Every
// Linux collector and parser (audit records, /proc) sets an actor's flags
// here, so the shared model never guesses them from uids, which mean
// something else on Windows and macOS.
package linuxactor

import "github.com/stagewatch/stagewatch/internal/event"

// Set fills a's Interactive and Elevated from its ids and tty:
// interactive when it has a controlling terminal (audit writes "(none)"
// for none), elevated when it runs as root (euid 0) with a login uid or
// real uid that is not root: sudo, su, a setuid program.
func Set(a *event.Actor) {
	a.Interactive = a.TTY != "" && a.TTY != "(none)" && a.TTY != "?"
	a.Elevated = a.EUID == 0 && (a.AUID > 0 || a.UID > 0)
}
