package staging

import (
	"sort"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// ATT&CK techniques a staging detection's evidence can show besides
// T1074 itself (Techniques). The cloud and ESXi analytics set T1530,
// T1537 and T1578 in their own code.
const (
	TechniqueArchiveUtility = "T1560.001" // Archive via Utility
	TechniqueArchiveLibrary = "T1560.002" // Archive via Library
	TechniqueAutomated      = "T1119"     // Automated Collection
	TechniqueLocalData      = "T1005"     // Data from Local System
	TechniqueSharedDrive    = "T1039"     // Data from Network Shared Drive
)

// techniqueSet collects technique ids; list puts the detection's main
// technique first and the others after it by id.
type techniqueSet map[string]bool

func (ts techniqueSet) list(main string) []string {
	out := []string{main}
	var rest []string
	for id := range ts {
		if id != main {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// archiveTechnique is how a step archived: with a program made for it (an
// archiver, a compressor, 7-Zip, ditto, makecab, Compress-Archive, a file
// manager's "compressed folder") is T1560.001; with a library called from
// code (python -m zipfile or tarfile, .NET's ZipFile from PowerShell, an
// archive written by a script or a program that is no archiver) is
// T1560.002. Compress-Archive counts as a utility: it is a cmdlet a
// person or a script runs as a command, as they would run zip, though
// .NET's System.IO.Compression does its work.
func archiveTechnique(s *step) string {
	switch {
	case s.tool == "zipfile" || s.tool == "tarfile":
		return TechniqueArchiveLibrary
	case s.fileStep && !isFileManager(s.tool):
		return TechniqueArchiveLibrary
	}
	return TechniqueArchiveUtility
}

// onShare reports whether a source path lies on a network share: a UNC
// path (\\server\share, //server/share), not a \\?\ or \\.\ device path.
func onShare(p string) bool {
	if len(p) < 3 {
		return false
	}
	if (p[0] == '\\' && p[1] == '\\' || p[0] == '/' && p[1] == '/') && p[2] != '?' && p[2] != '.' && p[2] != '/' && p[2] != '\\' {
		return true
	}
	return false
}

// schedulers start what they run with no person at it: a step under one
// is automated collection.
var schedulers = map[string]bool{"cron": true, "crond": true, "anacron": true, "atd": true, "at": true,
	"taskeng": true, "taskhostw": true, "schtasks": true, "systemd-run": true, "periodic": true}

// scriptExts name the files interpreters run as scripts.
var scriptExts = []string{".py", ".sh", ".bash", ".zsh", ".ps1", ".psm1", ".pl", ".rb", ".js", ".vbs", ".vbe",
	".jse", ".wsf", ".bat", ".cmd", ".scpt", ".applescript", ".php", ".lua", ".tcl"}

// automated reports whether the process that made a step runs as
// automated collection (T1119): it has no login session (a service, a
// cron job: Actor.Scope names its subtree), a scheduler is among its
// ancestors, or it is an interpreter running a script file. A step at an
// interactive prompt is none of these; a script's own commands (tar under
// bash collect.sh) are known only when the sensor says the shell had no
// login, since ancestors carry executables, not their arguments.
func (c *Correlator) automated(ev *event.Event) bool {
	if ev.Actor.Scope != "" {
		return true
	}
	p := &ev.Process
	for _, a := range append([]string{p.Parent}, p.Ancestors...) {
		if a == "" {
			continue
		}
		var buf [32]byte
		if n := toolKey(c.style.baseName(a), &buf); n > 0 && schedulers[strings.ToLower(string(buf[:n]))] {
			return true
		}
	}
	base := c.style.baseName(p.Exe)
	if base == "" && len(p.Argv) > 0 {
		base = c.style.baseName(p.Argv[0])
	}
	info, ok := lookupTool(base)
	if !ok || info.family != famPython && info.family != famScript && info.family != famPowershell {
		return false
	}
	for _, a := range argvTail(p.Argv) {
		if a == "-c" || a == "-e" || a == "-m" || strings.EqualFold(a, "-command") {
			return false // inline code: as likely typed at a prompt
		}
		low := strings.ToLower(a)
		for _, ext := range scriptExts {
			if strings.HasSuffix(low, ext) {
				return true
			}
		}
	}
	return false
}

// archiveTechniques are the techniques an archive step's detection shows.
func (c *Correlator) archiveTechniques(s *step, t *tally, main string) []string {
	ts := techniqueSet{archiveTechnique(s): true}
	if s.automated || s.chained != nil && (s.chained.automated || s.chained.copy.collect) {
		ts[TechniqueAutomated] = true
	}
	shared := t.remote > 0
	for _, sc := range t.sources {
		for _, d := range sc.dirs {
			if onShare(d) {
				shared = true
			}
		}
	}
	local := t.files > t.remote
	for _, in := range s.inDisp {
		// An archive of files the sensor did not see staged
		// (Config.ArchiveAlone) reads its inputs where they are.
		if onShare(in) {
			shared = true
		} else {
			local = true
		}
	}
	if s.chained != nil {
		for _, src := range s.chained.copy.sources {
			if onShare(src) {
				shared = true
			} else {
				local = true
			}
		}
	}
	if shared {
		ts[TechniqueSharedDrive] = true
	}
	if local {
		ts[TechniqueLocalData] = true
	}
	return ts.list(main)
}

// copyTechniques are the techniques a copy or collection step's detection
// (no archive yet) shows.
func copyTechniques(s *step, main string) []string {
	ts := techniqueSet{}
	if s.automated || s.copy.collect {
		ts[TechniqueAutomated] = true
	}
	local := len(s.copy.sources) == 0
	for _, src := range s.copy.sources {
		if onShare(src) {
			ts[TechniqueSharedDrive] = true
		} else {
			local = true
		}
	}
	if local {
		ts[TechniqueLocalData] = true
	}
	return ts.list(main)
}
