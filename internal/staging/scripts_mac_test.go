package staging

import (
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// macCfg is AN0042's correlator as the endpoint layer configures it.
func macCfg() Config { return Config{AnalyticID: "AN0042", Platform: "darwin", Host: "mac"} }

func macCopy(at time.Duration, pid int64, exe, src, dst string, actor event.Actor, ancestors ...string) *event.Event {
	return &event.Event{Time: t0.Add(at), Kind: event.KindFileCopy, Path: dst, SourcePath: src, Size: 40_000, Actor: actor,
		Source: "eslogger", Process: event.Process{PID: pid, PPID: 1, Exe: exe, Ancestors: ancestors}}
}

const finder = "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder"

// An ssh login asks Finder to duplicate documents into /private/tmp, then
// zips them: Finder writes in the GUI session, the zip runs in the ssh
// session; linked to the osascript, the files are the ssh actor's.
func TestFinderDuplicateIsTheOsascripts(t *testing.T) {
	t.Parallel()
	gui := event.Actor{UID: 501, EUID: 501, AUID: 501, Session: "100004"}
	ssh := event.Actor{UID: 501, EUID: 501, AUID: 501, Session: "100031", TTY: "ttys004", Interactive: true}
	evs := seq(
		one(execEv(0, 900, 880, "/Users/carol", ssh, []string{"/bin/zsh", "/usr/libexec/sshd-session"},
			"/usr/bin/osascript", "-e", `tell application "Finder" to duplicate every file of folder "Documents" of home to POSIX file "/private/tmp/.cache"`)),
		one(macCopy(time.Second, 410, finder, "/Users/carol/Documents/plan.docx", "/private/tmp/.cache/plan.docx", gui, "/sbin/launchd")),
		one(macCopy(2*time.Second, 410, finder, "/Users/carol/Documents/budget.xlsx", "/private/tmp/.cache/budget.xlsx", gui, "/sbin/launchd")),
		one(execEv(20*time.Second, 920, 880, "/private/tmp", ssh, []string{"/bin/zsh", "/usr/libexec/sshd-session"},
			"/usr/bin/zip", "-qr", "c.zip", ".cache")),
	)
	_, all, uniq := run(t, macCfg(), evs)
	if len(uniq) != 1 {
		t.Fatalf("%d detections, want 1 (collection continued by the zip): %+v", len(uniq), all)
	}
	d := uniq[0]
	if d.StagingPath != "/private/tmp/.cache" || d.ArchivePath != "/private/tmp/c.zip" || d.FileCount != 2 ||
		!strings.Contains(d.Actor, "ses 100031") || !strings.Contains(d.Reason, "zip") {
		t.Errorf("detection %+v", d)
	}
	if !strings.Contains(all[0].Reason, "collected") || !strings.Contains(all[0].Reason, "osascript through Finder") {
		t.Errorf("first reason %q: want the collection through Finder", all[0].Reason)
	}

	// Without the osascript, Finder's copies stay the GUI session's: the
	// ssh zip over them is another actor's and raises nothing.
	_, _, uniq = run(t, macCfg(), evs[1:])
	if len(uniq) != 0 {
		t.Errorf("without osascript: %+v", uniq)
	}
}

// A launch agent's script copying the login keychain into a temp dir is a
// detection without an archive; the same copy from an interactive shell
// (launcher: login, not a script context) is not, until it is archived.
func TestScriptCollectionBySensitiveSource(t *testing.T) {
	t.Parallel()
	agent := event.Actor{UID: 501, EUID: 501, AUID: event.Unknown, Scope: "700"}
	kc := "/Users/carol/Library/Keychains/login.keychain-db"
	evs := []*event.Event{macCopy(0, 701, "/bin/cp", kc, "/Users/Shared/.u/login.keychain-db", agent, "/bin/bash", "/sbin/launchd")}
	_, _, uniq := run(t, macCfg(), evs)
	if len(uniq) != 1 || uniq[0].StagingPath != "/Users/Shared/.u" || uniq[0].FileCount != 1 || !strings.Contains(uniq[0].Reason, "keys or secrets") {
		t.Fatalf("launch agent collection: %+v", uniq)
	}
	evs = []*event.Event{macCopy(0, 701, "/bin/cp", kc, "/Users/Shared/.u/login.keychain-db", macCarol, "/bin/zsh", "/usr/bin/login")}
	if _, _, uniq = run(t, macCfg(), evs); len(uniq) != 0 {
		t.Errorf("interactive copy: %+v", uniq)
	}
	cfg := macCfg()
	cfg.ScriptContexts = []string{}
	evs = []*event.Event{macCopy(0, 701, "/bin/cp", kc, "/Users/Shared/.u/login.keychain-db", agent, "/bin/bash", "/sbin/launchd")}
	if _, _, uniq = run(t, cfg, evs); len(uniq) != 0 {
		t.Errorf("ScriptContexts off: %+v", uniq)
	}
}

// /usr/bin/python3 is a shim that execs the real interpreter in the same
// pid with the same arguments: one archive step, not two.
func TestShimReexecIsOneStep(t *testing.T) {
	t.Parallel()
	anc := []string{"/bin/zsh"}
	args := []string{"-m", "zipfile", "-c", "/private/tmp/x.zip", "/private/tmp/x"}
	evs := seq(
		copyInto(0, 300, "/bin/cp", macCarol, "/private/tmp/x/a.docx", "/private/tmp/x/b.docx"),
		one(execEv(10*time.Second, 310, 200, "/Users/carol", macCarol, anc, append([]string{"/usr/bin/python3"}, args...)...)),
		one(execEv(10*time.Second+30*time.Millisecond, 310, 200, "/Users/carol", macCarol, anc,
			append([]string{"/Library/Developer/CommandLineTools/usr/bin/python3"}, args...)...)),
	)
	c, all, uniq := run(t, macCfg(), evs)
	if len(uniq) != 1 || len(all) != 1 {
		t.Fatalf("%d detections (%d emitted), want 1: %+v", len(uniq), len(all), all)
	}
	if c.Stats().ArchiveSteps != 1 {
		t.Errorf("ArchiveSteps = %d, want 1", c.Stats().ArchiveSteps)
	}
}

// An ssh login has Terminal run a zip ("do script") over files it staged:
// the zip runs in a shell of the GUI session, which acts for the osascript.
func TestTerminalScriptedByOsascript(t *testing.T) {
	t.Parallel()
	gui := event.Actor{UID: 501, EUID: 501, AUID: 501, Session: "100004", TTY: "ttys009", Interactive: true}
	ssh := event.Actor{UID: 501, EUID: 501, AUID: 501, Session: "100031", TTY: "ttys004", Interactive: true}
	sshAnc := []string{"/bin/zsh", "/usr/libexec/sshd-session"}
	termAnc := []string{"/bin/zsh", "/usr/bin/login", "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"}
	evs := seq(
		copyInto(0, 950, "/bin/cp", ssh, "/private/tmp/tt/a.docx", "/private/tmp/tt/b.xlsx"),
		one(execEv(10*time.Second, 960, 880, "/Users/carol", ssh, sshAnc,
			"/usr/bin/osascript", "-e", `tell application "Terminal" to do script "zip -qr /private/tmp/t.zip /private/tmp/tt"`)),
		one(execEv(11*time.Second, 970, 965, "/Users/carol", gui, termAnc, "/usr/bin/zip", "-qr", "/private/tmp/t.zip", "/private/tmp/tt")),
	)
	_, _, uniq := run(t, macCfg(), evs)
	if len(uniq) != 1 || uniq[0].ArchivePath != "/private/tmp/t.zip" || !strings.Contains(uniq[0].Actor, "ses 100031") {
		t.Fatalf("detections %+v", uniq)
	}
	// An osascript that tells Finder only does not speak for Terminal.
	evs[len(evs)-2] = execEv(10*time.Second, 960, 880, "/Users/carol", ssh, sshAnc, "/usr/bin/osascript", "-e", `tell application "Finder" to activate`)
	if _, _, uniq = run(t, macCfg(), evs); len(uniq) != 0 {
		t.Errorf("Finder-only osascript: %+v", uniq)
	}
}
