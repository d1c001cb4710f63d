package staging

import (
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// sameActor reports whether two events come from one actor. Actors are
// people in sessions and services in their process subtrees, not uids:
// two events with login sessions (audit ses, a Windows logon id, a macOS
// audit session) are one actor only in one session; two with no login are
// one only in one process subtree (Scope: a service, a cron job), so root's
// services, jobs and package managers are not pooled; a login session and
// a service are never one. Where the sensor tells neither, the same login
// uid, else uid, else user name; with nothing to compare, they are one.
func sameActor(a, b *event.Actor) bool {
	if a.Session != "" && b.Session != "" {
		return a.Session == b.Session && sameWho(a, b)
	}
	if a.Scope != "" || b.Scope != "" {
		return a.Scope == b.Scope
	}
	return sameWho(a, b)
}

func sameWho(a, b *event.Actor) bool {
	switch {
	case a.AUID >= 0 && b.AUID >= 0:
		return a.AUID == b.AUID
	case a.UID >= 0 && b.UID >= 0:
		return a.UID == b.UID
	case a.User != "" && b.User != "":
		return strings.EqualFold(a.User, b.User)
	}
	return true
}

// observeExec reads one exec: an archiver over staged files is an archive
// step, an extractor is remembered (what it writes is not staging), and an
// encryptor may seal an archive step already taken.
func (c *Correlator) observeExec(ev *event.Event, t int64) []event.Detection {
	p := &ev.Process
	exe := p.Exe
	if exe == "" && len(p.Argv) > 0 {
		exe = p.Argv[0]
	}
	if exe == "" {
		c.stats.Invalid++
		return nil
	}
	c.rememberAppleScript(ev, t)
	ev, _ = c.linkAppleScript(ev, t)
	p = &ev.Process
	if inputs, ok := readerInputs(exe, p.Argv, c.style); ok {
		return c.pipeReader(ev, t, inputs)
	}
	// A renamed tool is classified as what it is: by the name it was built
	// with (Sysmon's OriginalFileName), else by its command line's shape.
	as := exe
	renamed := c.renamedTool(p, exe)
	if renamed != "" {
		as = renamed
	}
	if c.seenOrPartOfParent(p, exe, as, t) {
		return nil
	}
	cmd, ok := c.command(p, as)
	if renamed != "" && cmd.Tool != "" {
		cmd.Tool += " (as " + c.style.baseName(exe) + ")"
	}
	var out []event.Detection
	if c.cfg.CopySteps && (cmd.Kind == CommandCopy || len(cmd.Copies) > 0) && !c.allowedProcess(p) {
		out = c.copySteps(ev, t, cmd)
	}
	if !ok {
		return out
	}
	switch cmd.Kind {
	case CommandExtractor:
		c.stats.Extractions++
		if key := (stepKey{pid: p.PID, time: t}); c.steps[key] == nil {
			c.addStep(&step{key: key, kind: CommandExtractor, time: t, pid: p.PID, actor: ev.Actor, exe: exe})
		}
		return out
	case CommandEncryptor:
		return append(out, c.encryptionStep(ev, t, cmd)...)
	}
	if c.allowedProcess(p) {
		c.stats.Ignored++
		return out
	}
	key := stepKey{pid: p.PID, time: t}
	if c.steps[key] != nil {
		return out // the same exec from a second sensor
	}
	c.stats.ArchiveSteps++
	s := c.archiveStep(ev, key, exe, cmd)
	if prev := c.recompressionOf(ev, cmd, t); prev != nil {
		// gzip of the tar just made: one staging whose archive is
		// compressed again, not a second one over the same files. The
		// step stays, so that the compressor's writes are its own.
		s.refs, s.globs, s.recompresses = nil, nil, prev
		c.addStep(s)
		if s.output == "" || s.output == "-" {
			return out
		}
		prev.output, prev.outDisp = s.output, s.outDisp
		return c.emit(prev, out)
	}
	if s.output == "-" {
		if early := c.earlyOwnWrite(p.PID, t); early != nil {
			// Its own archive, closed before its exec reached the
			// correlator (exec times move forward by the settle delay):
			// the archive it wrote, not a step of its own.
			s.output, s.outDisp = early.output, early.outDisp
			c.dropStep(early)
		}
	}
	c.addStep(s)
	if sink := c.pipeSinkOf(s); sink != nil {
		// tar cf - d | gzip > d.tgz with gzip seen first: the archive is
		// the one gzip writes.
		s.output, s.outDisp = sink.output, sink.outDisp
	}
	out = c.emit(s, out)
	if r, ok := c.redirects[p.PID]; ok && s.output == "-" {
		delete(c.redirects, p.PID)
		if r.time <= t+int64(maxSkew) && t-r.time <= int64(maxSkew) {
			// Its stdout was opened onto an archive just before the exec.
			s.output, s.outDisp = r.norm, r.raw
			if s.emitted {
				out = c.emit(s, out)
			}
			if src := c.pipeSourceOf(s); src != nil {
				src.output, src.outDisp = r.norm, r.raw
				out = c.emit(src, out)
			}
		}
	}
	return out
}

// recompressionOf returns the archive step whose archive a compressor's
// exec compresses again (tar cf x.tar d; gzip x.tar), if any: the same
// actor's, within the window.
func (c *Correlator) recompressionOf(ev *event.Event, cmd Command, t int64) *step {
	if tools[cmd.Tool].family != famCompressor || len(cmd.Inputs) != 1 || cmd.Inputs[0] == "-" {
		return nil
	}
	in := ResolvePath(ev.Process.Cwd, cmd.Inputs[0], c.style)
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		p := c.stepQueue[i]
		if p.removed || p.kind != CommandArchiver || p.output != in || t-p.time > c.window || !sameActor(&p.actor, &ev.Actor) {
			continue
		}
		if p.recompresses != nil {
			return p.recompresses
		}
		return p
	}
	return nil
}

