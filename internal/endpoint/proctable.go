package endpoint

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Process table bounds. An image replaced by exec, or a process gone, is
// kept for retainGone so that file events read a little late still find
// their writer; maxAncestry stops a corrupt ppid loop.
const (
	defaultMaxProcesses = 16384
	retainGone          = 30 * time.Second
	maxImagesPerPID     = 4
	maxAncestry         = 16
)

// image is one program a pid ran, from its exec (or from the platform's
// process lookup for a process that was running before collection started).
type image struct {
	proc  event.Process // Argv, Exe, Cwd, PPID; Parent and Ancestors filled
	actor event.Actor
	start time.Time // exec time; zero when read from /proc (valid for any time)
	gone  time.Time // when replaced by a later exec or found exited
	exec  bool      // seen exec'ing, not looked up after the fact
}

// procTable maps pids to what they ran: the writer of a file event and the
// parent chain of an exec come from here. Safe for concurrent use: fanotify
// looks writers up on its reading goroutine.
type procTable struct {
	mu     sync.RWMutex
	byPID  map[int64][]*image // newest first
	max    int
	lookup func(pid int64) (event.Process, event.Actor, bool) // live fallback (/proc); nil in replay
	misses uint64                                             // lookups found nowhere
	evicts uint64
}

func newProcTable(max int, lookup func(int64) (event.Process, event.Actor, bool)) *procTable {
	if max <= 0 {
		max = defaultMaxProcesses
	}
	return &procTable{byPID: map[int64][]*image{}, max: max, lookup: lookup}
}

// exec records ev (a KindExec event) and fills its Parent and Ancestors
// from the table when the collector left them empty.
func (t *procTable) exec(ev *event.Event) {
	p := &ev.Process
	if p.PID <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.Parent == "" && len(p.Ancestors) == 0 {
		p.Ancestors = t.ancestryLocked(p.PPID, p.ParentGUID, ev.Time)
		if len(p.Ancestors) > 0 {
			p.Parent = p.Ancestors[0]
		}
	}
	if ev.Actor.Session == "" && ev.Actor.Scope == "" {
		ev.Actor.Scope = t.scopeLocked(p.PID, p.PPID, ev.Time, true)
	}
	img := &image{proc: *p, actor: ev.Actor, start: ev.Time, exec: true}
	list := t.byPID[p.PID]
	for _, old := range list {
		if old.gone.IsZero() {
			old.gone = ev.Time
		}
	}
	list = append([]*image{img}, list...)
	if len(list) > maxImagesPerPID {
		list = list[:maxImagesPerPID]
	}
	t.byPID[p.PID] = list
	if len(t.byPID) > t.max {
		t.evictLocked()
	}
}

// at returns what pid was running at time at (zero: now), falling back to
// the live lookup for processes the table never saw exec.
func (t *procTable) at(pid int64, at time.Time) (*image, bool) {
	if pid <= 0 {
		return nil, false
	}
	t.mu.RLock()
	img := pick(t.byPID[pid], at)
	t.mu.RUnlock()
	if img != nil {
		return img, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.procLocked(pid)
}

// pickGUID chooses the image whose process GUID is guid, where the
// platform gives one (Windows): a reused pid cannot confuse it. Without a
// GUID, or when none matches, it is pick's choice by time.
func pickGUID(list []*image, at time.Time, guid string) *image {
	if guid != "" {
		for _, img := range list {
			if img.proc.GUID == guid {
				return img
			}
		}
		for _, img := range list {
			if img.proc.GUID != "" && img.start.Before(at) {
				// A pid whose images all carry GUIDs, none this one: another
				// process had the pid before.
				return nil
			}
		}
	}
	return pick(list, at)
}

// pick chooses the newest image started by at; a zero at means the newest.
func pick(list []*image, at time.Time) *image {
	for _, img := range list {
		if at.IsZero() || img.start.IsZero() || !img.start.After(at) {
			return img
		}
	}
	return nil
}

func (t *procTable) procLocked(pid int64) (*image, bool) {
	if img := pick(t.byPID[pid], time.Time{}); img != nil {
		return img, true
	}
	if t.lookup == nil {
		t.misses++
		return nil, false
	}
	proc, actor, ok := t.lookup(pid)
	if !ok {
		t.misses++
		return nil, false
	}
	proc.PID = pid
	if actor.Session == "" && actor.Scope == "" {
		actor.Scope = t.scopeLocked(pid, proc.PPID, time.Time{}, true)
	}
	img := &image{proc: proc, actor: actor}
	t.byPID[pid] = append(t.byPID[pid], img)
	if len(t.byPID) > t.max {
		t.evictLocked()
	}
	return img, true
}

// jobLaunchers start services and jobs: a process they start heads a
// subtree of its own, one actor when no one is logged in (each cron job run,
// each service a supervisor keeps).
var jobLaunchers = map[string]bool{"cron": true, "crond": true, "anacron": true, "atd": true, "systemd": true,
	"init": true, "launchd": true, "supervisord": true, "runsv": true, "s6-supervise": true, "containerd-shim": true,
	"containerd-shim-runc-v2": true, "conmon": true, "runc": true, "tini": true, "dumb-init": true, "services.exe": true,
	"svchost.exe": true, "taskeng.exe": true, "taskhostw.exe": true}

// scopeLocked names the process subtree of a process with no login
// session: the pid at its top, just below pid 1 or a job launcher, or the
// nearest parent the table does not know (a shell started before
// collection: its children are one job).
func (t *procTable) scopeLocked(pid, ppid int64, at time.Time, lookup bool) string {
	top, parent := pid, ppid
	for range maxAncestry {
		if parent <= 1 {
			break
		}
		img := pick(t.byPID[parent], at)
		if img == nil && lookup {
			img, _ = t.procLocked(parent)
		}
		if img == nil {
			top = parent
			break
		}
		if jobLaunchers[baseName(exeOf(&img.proc))] {
			break
		}
		top, parent = parent, img.proc.PPID
	}
	return strconv.FormatInt(top, 10)
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return strings.ToLower(p[i+1:])
		}
	}
	return strings.ToLower(p)
}

