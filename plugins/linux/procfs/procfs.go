//go:build linux

// Package procfs reads what /proc shows of a process: the one reader behind
// the fanotify watcher's lookups of writers it has not seen exec'ing and the
// proc connector's exec events.
package procfs

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/linuxactor"
)

// Root is where procfs is normally mounted.
const Root = "/proc"

// unset is the kernel's "never set" login uid and session id.
const unset = "4294967295"

// Read returns process pid as /proc (mounted at root) shows it now: exe,
// argv, cwd and parent pid; uid, euid, login uid, tty and session. What
// cannot be read stays empty or event.Unknown; ok is false when the status
// file cannot be read (the process is gone). It costs a handful of small
// reads and loses to processes that have already exited.
func Read(root string, pid int64) (proc event.Process, actor event.Actor, ok bool) {
	dir := root + "/" + strconv.FormatInt(pid, 10) + "/"
	proc = event.Process{PID: pid, PPID: event.Unknown}
	actor = event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown}
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return proc, actor, false
	}
	proc.PPID, actor.UID, actor.EUID = parseStatus(status)
	if b, err := os.ReadFile(dir + "loginuid"); err == nil {
		if s := strings.TrimSpace(string(b)); s != unset {
			actor.AUID = parseID(s)
		}
	}
	if b, err := os.ReadFile(dir + "sessionid"); err == nil {
		if s := strings.TrimSpace(string(b)); s != unset {
			actor.Session = s
		}
	}
	if stat, err := os.ReadFile(dir + "stat"); err == nil {
		actor.TTY = TTYName(stat)
	}
	linuxactor.Set(&actor)
	proc.Exe, _ = os.Readlink(dir + "exe")
	proc.Cwd, _ = os.Readlink(dir + "cwd")
	if cmdline, err := os.ReadFile(dir + "cmdline"); err == nil && len(cmdline) > 0 {
		for _, arg := range bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0}) {
			proc.Argv = append(proc.Argv, string(arg))
		}
	}
	return proc, actor, true
}

// Lookup is Read below /proc, in the shape of fanotify.Options.Lookup.
func Lookup(pid int64) (event.Process, event.Actor, bool) { return Read(Root, pid) }

// Ancestors returns the executable of ppid and the chain above it, parent
// first, at most max long.
func Ancestors(root string, ppid int64, max int) (string, []string) {
	var chain []string
	for pid := ppid; pid > 1 && len(chain) < max; {
		dir := root + "/" + strconv.FormatInt(pid, 10) + "/"
		exe, _ := os.Readlink(dir + "exe")
		chain = append(chain, exe)
		status, err := os.ReadFile(dir + "status")
		if err != nil {
			break
		}
		pid, _, _ = parseStatus(status)
	}
	if len(chain) == 0 {
		return "", nil
	}
	return chain[0], chain
}

// parseStatus takes PPid and the real and effective Uid from
// /proc/PID/status; what is missing is event.Unknown.
func parseStatus(b []byte) (ppid, uid, euid int64) {
	ppid, uid, euid = event.Unknown, event.Unknown, event.Unknown
	for line := range strings.Lines(string(b)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		switch key {
		case "PPid":
			if len(fields) > 0 {
				ppid = parseID(fields[0])
			}
		case "Uid":
			if len(fields) >= 2 {
				uid, euid = parseID(fields[0]), parseID(fields[1])
			}
		}
	}
	return ppid, uid, euid
}

func parseID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return event.Unknown
	}
	return id
}

// TTYName maps tty_nr (field 7 of /proc/PID/stat) to a name like audit's.
func TTYName(stat []byte) string {
	// comm (field 2) may hold spaces and parentheses: fields after it start
	// after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 5 {
		return ""
	}
	nr, err := strconv.ParseUint(f[4], 10, 32)
	if err != nil || nr == 0 {
		return "(none)"
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatUint(minor, 10)
	case major >= 136 && major <= 143:
		return "pts" + strconv.FormatUint((major-136)*256+minor, 10)
	}
	return "tty" + strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10)
}
