package esxilog

import (
	"strings"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// taskMethods maps hostd's and the API's task names (vim.Type.method, or
// the API's descriptionId Type.method) to actions.
var taskMethods = map[string]activity.Action{
	"VirtualMachine.createSnapshot":          activity.SnapshotCreate,
	"VirtualMachine.createSnapshotEx":        activity.SnapshotCreate,
	"vm.Snapshot.remove":                     activity.SnapshotRemove,
	"VirtualMachineSnapshot.remove":          activity.SnapshotRemove,
	"VirtualMachine.removeAllSnapshots":      activity.SnapshotRemove,
	"VirtualMachine.consolidateDisks":        activity.SnapshotRemove,
	"vm.Snapshot.revert":                     activity.SnapshotRevert,
	"VirtualMachineSnapshot.revert":          activity.SnapshotRevert,
	"VirtualMachine.revertToCurrentSnapshot": activity.SnapshotRevert,
	"VirtualDiskManager.copyVirtualDisk":     activity.DiskCopy,
	"VirtualDiskManager.createVirtualDisk":   activity.DiskCreate,
	"VirtualDiskManager.moveVirtualDisk":     activity.FileMove,
	"FileManager.copyFile":                   activity.FileCopy,
	"FileManager.copyDatastoreFile":          activity.FileCopy,
	"FileManager.moveDatastoreFile":          activity.FileMove,
	"FileManager.moveFile":                   activity.FileMove,
	"VirtualMachine.clone":                   activity.VMClone,
	"VirtualMachine.instantClone":            activity.VMClone,
	"VirtualMachine.exportVm":                activity.VMExport,
	"VirtualApp.exportVApp":                  activity.VMExport,
	"VirtualMachine.migrate":                 activity.VMMigrate,
	"VirtualMachine.relocate":                activity.VMMigrate,
	"Drm.ExecuteVMotionLRO":                  activity.VMMigrate,
}

// TaskAction is the action of a task name ("vim.VirtualMachine.clone",
// "VirtualMachine.createSnapshot"), Other when it is not one of staging's.
func TaskAction(name string) activity.Action {
	name = strings.TrimPrefix(name, "vim.")
	if a, ok := taskMethods[name]; ok {
		return a
	}
	return activity.Other
}

// classify turns a parsed line into the events it reports; most lines
// report none.
func classify(l *Line) []activity.Event {
	app := strings.ToLower(l.App)
	var evs []activity.Event
	switch app {
	case "hostd":
		evs = hostd(l)
	case "shell":
		evs = shell(l)
	case "sshd", "dropbear":
		evs = sshd(l)
	default:
		return nil
	}
	for i := range evs {
		e := &evs[i]
		e.Time, e.Host = l.Time, l.Host
		if e.OpID == "" {
			e.OpID = l.OpID
		}
		if e.User == "" {
			e.User = l.User
		}
		if e.Datastore == "" {
			e.Datastore = activity.DatastoreOf(firstNonEmpty(e.Dest, e.Path))
		}
	}
	return evs
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// hostd reads "Task Created : haTask-ENTITY-vim.Type.method-N", the
// ha-eventmgr's logins ("Event N : User root@10.0.0.5 logged in as UA")
// and datastore browser transfers ("File upload to path '[ds] p' was
// initiated from 'user@addr' …").
func hostd(l *Line) []activity.Event {
	m := l.Msg
	if rest, ok := strings.CutPrefix(m, "Task Created : "); ok {
		task := firstWord(rest)
		entity, method, ok := haTask(task)
		if !ok {
			return nil
		}
		a := TaskAction(method)
		if a == activity.Other {
			return nil
		}
		e := activity.Event{Source: activity.SourceHostd, Action: a, TaskID: task, Details: "vim." + strings.TrimPrefix(method, "vim.")}
		if vmID(entity) {
			e.VM = entity
		}
		// vim-cmd run on the host calls hostd with its own opID.
		if strings.HasPrefix(l.OpID, "vim-cmd") {
			e.Tool = "vim-cmd"
		}
		return []activity.Event{e}
	}
	if _, rest, ok := strings.Cut(m, "Event "); ok && strings.HasPrefix(m, "Event ") {
		_, text, ok := strings.Cut(rest, " : ")
		if !ok {
			return nil
		}
		if who, ua, ok := strings.Cut(text, " logged in as "); ok && strings.HasPrefix(who, "User ") {
			user, peer := userAt(strings.TrimPrefix(who, "User "))
			return []activity.Event{{Source: activity.SourceHostd, Action: activity.Login, User: user, Peer: peer, UserAgent: strings.TrimSpace(ua), Details: text}}
		}
		for _, t := range []struct {
			prefix string
			action activity.Action
		}{{"File upload to path '", activity.FileUpload}, {"File download from path '", activity.FileDownload}} {
			rest, ok := strings.CutPrefix(text, t.prefix)
			if !ok {
				continue
			}
			p, rest, _ := strings.Cut(rest, "'")
			e := activity.Event{Source: activity.SourceHostd, Action: t.action, Details: text}
			if t.action == activity.FileUpload {
				e.Dest = p
			} else {
				e.Path = p
			}
			if _, from, ok := strings.Cut(rest, "initiated from '"); ok {
				who, _, _ := strings.Cut(from, "'")
				e.User, e.Peer = userAt(who)
			}
			e.Failed = strings.Contains(rest, "status 'Fail")
			return []activity.Event{e}
		}
	}
	return nil
}

// haTask splits "haTask-1-vim.VirtualMachine.createSnapshot-245" into
// its entity ("1", "ha-host", "" for none) and method.
func haTask(task string) (entity, method string, ok bool) {
	rest, ok := strings.CutPrefix(task, "haTask-")
	if !ok {
		return "", "", false
	}
	i := strings.Index(rest, "-vim.")
	if i < 0 {
		return "", "", false
	}
	entity, method = rest[:i], rest[i+1:]
	if j := strings.LastIndexByte(method, '-'); j > 0 {
		method = method[:j]
	}
	return entity, method, true
}

// vmID: hostd names VMs by number (vmid); other entities by name.
func vmID(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// userAt splits "root@10.0.0.5" (or a bare user).
func userAt(s string) (user, peer string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '@'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// shell reads shell.log: "[root]: COMMAND" and session starts.
func shell(l *Line) []activity.Event {
	m := l.Msg
	if strings.HasPrefix(m, "Interactive shell session started") {
		return []activity.Event{{Source: activity.SourceShell, Action: activity.Login, Details: m}}
	}
	if !strings.HasPrefix(m, "[") {
		return nil
	}
	end := strings.Index(m, "]: ")
	if end < 0 {
		return nil
	}
	user, line := m[1:end], strings.TrimSpace(m[end+3:])
	if line == "" {
		return nil
	}
	evs := Command(line)
	for i := range evs {
		evs[i].Source, evs[i].User = activity.SourceShell, user
	}
	return evs
}

// sshd reads auth.log: logins ("Accepted password for root from ADDR
// port N ssh2") and the non-interactive commands ESXi's sshd logs
// ("User 'root' running command 'CMD'").
func sshd(l *Line) []activity.Event {
	m := l.Msg
	if rest, ok := strings.CutPrefix(m, "Accepted "); ok {
		_, rest, ok = strings.Cut(rest, " for ")
		if !ok {
			return nil
		}
		user, rest, _ := strings.Cut(rest, " from ")
		peer := firstWord(rest)
		return []activity.Event{{Source: activity.SourceSSH, Action: activity.Login, User: user, Peer: peer, Details: m}}
	}
	if rest, ok := strings.CutPrefix(m, "User '"); ok {
		user, rest, ok := strings.Cut(rest, "' running command '")
		if !ok {
			return nil
		}
		line := strings.TrimSuffix(rest, "'")
		evs := Command(line)
		for i := range evs {
			evs[i].Source, evs[i].User = activity.SourceSSH, user
		}
		return evs
	}
	return nil
}