// ancestryLocked walks the parent chain from ppid, nearest first.
func (t *procTable) ancestryLocked(ppid int64, parentGUID string, at time.Time) []string {
	var chain []string
	seen := map[int64]bool{}
	for pid, guid := ppid, parentGUID; pid > 0 && len(chain) < maxAncestry && !seen[pid]; {
		seen[pid] = true
		img := pickGUID(t.byPID[pid], at, guid)
		if img == nil {
			var ok bool
			if img, ok = t.procLocked(pid); !ok || guid != "" && img.proc.GUID != "" && img.proc.GUID != guid {
				break
			}
		}
		chain = append(chain, exeOf(&img.proc))
		pid, guid = img.proc.PPID, img.proc.ParentGUID
	}
	return chain
}

func exeOf(p *event.Process) string {
	if p.Exe != "" {
		return p.Exe
	}
	if len(p.Argv) > 0 {
		return p.Argv[0]
	}
	return ""
}

// lookupForWatcher is a file collector's Lookup: the writer as the table
// knows it now (most writers exec'd moments ago), the platform's process
// lookup otherwise.
func (t *procTable) lookupForWatcher(pid int64) (event.Process, event.Actor, bool) {
	img, ok := t.at(pid, time.Time{})
	if !ok {
		return event.Process{}, event.Actor{}, false
	}
	return img.proc, img.actor, true
}

// enrich fills a file event's writer from the exec the table recorded for
// it, which beats what the sensor could read at the time: audit's ids and
// tty, and the exe of a writer that had already exited.
func (t *procTable) enrich(ev *event.Event) {
	pid := ev.Process.PID
	if pid <= 0 {
		return
	}
	t.mu.RLock()
	img := pickGUID(t.byPID[pid], ev.Time, ev.Process.GUID)
	t.mu.RUnlock()
	if img == nil || (!img.exec && ev.Process.Exe != "") {
		if ev.Actor.Session == "" && ev.Actor.Scope == "" && ev.Process.PPID > 0 {
			// A fork that never exec'd (tar writing its archive, a shell's
			// subshell): its parent's subtree.
			t.mu.RLock()
			ev.Actor.Scope = t.scopeLocked(pid, ev.Process.PPID, ev.Time, false)
			t.mu.RUnlock()
		}
		return
	}
	ev.Process = img.proc
	ev.Process.PID = pid
	ev.Actor = img.actor
}

// sweep drops images replaced or gone for retainGone; alive reports
// whether a pid still exists (nil in replay, where only the cap applies).
func (t *procTable) sweep(now time.Time, alive func(pid int64) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for pid, list := range t.byPID {
		if alive != nil && list[0].gone.IsZero() && now.Sub(list[0].start) > retainGone && !alive(pid) {
			list[0].gone = now
		}
		kept := list[:0]
		for _, img := range list {
			if img.gone.IsZero() || now.Sub(img.gone) <= retainGone {
				kept = append(kept, img)
			}
		}
		if len(kept) == 0 {
			delete(t.byPID, pid)
		} else {
			t.byPID[pid] = kept
		}
	}
}

// evictLocked makes room by dropping the pids whose newest image is
// oldest, a tenth of the table at a time so the sort is amortized.
func (t *procTable) evictLocked() {
	excess := len(t.byPID) - t.max + t.max/10
	if excess <= 0 {
		return
	}
	type aged struct {
		pid   int64
		start time.Time
	}
	all := make([]aged, 0, len(t.byPID))
	for pid, list := range t.byPID {
		all = append(all, aged{pid, list[0].start})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.start.Compare(b.start) })
	for _, a := range all[:min(excess, len(all))] {
		delete(t.byPID, a.pid)
		t.evicts++
	}
}

// setLookup switches the live process lookup (/proc on Linux): on live,
// off for replayed logs, whose pids belong to another machine or another
// time.
func (t *procTable) setLookup(lookup func(int64) (event.Process, event.Actor, bool)) {
	t.mu.Lock()
	t.lookup = lookup
	t.mu.Unlock()
}

func (t *procTable) size() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byPID)
}

func (t *procTable) counters() (misses, evicts uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.misses, t.evicts
}