// pipeSourceOf returns the archiver that feeds the stdin filter s in one
// pipeline (tar cf - d | gzip > d.tgz): its archive is the one s writes.
func (c *Correlator) pipeSourceOf(s *step) *step {
	if tools[s.tool].family != famCompressor || len(s.refs) > 0 || s.recompresses != nil {
		return nil
	}
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		a := c.stepQueue[i]
		if a == s || a.removed || a.kind != CommandArchiver || a.output != "-" || a.ppid != s.ppid ||
			abs64(a.time-s.time) > int64(maxSkew) || !sameActor(&a.actor, &s.actor) {
			continue
		}
		return a
	}
	return nil
}

// earlyOwnWrite is an archive-file step that pid's write made just before
// its exec was seen: the same process writing its own output.
func (c *Correlator) earlyOwnWrite(pid, t int64) *step {
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		a := c.stepQueue[i]
		if a.removed || !a.fileStep || a.pid != pid || a.emitted || abs64(a.time-t) > int64(maxSkew) {
			continue
		}
		return a
	}
	return nil
}

// dropStep forgets a step that turned out to be another's.
func (c *Correlator) dropStep(s *step) {
	s.removed = true
	delete(c.steps, s.key)
	if c.byPID[s.pid] == s {
		delete(c.byPID, s.pid)
	}
	if s.pending {
		s.pending = false
	}
}

// pipeSinkOf is the compressor that an archiver writing to its stdout
// feeds, when that compressor (same parent, same actor, within maxSkew,
// reading its stdin) was seen first and knows its archive already.
func (c *Correlator) pipeSinkOf(s *step) *step {
	if s.output != "-" || tools[s.tool].family == famCompressor {
		return nil
	}
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		a := c.stepQueue[i]
		if a == s || a.removed || a.kind != CommandArchiver || tools[a.tool].family != famCompressor || len(a.refs) > 0 ||
			a.output == "" || a.output == "-" || a.ppid != s.ppid || abs64(a.time-s.time) > int64(maxSkew) || !sameActor(&a.actor, &s.actor) {
			continue
		}
		return a
	}
	return nil
}

// seenOrPartOfParent forgets the step of a pid that now runs another
// program, and reports whether this exec needs no step of its own: the
// same exec reported by a second sensor, or a helper of an archiver or
// extractor (the compressor tar runs for z/j/J, a helper of 7z), whose
// writes are then its parent's output.
func (c *Correlator) seenOrPartOfParent(p *event.Process, exe, as string, t int64) bool {
	prev := c.byPID[p.PID]
	if prev != nil && prev.time < t-int64(time.Second) {
		// A new program in that pid (exec or pid reuse): what it writes is
		// no longer the old archiver's output.
		delete(c.byPID, p.PID)
		prev = nil
	}
	if !c.ofInterest(c.style.baseName(as)) {
		return true
	}
	if prev != nil && (prev.exe == exe || reexecInPlace(prev, p)) {
		return true
	}
	if parent := c.byPID[p.PPID]; parent != nil && !parent.removed && (parent.kind == CommandArchiver || parent.kind == CommandExtractor) &&
		t >= parent.time && t-parent.time <= c.window {
		c.byPID[p.PID] = parent
		return true
	}
	return false
}

