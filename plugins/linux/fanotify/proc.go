//go:build linux

package fanotify

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// ProcLookup is a Lookup that reads /proc/<pid>: exe, argv, cwd, parent pid
// and uids. It costs a handful of small reads, and it loses to short-lived
// writers (a cp that has exited); the plugin's process table, which sees
// execs as they happen, is the better source when there is one.
func ProcLookup(pid int64) (event.Process, event.Actor, bool) {
	dir := "/proc/" + strconv.FormatInt(pid, 10) + "/"
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return event.Process{}, event.Actor{}, false
	}
	proc := event.Process{PID: pid, PPID: event.Unknown}
	actor := event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown}
	for line := range strings.Lines(string(status)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		switch key {
		case "PPid":
			if len(fields) > 0 {
				proc.PPID = parseID(fields[0])
			}
		case "Uid":
			if len(fields) >= 2 {
				actor.UID, actor.EUID = parseID(fields[0]), parseID(fields[1])
			}
		}
	}
	if loginuid, err := os.ReadFile(dir + "loginuid"); err == nil {
		// 4294967295 is "never logged in".
		if id := parseID(strings.TrimSpace(string(loginuid))); id != 4294967295 {
			actor.AUID = id
		}
	}
	proc.Exe, _ = os.Readlink(dir + "exe")
	proc.Cwd, _ = os.Readlink(dir + "cwd")
	if cmdline, err := os.ReadFile(dir + "cmdline"); err == nil && len(cmdline) > 0 {
		for _, arg := range bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0}) {
			proc.Argv = append(proc.Argv, string(arg))
		}
	}
	return proc, actor, true
}

func parseID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return event.Unknown
	}
	return id
}
