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
	fileCats [5]int64 // their sensitive types
	bytes    int64
	implicit bool  // known from its file creations only, not a command line
	dirty    bool  // files seen since it was last evaluated
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
			process: c.formatProcess(p.Exe, p), tool: cp.Tool, output: dest, outDisp: info.groupRaw, copy: info,
			automated: c.automated(ev)}
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
		if s.removed || t < s.time-int64(maxSkew) || t-s.time > c.window || !c.samePlace(s.copy.group, g.key) {
			continue
		}
		if s.copy.group != g.key {
			// The command line named it by its 8.3 name: the file events
			// tell its long name, which the detection takes.
			s.copy.group, s.copy.groupRaw = g.key, g.display
		}
		s.copy.seen++
		if s.copy.seen >= s.copy.nextEmit {
			s.copy.nextEmit *= 2
			c.countCopied(s, g)
			out = c.emitCopy(s, out)
		} else if !s.copy.dirty {
			// Counted when the caller settles (Settle), so the last files
			// of a batch are in its detection too.
			s.copy.dirty = true
			c.dirtyCopies = append(c.dirtyCopies, s)
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
	var cats [5]int64
	for _, f := range g.files {
		if f.pid == s.pid && f.first >= since && f.gone == 0 {
			files++
			bytes += f.size
			cats[f.category]++
		}
	}
	s.copy.files, s.copy.bytes, s.copy.fileCats = files, bytes, cats
}