// renamedTool is the tool an executable is when its own name says nothing:
// the name it was built with, when the platform reports one that the
// classifier knows, or "7z" for a command line shaped as 7-Zip's (a or u,
// then an archive with a 7z, zip or rar suffix). Empty when the name is
// known or nothing tells.
func (c *Correlator) renamedTool(p *event.Process, exe string) string {
	return renamedAs(p, exe, c.style, c.ofInterest)
}

// renamedAs is renamedTool with known saying which names are of interest.
func renamedAs(p *event.Process, exe string, style PathStyle, known func(base string) bool) string {
	if known(style.baseName(exe)) {
		return ""
	}
	if orig := p.OriginalName; orig != "" && known(style.baseName(orig)) {
		return orig
	}
	if len(p.Argv) >= 3 && (p.Argv[1] == "a" || p.Argv[1] == "u") {
		for _, a := range style.positionals(p.Argv[2:]) {
			switch ext := strings.ToLower(a[strings.LastIndexByte(a, '.')+1:]); ext {
			case "7z", "zip", "rar":
				return "7z"
			}
			break // the archive is the first operand
		}
	}
	return ""
}

// ClassifyProcess is Classify of a process as the correlator reads it: a
// renamed tool as what it is (its OriginalName, or a 7-Zip command line),
// and a shell whose own command line copies (cmd's copy, Copy-Item) as a
// copy.
func ClassifyProcess(p *event.Process, style PathStyle) Command {
	exe := p.Exe
	if exe == "" && len(p.Argv) > 0 {
		exe = p.Argv[0]
	}
	if name := renamedAs(p, exe, style, func(base string) bool { _, ok := lookupTool(base); return ok }); name != "" {
		cmd := Classify(name, p.Argv, style)
		if cmd.Tool != "" {
			cmd.Tool += " (as " + style.baseName(exe) + ")"
		}
		return cmd
	}
	cmd := Classify(exe, p.Argv, style)
	if cmd.Kind == CommandScript && len(cmd.Copies) > 0 {
		cmd.Kind = CommandCopy
	}
	return cmd
}

// ofInterest reports whether an executable may make a step: a tool the
// classifier knows or one ArchiverPatterns names.
func (c *Correlator) ofInterest(base string) bool {
	_, known := lookupTool(base)
	return known || c.archivers.match(base)
}

// command classifies the exec for staging: archivers only as far as
// ArchiverPatterns names them, and an archiver the classifier does not know
// but ArchiverPatterns names read from its operands (an operand with an
// archive suffix is its output, the others its inputs). ok is false when
// the exec makes no step.
func (c *Correlator) command(p *event.Process, exe string) (Command, bool) {
	base := c.style.baseName(exe)
	configured := c.archivers.match(base)
	cmd := Classify(exe, p.Argv, c.style)
	switch cmd.Kind {
	case CommandArchiver:
		return cmd, configured || c.archivers.match(cmd.Tool)
	case CommandExtractor, CommandEncryptor:
		return cmd, true
	}
	if !configured {
		return cmd, false
	}
	cmd = Command{Kind: CommandArchiver, Tool: strings.ToLower(base)}
	for _, a := range c.style.positionals(argvTail(p.Argv)) {
		if cmd.Output == "" && hasArchiveExt(strings.ToLower(a)) {
			cmd.Output = a
		} else {
			cmd.Inputs = append(cmd.Inputs, a)
		}
	}
	return cmd, true
}

