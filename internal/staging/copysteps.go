package staging

import (
	"fmt"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Copy steps (Config.CopySteps). DET0014 names three Windows behaviours,
// each a detection on its own: sensitive files staged into a temporary or
// public directory, compression with an archiver, and a batch copy before
// exfiltration. Real Windows logs often hold process creations without
// file creations (Sysmon's default configurations log none), so a copy is
// read from its command line: xcopy, robocopy, cmd's copy and move,
// PowerShell's Copy-Item. A copy into a staging directory is a step of its
// own, and a detection when it is a batch (a wildcard or a whole tree, a
// batch of unknown size that MinimumFileCount does not filter), copies
// sensitive material, or writes MinimumFileCount files there. An archive
// step by the same actor within TimeWindow that reads the same place or
// the same files takes the copy's detection over: one detection, the same
// UID, rising in severity.

// copyInfo is what a copy step knows beyond a step.
type copyInfo struct {
	group    string   // the staging group it copies into (normalized)
	groupRaw string   // as written
	sources  []string // its inputs, resolved, as written
	batch    bool     // a wildcard or a whole tree
	cats     [5]int64 // sensitive types its inputs name
	named    int64    // inputs that name one file each
	files    int64    // files its own process put in the group, as last counted
	bytes    int64
	seen     int64 // creations of its process in the group, duplicates included
	nextEmit int64 // files at which it is evaluated again (1, 2, 4…)
	collect  bool  // a script's collection of sensitive files (Config.ScriptContexts)
	chained  *step // the archive step that took its detection over
}

// chainBonus is what an archive step chained to a copy detection adds to
// its score: the two behaviours together are more than either.
const chainBonus = 10

// copySteps makes the steps of the copies an exec makes (its own, or those
// its shell's command line makes in the shell's process) into a staging
// directory, and the detections they raise alone.
func (c *Correlator) copySteps(ev *event.Event, t int64, cmd Command) []event.Detection {
	copies := cmd.Copies
	if cmd.Kind == CommandCopy {
		copies = append([]Command{cmd}, copies...)
	}
	var out []event.Detection
	p := &ev.Process
	for _, cp := range copies {
		if cp.Output == "" {
			continue
		}
		destRaw := c.expandVars(cp.Output, &ev.Actor)
		dest := ResolvePath(p.Cwd, destRaw, c.style)
		if dest == "" || !c.style.isAbs(dest) {
			continue
		}
		dest = c.style.normalize(dest)
		pl, ok := locate(c.roots, c.style, dest)
		if !ok {
			continue
		}
		key := stepKey{pid: p.PID, time: t, path: "copy:" + dest}
		if c.steps[key] != nil {
			continue // the same exec from a second sensor
		}
		destDisp := c.style.displayPath(p.Cwd, destRaw)
		info := &copyInfo{batch: cp.Recursive, nextEmit: 1}
		switch {
		case pl.isRoot:
			info.group = pl.rootPath
		case pl.inRoot && copiesIntoDir(cp, c.style.baseName(dest)):
			// A directory directly in the root (robocopy … C:\Users\Public\s)
			// is the group its files go into.
			info.group, pl.group, pl.inRoot = dest, dest, false
		default:
			info.group = pl.group
		}
		info.groupRaw = c.placeDisplay(pl, destDisp)
		for _, in := range cp.Inputs {
			if in == "" {
				continue
			}
			in = c.expandVars(in, &ev.Actor)
			if strings.ContainsAny(c.style.baseName(in), "*?") {
				info.batch = true
			} else if !cp.Recursive {
				info.named++
			}
			src := c.style.displayPath(p.Cwd, in)
			info.sources = append(info.sources, src)
			info.cats[c.inputCategory(src)]++
		}
		s := &step{key: key, kind: CommandCopy, time: t, pid: p.PID, ppid: p.PPID, actor: ev.Actor, exe: p.Exe,
			process: c.formatProcess(p.Exe, p), tool: cp.Tool, output: dest, outDisp: info.groupRaw, copy: info}
		c.stats.CopySteps++
		c.addStep(s)
		c.copyByPID[p.PID] = append(c.copyByPID[p.PID], s)
		out = c.emitCopy(s, out)
	}
	return out
}

// copiesIntoDir reports whether a copy's destination is a directory: always
// for xcopy and robocopy, for a batch, and for a name without an extension
// (copy a.docx C:\Users\Public\x.docx writes a file).
func copiesIntoDir(cp Command, base string) bool {
	if cp.Tool == "robocopy" || cp.Tool == "xcopy" || cp.Recursive || len(cp.Inputs) > 1 {
		return true
	}
	for _, in := range cp.Inputs {
		if strings.ContainsAny(in, "*?") {
			return true
		}
	}
	return !strings.Contains(base, ".")
}

// inputCategory is the sensitive type a copy's input names: a file by its
// name and directories, a user profile's Documents or Desktop as
// documents, a mail folder as mail; volume shadow copies and the hives and
// directory database read from them are keys and secrets.
func (c *Correlator) inputCategory(src string) category {
	if strings.Contains(strings.ToLower(src), `harddiskvolumeshadowcopy`) {
		return catKey
	}
	if cat := categorize(src, c.style); cat != catNone {
		return cat
	}
	elem := c.style.baseName(strings.TrimRight(src, `\/*`))
	for _, dir := range []string{"Documents", "Desktop", "My Documents", "OneDrive"} {
		if strings.EqualFold(elem, dir) {
			return catDocument
		}
	}
	if strings.EqualFold(elem, "Outlook") || strings.EqualFold(elem, "Mail") {
		return catMail
	}
	return catNone
}

// copyWrote notes a file event of the copy's own process in its group, and
// evaluates the copy again when the creations it saw double (1, 2, 4…);
// the evaluation counts the distinct files and their bytes in the group,
// so an event reported twice (two exports of one log) counts once.
func (c *Correlator) copyWrote(ev *event.Event, t int64, g *group, out []event.Detection) []event.Detection {
	if ev.Kind != event.KindFileCreate && ev.Kind != event.KindFileCopy {
		return out
	}
	for _, s := range c.copyByPID[ev.Process.PID] {
		if s.removed || t < s.time-int64(maxSkew) || t-s.time > c.window || s.copy.group != g.key {
			continue
		}
		s.copy.seen++
		if s.copy.seen >= s.copy.nextEmit {
			s.copy.nextEmit *= 2
			c.countCopied(s, g)
			out = c.emitCopy(s, out)
		}
		break
	}
	return out
}

// countCopied counts the files (and their bytes) that the copy's process
// put in its group, still there.
func (c *Correlator) countCopied(s *step, g *group) {
	since := s.time - int64(maxSkew)
	var files, bytes int64
	for _, f := range g.files {
		if f.pid == s.pid && f.first >= since && f.gone == 0 {
			files++
			bytes += f.size
		}
	}
	s.copy.files, s.copy.bytes = files, bytes
}

// emitCopy raises or updates a copy step's detection, unless an archive
// step has taken it over.
func (c *Correlator) emitCopy(s *step, out []event.Detection) []event.Detection {
	if s.copy.chained != nil {
		return out
	}
	d, ok := c.evaluateCopy(s)
	if !ok {
		return out
	}
	if s.emitted {
		c.stats.Updates++
	} else {
		c.stats.Detections++
		s.emitted = true
	}
	return append(out, d)
}

func (c *Correlator) evaluateCopy(s *step) (event.Detection, bool) {
	info := s.copy
	files := max(info.files, info.named)
	sensitive := info.cats[catDocument]+info.cats[catKey]+info.cats[catDatabase]+info.cats[catMail] > 0
	if !c.passesGate(&s.actor) || !info.batch && !sensitive && files < int64(c.cfg.MinimumFileCount) {
		return event.Detection{}, false
	}
	if !s.emitted {
		s.primary = info.group
		s.uid = detectionUID(c.cfg.AnalyticID, c.cfg.Host, s.pid, s.time, s.time, info.group)
	}
	actor := s.actor.String()
	score := computeScore(files, info.bytes, info.cats, false, s.actor.Elevated, s.actor.Interactive)
	if info.batch {
		score = min(100, score+chainBonus)
	}
	d := event.Detection{
		Time: time.Unix(0, s.time).UTC(), DetectionID: c.cfg.DetectionID, AnalyticID: c.cfg.AnalyticID,
		TechniqueID: c.technique(info.group), Platform: c.cfg.Platform, Host: c.cfg.Host, Actor: actor, Process: s.process,
		StagingPath: info.groupRaw, FileCount: files, Bytes: info.bytes,
		FirstSeen: time.Unix(0, s.time).UTC(), LastSeen: time.Unix(0, s.time).UTC(),
		Severity: severity(score), Score: score, UID: s.uid,
		Evidence: []event.Evidence{copyEvidence(s, actor)},
	}
	d.Reason = shortActor(&s.actor) + " " + copyPhrase(s, files) + " into " + info.groupRaw + " with " + s.tool
	return d, true
}

func copyEvidence(s *step, actor string) event.Evidence {
	note := "copy step (" + s.tool + ")"
	switch {
	case s.copy.collect:
		note = "collection by a script (" + s.tool + ")"
	case s.copy.batch:
		note = "batch copy (" + s.tool + ")"
	}
	kind := "exec"
	if s.copy.collect {
		kind = "copy"
	}
	return event.Evidence{Time: time.Unix(0, s.time).UTC(), Kind: kind, Path: s.copy.groupRaw, PID: s.pid,
		Process: s.exe, Cmdline: s.process, Actor: actor, Note: note}
}

// copyPhrase says what a copy copied: "copied 3 files (2 documents) from
// C:\Users\bob\Documents", "copied a batch of files (a whole tree) from …".
func copyPhrase(s *step, files int64) string {
	info := s.copy
	verb := "copied"
	switch {
	case info.collect:
		verb = "collected"
	case s.tool == "move" || s.tool == "move-item":
		verb = "moved"
	}
	var b strings.Builder
	b.WriteString(verb)
	switch {
	case info.batch && files > 0:
		fmt.Fprintf(&b, " a batch of %d or more files", files)
	case info.batch:
		b.WriteString(" a batch of files")
	default:
		fmt.Fprintf(&b, " %d %s", files, plural(files, "file", "files"))
	}
	var detail []string
	for _, x := range categoryNames {
		if n := info.cats[x.c]; n > 0 {
			detail = append(detail, x.other)
		}
	}
	if info.bytes > 0 {
		detail = append(detail, humanBytes(info.bytes))
	}
	if len(detail) > 0 {
		b.WriteString(" (" + strings.Join(detail, ", ") + ")")
	}
	if len(info.sources) > 0 {
		b.WriteString(" from " + info.sources[0])
		if n := len(info.sources) - 1; n > 0 {
			fmt.Fprintf(&b, " and %d other %s", n, plural(int64(n), "source", "sources"))
		}
	}
	return b.String()
}

// chainedCopy is the earliest copy step an archive step continues: the
// same actor, within TimeWindow before it, into a place the archive step
// reads, or of the files it reads.
func (c *Correlator) chainedCopy(s *step) *step {
	if c.copyByPID == nil || s.kind != CommandArchiver {
		return nil
	}
	since := s.time - c.window
	for i := c.stepHead; i < len(c.stepQueue); i++ {
		cs := c.stepQueue[i]
		if cs.removed || cs.kind != CommandCopy || cs.time < since || cs.time > s.time || !sameActor(&cs.actor, &s.actor) {
			continue
		}
		if cs.copy.chained != nil && cs.copy.chained != s {
			continue
		}
		if c.readsCopy(s, cs) {
			return cs
		}
	}
	return nil
}

// readsCopy reports whether archive step s reads what copy step cs wrote:
// it names the copy's staging group (or something in or above it), or the
// same sources.
func (c *Correlator) readsCopy(s, cs *step) bool {
	g := cs.copy.group
	for _, r := range s.refs {
		if r == g || c.style.under(r, g) || c.style.under(g, r) && !isRootPath(c, r) {
			return true
		}
	}
	for _, src := range cs.copy.sources {
		n := c.style.normalize(src)
		for _, r := range s.refs {
			if r == n || c.style.under(n, r) {
				return true
			}
		}
	}
	return false
}

// isRootPath reports whether p is a staging root itself: an archive of all
// of C:\Users\Public does not read every group below it for this purpose.
func isRootPath(c *Correlator, p string) bool {
	pl, ok := locate(c.roots, c.style, p)
	return ok && pl.isRoot
}

// expandVars replaces the environment variables Windows command lines use
// for the staging directories (%TEMP%, $env:TEMP, %PUBLIC%…) with the
// paths they stand for, for the actor's user where they are per user.
func (c *Correlator) expandVars(p string, a *event.Actor) string {
	if c.style != Windows || !strings.ContainsAny(p, "%$") {
		return p
	}
	user := a.User
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	profile := `C:\Users\` + user
	vars := map[string]string{
		"temp": profile + `\AppData\Local\Temp`, "tmp": profile + `\AppData\Local\Temp`,
		"userprofile": profile, "appdata": profile + `\AppData\Roaming`, "localappdata": profile + `\AppData\Local`,
		"public": `C:\Users\Public`, "programdata": `C:\ProgramData`, "allusersprofile": `C:\ProgramData`,
		"systemroot": `C:\Windows`, "windir": `C:\Windows`, "systemdrive": `C:`, "homedrive": `C:`,
	}
	if user == "" || strings.EqualFold(user, "SYSTEM") || strings.HasSuffix(user, "$") {
		// The machine's own account: its profile is the system's.
		vars["temp"], vars["tmp"] = `C:\Windows\Temp`, `C:\Windows\Temp`
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '%':
			if end := strings.IndexByte(p[i+1:], '%'); end > 0 {
				if v, ok := vars[strings.ToLower(p[i+1:i+1+end])]; ok {
					b.WriteString(v)
					i += end + 1
					continue
				}
			}
		case p[i] == '$' && len(p) > i+5 && strings.EqualFold(p[i:i+5], "$env:"):
			j := i + 5
			for j < len(p) && (p[j] == '_' || p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z' || p[j] >= '0' && p[j] <= '9') {
				j++
			}
			if v, ok := vars[strings.ToLower(p[i+5:j])]; ok {
				b.WriteString(v)
				i = j - 1
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// technique is the ATT&CK technique of a detection staging in group:
// T1074.002 (remote data staging) onto another host's share (\\host\C$\…),
// else the analytic's own (T1074.001, local data staging).
func (c *Correlator) technique(group string) string {
	if c.style == Windows && strings.HasPrefix(group, `\\`) && !strings.HasPrefix(group, `\\?\`) {
		return "T1074.002"
	}
	return c.cfg.TechniqueID
}

// dropCopy forgets a copy step leaving the step queue.
func (c *Correlator) dropCopy(s *step) {
	list := c.copyByPID[s.pid]
	for i, cs := range list {
		if cs == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(c.copyByPID, s.pid)
	} else {
		c.copyByPID[s.pid] = list
	}
}

// namedStaging is the staging place an archive step names, for
// Config.ArchiveAlone: the staging directory its output or an input lies
// in, or a user profile's documents it collects; "" for none.
func (c *Correlator) namedStaging(s *step) string {
	if s.output != "" && s.output != "-" {
		if pl, ok := locate(c.roots, c.style, s.output); ok {
			return c.placeDisplay(pl, s.outDisp)
		}
	}
	for _, r := range s.refs {
		if pl, ok := locate(c.roots, c.style, r); ok {
			return c.placeDisplay(pl, r)
		}
	}
	for _, r := range s.refs {
		if c.inputCategory(r) == catDocument && c.inUserProfile(r) {
			return r
		}
	}
	return ""
}

// placeDisplay is the group of pl as the path raw (which lies in it)
// spells it.
func (c *Correlator) placeDisplay(pl place, raw string) string {
	g := pl.group
	if pl.inRoot || pl.isRoot {
		g = pl.rootPath
	}
	if len(raw) >= len(g) && c.style.normalize(raw[:len(g)]) == g {
		return raw[:len(g)]
	}
	return g
}

// inUserProfile reports whether p lies in a user's profile (C:\Users\NAME\…).
func (c *Correlator) inUserProfile(p string) bool {
	if c.style != Windows || len(p) < len(`c:\users\x`) {
		return false
	}
	return strings.EqualFold(p[1:len(`c:\users\`)], `:\users\`)
}

// inputsPhrase names what an archive step reads, for a reason.
func (c *Correlator) inputsPhrase(s *step) string {
	switch len(s.refs) {
	case 0:
		return "files"
	case 1:
		return s.refs[0]
	}
	return fmt.Sprintf("%s and %d more", s.refs[0], len(s.refs)-1)
}
