package staging

import (
	"slices"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Script collection (Config.ScriptContexts, macOS's
// ScriptInvocationContext). DET0014's macOS analytic names osascript and
// shell automation launched by non-GUI parents as the way files are
// collected before they are compressed. Two things follow from how macOS
// reports them:
//
//   - An AppleScript that tells Finder to duplicate or copy files does not
//     write them: Finder does, in the GUI login's session, whoever ran the
//     script (an ssh login has a session of its own). A write by an
//     AppleScript target (Finder, System Events) within scriptLink after
//     an osascript exec by the same uid is that osascript's: its process
//     and its actor, so that the archive step that follows in the ssh
//     session finds the files as its own actor's.
//   - A sensitive file (a keychain, Notes' or Messages' database, a
//     browser profile, ~/.ssh, a user's Documents, Desktop or Downloads)
//     collected into a staging directory by osascript, or by a script (or
//     a tool it runs) launched from a context ScriptContexts names, is a
//     detection by itself: a collection step on the copy steps' machinery,
//     evaluated again as its files double, which an archive step over the
//     same group continues (one detection, the same UID).

// scriptLink is how long after an osascript exec an AppleScript target's
// writes are the script's: Finder duplicates at once, a large copy runs
// for seconds.
const scriptLink = int64(60e9)

// maxAppleScripts bounds the osascript execs remembered.
const maxAppleScripts = 16

// appleScriptRun is one osascript exec, remembered for the writes it asks
// an application for.
type appleScriptRun struct {
	time  int64
	uid   int64
	proc  event.Process
	actor event.Actor
	// named are the applications its command line tells (tell
	// application "Finder"); none for a script file, which may tell any.
	named []string
}

// appleScriptTargets are the applications whose work an AppleScript asks
// for, by lower-case executable base name: Finder and System Events write
// files themselves; Terminal runs the commands it is told to ("do script")
// in a shell of the GUI session, so what that shell and its children do is
// the script's too.
var appleScriptTargets = map[string]bool{"finder": true, "system events": true, "terminal": true}

// tells reports whether the run asks app (a lower-case base name) for work.
func (r *appleScriptRun) tells(app string) bool {
	return len(r.named) == 0 || slices.Contains(r.named, app)
}

// namedApps are the AppleScript targets an osascript command line tells.
func namedApps(argv []string) []string {
	var out []string
	for _, a := range argv {
		l := strings.ToLower(a)
		for app := range appleScriptTargets {
			if strings.Contains(l, `application "`+app+`"`) && !slices.Contains(out, app) {
				out = append(out, app)
			}
		}
	}
	return out
}

// rememberAppleScript notes an osascript exec.
func (c *Correlator) rememberAppleScript(ev *event.Event, t int64) {
	if c.copyByPID == nil || c.scriptContexts.empty() || c.style.baseName(ev.Process.Exe) != "osascript" {
		return
	}
	run := appleScriptRun{time: t, uid: ev.Actor.UID, proc: ev.Process, actor: ev.Actor, named: namedApps(ev.Process.Argv)}
	if len(c.appleScripts) >= maxAppleScripts {
		c.appleScripts = append(c.appleScripts[:0], c.appleScripts[1:]...)
	}
	c.appleScripts = append(c.appleScripts, run)
}

// linkAppleScript returns a file event as the osascript that asked for it
// when its writer is Finder or System Events acting for one (the
// osascript's process and actor), and an exec or file event of a shell
// Terminal started for one with the osascript's actor; ev itself
// otherwise. The bool says whether the writer became the osascript.
func (c *Correlator) linkAppleScript(ev *event.Event, t int64) (*event.Event, bool) {
	if len(c.appleScripts) == 0 {
		return ev, false
	}
	app := strings.ToLower(c.style.baseName(ev.Process.Exe))
	writer := ev.Kind != event.KindExec && (app == "finder" || app == "system events")
	if !writer {
		app = ""
		for _, a := range ev.Process.Ancestors {
			if strings.EqualFold(c.style.baseName(a), "Terminal") {
				app = "terminal"
				break
			}
		}
		if app == "" {
			return ev, false
		}
	}
	run := c.appleScriptFor(ev.Actor.UID, app, t)
	if run == nil {
		return ev, false
	}
	linked := *ev
	linked.Actor = run.actor
	if writer {
		linked.Process = run.proc
	}
	return &linked, writer
}

// appleScriptFor is the latest osascript exec by uid, within scriptLink
// before t, that tells app.
func (c *Correlator) appleScriptFor(uid int64, app string, t int64) *appleScriptRun {
	for i := len(c.appleScripts) - 1; i >= 0; i-- {
		run := &c.appleScripts[i]
		if run.time > t+int64(maxSkew) || t-run.time > scriptLink || run.uid != uid || uid < 0 || !run.tells(app) {
			continue
		}
		return run
	}
	return nil
}

// scriptedBy is the script that wrote ev's file, for a collection step:
// osascript itself, or the nearest script interpreter among the writer and
// its ancestors, when the launcher above it (the first ancestor that is no
// shell or interpreter) matches ScriptContexts; "" when none.
func (c *Correlator) scriptedBy(p *event.Process, linked bool) string {
	base := c.style.baseName(p.Exe)
	if linked || base == "osascript" {
		if c.scriptContexts.match("osascript") {
			return "osascript"
		}
		return ""
	}
	script := ""
	if isScriptHost(base) {
		script = base
	}
	for _, a := range p.Ancestors {
		ab := c.style.baseName(a)
		if isScriptHost(ab) {
			if ab == "osascript" && c.scriptContexts.match(ab) {
				return ab
			}
			if script == "" {
				script = ab
			}
			continue
		}
		if script != "" && c.scriptContexts.match(ab) {
			return script
		}
		return ""
	}
	return ""
}

// isScriptHost reports whether base is a shell or script interpreter.
func isScriptHost(base string) bool {
	info, ok := lookupTool(base)
	if ok && info.family == famScript {
		return true
	}
	for _, p := range []string{"python", "ruby", "perl"} {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return strings.EqualFold(base, "Python")
}

// macSensitiveSource is the sensitive type of a file collected from src on
// macOS: by its name, or by the user-profile place it comes from.
func (c *Correlator) macSensitiveSource(src string) category {
	if src == "" {
		return catNone
	}
	if cat := categorize(src, c.style); cat != catNone {
		return cat
	}
	if !hasPrefixFold(src, "/Users/") {
		return catNone
	}
	rest := src[len("/Users/"):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return catNone
	}
	rest = rest[slash+1:]
	for _, p := range macProfilePlaces {
		if hasPrefixFold(rest, p.prefix) {
			return p.cat
		}
	}
	return catNone
}

var macProfilePlaces = []struct {
	prefix string
	cat    category
}{
	{"Documents/", catDocument}, {"Desktop/", catDocument}, {"Downloads/", catDocument},
	{"Library/Keychains/", catKey}, {".ssh/", catKey},
	{"Library/Safari/", catKey}, {"Library/Application Support/Google/Chrome/", catKey},
	{"Library/Application Support/Firefox/", catKey}, {"Library/Application Support/BraveSoftware/", catKey},
	{"Library/Group Containers/group.com.apple.notes/", catDatabase}, {"Library/Messages/", catDatabase},
	{"Library/Mail/", catMail},
}

// collectionStep makes or updates the collection step of a script that
// collected a sensitive file into group g.
func (c *Correlator) collectionStep(ev *event.Event, t int64, g *group, linked bool, out []event.Detection) []event.Detection {
	if c.copyByPID == nil || c.scriptContexts.empty() || g == nil {
		return out
	}
	switch ev.Kind {
	case event.KindFileCopy, event.KindFileMoveIn, event.KindFileCreate, event.KindFileWrite:
	default:
		return out
	}
	src := ev.SourcePath
	cat := c.macSensitiveSource(src)
	if cat == catNone {
		return out
	}
	script := c.scriptedBy(&ev.Process, linked)
	if script == "" {
		return out
	}
	p := &ev.Process
	var s *step
	for _, cs := range c.copyByPID[p.PID] {
		if !cs.removed && cs.copy.group == g.key && cs.copy.collect && t-cs.time <= c.window {
			s = cs
			break
		}
	}
	if s == nil {
		info := &copyInfo{group: g.key, groupRaw: g.display, nextEmit: 1, collect: true}
		if g.inRoot {
			info.group, info.groupRaw = g.key, g.display
		}
		tool := script
		if linked {
			tool = "osascript through Finder"
		}
		key := stepKey{pid: p.PID, time: t, path: "collect:" + g.key}
		s = &step{key: key, kind: CommandCopy, time: t, pid: p.PID, ppid: p.PPID, actor: ev.Actor, exe: p.Exe,
			process: c.formatProcess(p.Exe, p), tool: tool, copy: info, automated: c.automated(ev)}
		c.stats.CopySteps++
		c.addStep(s)
		c.copyByPID[p.PID] = append(c.copyByPID[p.PID], s)
	}
	info := s.copy
	info.cats[cat]++
	if len(info.sources) < 8 && !slices.Contains(info.sources, src) {
		info.sources = append(info.sources, src)
	}
	info.seen++
	if info.seen >= info.nextEmit {
		info.nextEmit *= 2
		c.countCopied(s, g)
		out = c.emitCopy(s, out)
	}
	return out
}

// reexecInPlace reports whether an exec is the same command exec'ing again
// in its pid (macOS's /usr/bin/python3 and the other developer-tool shims
// exec the real tool with the same arguments): the step already taken is
// the command's, with the real tool's executable.
func reexecInPlace(prev *step, p *event.Process) bool {
	if prev == nil || len(p.Argv) < 2 || len(prev.args) != len(p.Argv) {
		return false
	}
	return slices.Equal(prev.args[1:], p.Argv[1:])
}