// archiveStep is the step of an archiver exec: what it reads (its inputs
// resolved against its cwd, or the cwd itself when it names none, and the
// group its output lies in) and what it writes.
func (c *Correlator) archiveStep(ev *event.Event, key stepKey, exe string, cmd Command) *step {
	p := &ev.Process
	s := &step{key: key, kind: CommandArchiver, time: key.time, pid: p.PID, ppid: p.PPID, actor: ev.Actor,
		exe: exe, process: c.formatProcess(exe, p), tool: cmd.Tool, encrypted: cmd.Encrypted, args: p.Argv,
		automated: c.automated(ev)}
	for _, in := range cmd.Inputs {
		if in == "-" || in == "" {
			continue
		}
		in = c.expandVars(in, &ev.Actor)
		if c.cfg.ArchiveAlone {
			s.inDisp = append(s.inDisp, c.style.displayPath(p.Cwd, in))
		}
		if glob := c.style.stripGlob(in); glob != in {
			// A wildcard the tool expands itself (zip x.zip '*.docx'): the
			// files it matches, and the directories it selects from.
			s.globs = append(s.globs, ResolvePath(p.Cwd, in, c.style))
			in = glob
		}
		s.refs = append(s.refs, ResolvePath(p.Cwd, in, c.style))
	}
	if len(cmd.Lists) > 0 {
		// tar -T list, 7z @list: the names in the list as the collector
		// read them when the archiver ran, relative to tar -C, else the cwd.
		base := p.Cwd
		if cmd.ListDir != "" {
			base = ResolvePath(p.Cwd, cmd.ListDir, c.style)
		}
		for _, name := range p.Listed {
			if name != "" {
				s.refs = append(s.refs, ResolvePath(base, name, c.style))
			}
		}
	}
	// With no operands the tool reads names from stdin (cpio -o, tar -T -,
	// zip -@), usually produced in its cwd; a compressor with no operands
	// filters stdin, which says nothing about its cwd, but what feeds it in
	// the same pipeline may (cat a b c | gzip).
	if len(s.refs) == 0 && len(cmd.Lists) == 0 {
		switch {
		case tools[cmd.Tool].family == famCompressor:
			s.refs = c.fedBy(s)
		case p.Cwd != "":
			s.refs = append(s.refs, ResolvePath(p.Cwd, ".", c.style))
		}
	}
	cmd.Output = c.expandVars(cmd.Output, &ev.Actor)
	switch cmd.Output {
	case "":
	case "-":
		s.output, s.outDisp = "-", "-"
	default:
		s.output = ResolvePath(p.Cwd, cmd.Output, c.style)
		s.outDisp = c.style.displayPath(p.Cwd, cmd.Output)
		if pl, ok := locate(c.roots, c.style, s.output); ok && !pl.inRoot && !pl.isRoot {
			s.refs = append(s.refs, pl.group)
		}
	}
	return s
}

func argvTail(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	return argv[1:]
}

// archiveFileStep handles an archive file written in a staging root by a
// process not seen exec'ing as an archiver (a script using zipfile, a
// renamed tool). It reads what the writer could have read: the staging
// location it ran in and the ones its arguments name; a writer that did
// neither makes no step, for it could not have archived those files.
func (c *Correlator) archiveFileStep(ev *event.Event, t int64, raw, norm string, pl place, out []event.Detection) []event.Detection {
	key := stepKey{pid: ev.Process.PID, path: norm}
	if c.steps[key] != nil {
		return out // the same archive written again (create, then close)
	}
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		// One archive, one step: an archiver's step that names this file
		// already stands for it, whoever writes the bytes.
		if o := c.stepQueue[i]; !o.removed && o.kind == CommandArchiver && o.output == norm && t-o.time <= c.window &&
			t >= o.time-int64(maxSkew) && sameActor(&o.actor, &ev.Actor) {
			return out
		}
	}
	p := &ev.Process
	s := &step{key: key, kind: CommandArchiver, fileStep: true, time: t, pid: p.PID, ppid: p.PPID,
		actor: ev.Actor, exe: p.Exe, process: c.formatProcess(p.Exe, p),
		tool: c.writerName(p), output: norm, outDisp: raw, automated: c.automated(ev)}
	if cwd := p.Cwd; cwd != "" {
		if _, ok := locate(c.roots, c.style, c.style.normalize(cwd)); ok {
			s.refs = append(s.refs, ResolvePath(cwd, ".", c.style))
		}
	}
	for _, a := range c.style.positionals(argvTail(p.Argv)) {
		r := ResolvePath(p.Cwd, c.style.stripGlob(a), c.style)
		if _, ok := locate(c.roots, c.style, r); ok && r != norm {
			s.refs = append(s.refs, r)
		}
	}
	// Or it put the files there itself (a script gathering, then zipping):
	// in the archive's own directory, or the one it is named after.
	near := pl.group
	if pl.inRoot {
		near = archiveStem(norm, c.style)
	}
	if g := c.groups[near]; g != nil && !g.inRoot && g.wroteAny(p.PID) {
		s.refs = append(s.refs, near)
	}
	if len(s.refs) == 0 {
		c.stats.NotSteps++
		return out
	}
	c.stats.ArchiveSteps++
	c.addStep(s)
	return c.emit(s, out)
}