// implicitCopy makes the copy step of a process seen only through the
// files it creates: a file manager (Explorer), a copy tool or a shell whose
// command line was not logged, putting sensitive files into a staging
// directory. DET0014 counts such a copy of sensitive material a detection
// by itself; the photos a user drags into Public are not sensitive.
func (c *Correlator) implicitCopy(ev *event.Event, t int64, g *group, out []event.Detection) []event.Detection {
	f := g.files[c.style.normalize(ev.Path)]
	if f == nil || f.category == catNone || f.pid != ev.Process.PID {
		return out
	}
	for _, s := range c.copyByPID[ev.Process.PID] {
		if !s.removed && t-s.time <= c.window && (s.copy.group == g.key || !s.copy.implicit) {
			return out // its copy step counts it already
		}
	}
	base := c.style.baseName(ev.Process.Exe)
	info, known := lookupTool(base)
	if !isFileManager(base) && !(known && (info.family == famCopy || info.family == famPowershell || info.name == "cmd")) {
		return out
	}
	if c.allowedProcess(&ev.Process) {
		return out
	}
	tool := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(base, ".exe"), ".EXE"))
	s := &step{key: stepKey{pid: ev.Process.PID, time: t, path: "copy:" + g.key}, kind: CommandCopy, time: t,
		pid: ev.Process.PID, actor: ev.Actor, exe: ev.Process.Exe, process: c.formatProcess(ev.Process.Exe, &ev.Process),
		tool: tool, output: g.key, outDisp: g.display, automated: c.automated(ev),
		copy: &copyInfo{group: g.key, groupRaw: g.display, nextEmit: 2, implicit: true}}
	if c.steps[s.key] != nil {
		return out
	}
	c.stats.CopySteps++
	c.addStep(s)
	c.copyByPID[s.pid] = append(c.copyByPID[s.pid], s)
	s.copy.seen = 1
	c.countCopied(s, g)
	return c.emitCopy(s, out)
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
	var cats [5]int64
	for i := range cats {
		cats[i] = max(info.cats[i], info.fileCats[i])
	}
	sensitive := cats[catDocument]+cats[catKey]+cats[catDatabase]+cats[catMail] > 0
	if !c.passesGate(&s.actor) || !info.batch && !sensitive && files < int64(c.cfg.MinimumFileCount) {
		return event.Detection{}, false
	}
	if !s.emitted {
		s.primary = info.group
		s.uid = detectionUID(c.cfg.AnalyticID, c.cfg.Host, s.pid, s.time, s.time, info.group)
	}
	actor := s.actor.String()
	score := computeScore(files, info.bytes, cats, false, s.actor.Elevated, s.actor.Interactive)
	if info.batch {
		score = min(100, score+chainBonus)
	}
	d := event.Detection{
		Time: time.Unix(0, s.time).UTC(), DetectionID: c.cfg.DetectionID, AnalyticID: c.cfg.AnalyticID,
		TechniqueID: c.technique(info.group, false), Platform: c.cfg.Platform, Host: c.cfg.Host, Actor: actor, Process: s.process,
		StagingPath: info.groupRaw, FileCount: files, Bytes: info.bytes,
		FirstSeen: time.Unix(0, s.time).UTC(), LastSeen: time.Unix(0, s.time).UTC(),
		Severity: severity(score), Score: score, UID: s.uid,
		Evidence: []event.Evidence{copyEvidence(s, actor)},
	}
	d.Techniques = copyTechniques(s, d.TechniqueID)
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
		if n := max(info.cats[x.c], info.fileCats[x.c]); n > 0 {
			detail = append(detail, x.other)
		}
	}
	if info.bytes > 0 {
		detail = append(detail, HumanBytes(info.bytes))
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
		if c.samePlace(r, g) || c.style.under(r, g) || c.style.under(g, r) && !isRootPath(c, r) {
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
// T1074.002 (remote data staging) onto another host's share (\\host\C$\…)
// or of files another host wrote here over a share, else the analytic's
// own (T1074.001, local data staging).
func (c *Correlator) technique(group string, remote bool) string {
	if remote || c.style == Windows && strings.HasPrefix(group, `\\`) && !strings.HasPrefix(group, `\\?\`) {
		return "T1074.002"
	}
	return c.cfg.TechniqueID
}

// Settle re-evaluates the copy steps that saw files since their detection
// was last raised or updated (between the doublings that update it at
// once), and returns the detections that changed. The endpoint layer calls
// it as its settle buffer drains and when a replayed input ends.
//
// It also decides the archives a process wrote of files it created itself
// (selfMade): one still there selfMadeGrace after it was written, or when
// final (the input ended, collection stops), is a detection; one deleted
// or moved away by then, with the scratch files of a test or a build, is
// not.
// now, when not zero, is the caller's clock (live): the grace runs by it
// when no events arrive.
func (c *Correlator) Settle(final bool, now time.Time) []event.Detection {
	var out []event.Detection
	if len(c.pendingSteps) > 0 {
		cur := c.now
		if !now.IsZero() {
			cur = max(cur, now.UnixNano())
		}
		out = c.settlePending(final, cur, out)
	}
	if len(c.dirtyCopies) == 0 {
		return out
	}
	for _, s := range c.dirtyCopies {
		s.copy.dirty = false
		if s.removed {
			continue
		}
		if g := c.groups[s.copy.group]; g != nil {
			before := s.copy.files
			c.countCopied(s, g)
			if s.copy.files != before || !s.emitted {
				out = c.emitCopy(s, out)
			}
		}
	}
	clear(c.dirtyCopies)
	c.dirtyCopies = c.dirtyCopies[:0]
	return out
}

// selfMadeGrace is how long an archive of its writer's own files must
// stay to be staging: Python's TemporaryDirectory, mktemp scripts and test
// runners remove theirs within milliseconds.
const selfMadeGrace = int64(2 * time.Second)

func (c *Correlator) settlePending(final bool, now int64, out []event.Detection) []event.Detection {
	kept := c.pendingSteps[:0]
	for _, s := range c.pendingSteps {
		switch {
		case s.removed || c.archiveGone(s):
			s.pending = false
			c.stats.NotSteps++
		case final || now-s.time >= selfMadeGrace:
			s.pending = false
			c.settling = true
			out = c.emit(s, out)
			c.settling = false
		default:
			kept = append(kept, s)
		}
	}
	clear(c.pendingSteps[len(kept):])
	c.pendingSteps = kept
	return out
}

// archiveGone reports whether a step's archive was deleted or moved away.
func (c *Correlator) archiveGone(s *step) bool {
	pl, ok := locate(c.roots, c.style, s.output)
	if !ok {
		return false
	}
	g := c.groups[pl.group]
	if g == nil {
		return false
	}
	f := g.files[s.output]
	return f != nil && f.gone != 0
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
	// A profile's documents collected into an archive elsewhere (a backup
	// disk, a share) name no staging directory: DET0014's "collect
	// documents from user profiles into one" is into a staging directory,
	// which the output's rule above covers.
	return ""
}

// samePlace reports whether two normalized paths name one place: equal,
// or on Windows the same but for an 8.3 short name in the last element
// (C:\Users\Public\ADMIN_~1 for C:\Users\Public\Admin_Backup), which cmd
// lines use and file events never do.
func (c *Correlator) samePlace(a, b string) bool {
	if a == b {
		return true
	}
	if c.style != Windows || !strings.Contains(a+b, "~") {
		return false
	}
	da, ea := c.style.splitLast(a)
	db, eb := c.style.splitLast(b)
	return da == db && (shortNameOf(ea, eb) || shortNameOf(eb, ea))
}

// shortNameOf reports whether short is an 8.3 name Windows would give long:
// up to six characters of the long name without spaces and dots, '~', a
// digit, and the first three characters of its extension (ADMIN_~1 for
// Admin_Backup, QUARTE~1.DOC for "Quarterly report.docx").
func shortNameOf(short, long string) bool {
	tilde := strings.IndexByte(short, '~')
	if tilde < 1 || tilde > 6 || tilde+1 >= len(short) {
		return false
	}
	rest := short[tilde+1:]
	ext := ""
	if dot := strings.IndexByte(rest, '.'); dot >= 0 {
		rest, ext = rest[:dot], rest[dot+1:]
	}
	if rest == "" || strings.Trim(rest, "0123456789") != "" {
		return false
	}
	base, lext := long, ""
	if dot := strings.LastIndexByte(long, '.'); dot > 0 {
		base, lext = long[:dot], long[dot+1:]
	}
	var stem []byte
	for i := 0; i < len(base) && len(stem) < tilde; i++ {
		if ch := base[i]; ch != ' ' && ch != '.' {
			stem = append(stem, ch)
		}
	}
	return equalFoldASCII(string(stem), short[:tilde]) && equalFoldASCII(ext, lext[:min(3, len(lext))])
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

// aloneReason is the reason of an archive step that is a detection alone:
// "CORP\bob archived C:\Users\bob\Documents\* with 7z into
// C:\PerfLogs\x.7z with a password, in the staging directory C:\PerfLogs".
func (c *Correlator) aloneReason(s *step, d *event.Detection, place string) string {
	var b strings.Builder
	b.WriteString(shortActor(&s.actor) + " archived " + c.inputsPhrase(s) + " with " + s.tool)
	if d.ArchivePath != "" {
		b.WriteString(" into " + d.ArchivePath)
	}
	if s.encrypted {
		b.WriteString(" with a password")
	}
	if s.enc != nil {
		b.WriteString(", then encrypted it with " + s.enc.tool)
	}
	b.WriteString(", in the staging directory " + place)
	return b.String()
}

// inputsPhrase names what an archive step reads, for a reason.
func (c *Correlator) inputsPhrase(s *step) string {
	switch len(s.inDisp) {
	case 0:
		return "files"
	case 1:
		return s.inDisp[0]
	}
	return fmt.Sprintf("%s and %d more", s.inDisp[0], len(s.inDisp)-1)
}