// wroteAny reports whether pid staged a file in g.
func (g *group) wroteAny(pid int64) bool {
	for _, f := range g.files {
		if f.pid == pid {
			return true
		}
	}
	return false
}

// writerName names the process that wrote an archive for a reason: the
// script an interpreter ran (pack.py (python3)), else the executable.
func (c *Correlator) writerName(p *event.Process) string {
	base := c.style.baseName(p.Exe)
	if base == "" && len(p.Argv) > 0 {
		base = c.style.baseName(p.Argv[0])
	}
	if base == "" {
		return "an unknown process"
	}
	if info, ok := lookupTool(base); ok && (info.family == famPython || info.family == famScript) {
		for i := 1; i < len(p.Argv); i++ {
			a := p.Argv[i]
			if a == "-c" || a == "-e" || a == "-m" {
				if i+1 < len(p.Argv) && a == "-m" {
					return p.Argv[i+1] + " (" + base + ")"
				}
				return base + " " + a
			}
			if len(a) > 0 && a[0] != '-' {
				return c.style.baseName(a) + " (" + base + ")"
			}
		}
	}
	return base
}

// encryptionStep ties an encryption of an archive to its archive step.
func (c *Correlator) encryptionStep(ev *event.Event, t int64, cmd Command) []event.Detection {
	p := &ev.Process
	var inputs []string
	for _, in := range cmd.Inputs {
		if in != "-" && in != "" {
			inputs = append(inputs, ResolvePath(p.Cwd, in, c.style))
		}
	}
	var out []event.Detection
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		s := c.stepQueue[i]
		if s.removed || s.kind != CommandArchiver || s.time > t+int64(maxSkew) || t-s.time > c.window || !sameActor(&s.actor, &ev.Actor) {
			continue
		}
		match := false
		if s.output != "" && s.output != "-" {
			for _, in := range inputs {
				if in == s.output {
					match = true
				}
			}
		} else if s.output == "-" && len(inputs) == 0 && s.ppid == p.PPID && abs64(t-s.time) <= int64(maxSkew) {
			// tar czf - dir | gpg -c: siblings in one pipeline.
			match = true
		}
		if !match || s.enc != nil {
			continue
		}
		c.stats.EncryptionSteps++
		s.enc = &encryption{time: t, tool: cmd.Tool, pid: p.PID, process: c.formatProcess(p.Exe, p), output: cmd.Output}
		if s.enc.output != "" && s.enc.output != "-" {
			s.enc.output = c.style.displayPath(p.Cwd, cmd.Output)
		}
		out = c.emit(s, out)
	}
	return out
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// reevaluateLate re-evaluates recent steps that a late-arriving staged file
// event (older than the step, delivered after it) belongs to.
func (c *Correlator) reevaluateLate(g *group, norm string, t int64, out []event.Detection) []event.Detection {
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		s := c.stepQueue[i]
		if s.removed || s.kind != CommandArchiver || s.time <= t {
			continue
		}
		if s.time-t > int64(maxSkew) {
			continue
		}
		all, refs := c.coverage(s, g)
		if !all && !fileCovered(c.style, norm, refs) && !(g.inRoot && c.rootNamed(s, norm)) {
			continue
		}
		out = c.emit(s, out)
	}
	return out
}

// coverage says which files of g step s reads: all of them, or those at
// or under one of refs. A directory below a root is one group, read whole
// by a step that names it, lies in it or names something above it. The
// root of a staging directory is not a group: of its own files, a step
// reads those its inputs name (or a wildcard of them matches) and those
// beside its archive with the same stem (/tmp/db.sql for /tmp/db.tgz),
// never every file one actor put there.
func (c *Correlator) coverage(s *step, g *group) (all bool, refs []string) {
	for _, r := range s.refs {
		switch {
		case !g.inRoot && (c.style.under(r, g.key) || c.style.under(g.key, r)):
			return true, nil
		case g.inRoot && r != g.key && c.style.under(r, g.key):
			refs = append(refs, r)
		}
	}
	return false, refs
}

// rootNamed reports whether a step reads the root-level file f by a
// wildcard or by the stem it shares with the step's archive.
func (c *Correlator) rootNamed(s *step, f string) bool {
	for _, pat := range s.globs {
		if c.style.globMatch(pat, f) {
			return true
		}
	}
	if s.output == "" || s.output == "-" {
		return false
	}
	stem := archiveStem(s.output, c.style)
	if len(f) <= len(stem) || !strings.HasPrefix(f, stem) || c.style.dir(f) != c.style.dir(stem) {
		return false
	}
	switch f[len(stem)] {
	case '.', '-', '_':
		return true
	}
	return false
}

func fileCovered(style PathStyle, f string, refs []string) bool {
	for _, r := range refs {
		if style.under(f, r) {
			return true
		}
	}
	return false
}

// emit evaluates s and appends its detection, new or updated, to out.
func (c *Correlator) emit(s *step, out []event.Detection) []event.Detection {
	d, ok := c.evaluate(s)
	if !ok {
		return out
	}
	if !s.emitted && s.selfMade && !c.settling {
		// A process zipping files it created itself: a script gathering
		// and packing (staging), or a test or build packing its own scratch
		// files, which it removes at once. Settle decides.
		if !s.pending {
			s.pending = true
			c.pendingSteps = append(c.pendingSteps, s)
		}
		return out
	}
	switch {
	case s.emitted:
		c.stats.Updates++
	case s.chained != nil && s.chained.emitted && s.uid == s.chained.uid:
		// The copy's detection, continued by its archive: one detection.
		c.stats.Updates++
		s.emitted = true
	default:
		c.stats.Detections++
		s.emitted = true
	}
	return append(out, d)
}

// pipeReader is a program that copies files to its stdout (cat, pv, dd):
// a compressor it feeds in one pipeline (cat a b c | gzip > x.gz) reads
// those files.
type pipeReader struct {
	time, ppid int64
	actor      event.Actor
	refs       []string
}

// maxReaders bounds the readers remembered for pipelines that have not
// started their compressor yet.
const maxReaders = 256

// pipeReader records a reader exec and gives its files to a compressor
// already started in the same pipeline.
func (c *Correlator) pipeReader(ev *event.Event, t int64, inputs []string) []event.Detection {
	p := &ev.Process
	r := pipeReader{time: t, ppid: p.PPID, actor: ev.Actor}
	for _, in := range inputs {
		r.refs = append(r.refs, ResolvePath(p.Cwd, in, c.style))
	}
	if len(r.refs) == 0 || p.PPID <= 0 {
		return nil
	}
	if len(c.readers) == maxReaders {
		copy(c.readers, c.readers[1:])
		c.readers = c.readers[:maxReaders-1]
	}
	c.readers = append(c.readers, r)
	var out []event.Detection
	for i := len(c.stepQueue) - 1; i >= c.stepHead; i-- {
		s := c.stepQueue[i]
		if s.removed || s.kind != CommandArchiver || len(s.refs) > 0 || !r.feeds(s) {
			continue
		}
		s.refs = append(s.refs, r.refs...)
		out = c.emit(s, out)
	}
	return out
}

// fedBy returns the files the readers of s's pipeline copy to it.
func (c *Correlator) fedBy(s *step) []string {
	var refs []string
	for i := range c.readers {
		if c.readers[i].feeds(s) {
			refs = append(refs, c.readers[i].refs...)
		}
	}
	return refs
}

// feeds reports whether r and the compressor step s are one pipeline: the
// same shell started both (siblings), moments apart, as the same actor.
func (r *pipeReader) feeds(s *step) bool {
	return tools[s.tool].family == famCompressor && !s.fileStep && r.ppid == s.ppid &&
		abs64(r.time-s.time) <= int64(maxSkew) && sameActor(&r.actor, &s.actor)
}

// archiveStem is an archive's path without its suffixes: the archive ones
// (loot.tar.gz), else the one it has (loot.dat, an archive by content).
func archiveStem(p string, style PathStyle) string {
	if hasArchiveExt(p) {
		return stripArchiveExt(p)
	}
	base := style.baseName(p)
	if dot := strings.LastIndexByte(base, '.'); dot > 0 {
		return p[:len(p)-len(base)+dot]
	}
	return p
}
