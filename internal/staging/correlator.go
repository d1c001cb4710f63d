package staging

import (
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// maxSkew is how far apart in time two sensors may report related events
// (a file write and the exec of the process that wrote it, a staged file and
// the archiver that read it) and still be matched.
const maxSkew = 10 * time.Second

// maxActorsPerGroup bounds the distinct actors one staging group remembers
// (a file's actor is a byte): /tmp sees a new one for every cron job, and
// actors with nothing left in the group are let go when it fills.
const maxActorsPerGroup = 255

// Stats are the correlator's counters.
type Stats struct {
	Events          uint64 // events observed
	FileEvents      uint64
	ExecEvents      uint64
	Invalid         uint64 // nil, no time, unknown kind, no path or executable
	Late            uint64 // older than the newest event seen (accepted)
	Stale           uint64 // older than TimeWindow behind the newest event (skipped)
	Staged          uint64 // file events counted as staging
	Ignored         uint64 // allowlisted by AllowedParents or AllowedPaths
	Removed         uint64 // staged files deleted or moved out (they are in no later archive)
	NotSteps        uint64 // archives written by copy, move, link, download or extraction, or by a process that never touched the staged files
	ArchiveSteps    uint64 // archive steps (exec or archive file) seen
	CopySteps       uint64 // copies into a staging directory read from command lines (Config.CopySteps)
	Extractions     uint64 // extractor execs seen (never detected)
	EncryptionSteps uint64 // encryptions matched to an archive step
	Detections      uint64 // detections raised
	Updates         uint64 // detections re-emitted with more evidence or encryption
	ExpiredGroups   uint64 // groups dropped after TimeWindow of silence
	FilesTracked    int    // file paths held now
	Groups          int    // groups held now
	Steps           int    // recent steps held now
	Dropped         DropStats
}

// DropStats count what a hard cap made the correlator forget.
type DropStats struct {
	Groups   uint64 // oldest groups evicted at MaxGroups
	Files    uint64 // file paths not kept at MaxFilesPerGroup/MaxFiles (still counted)
	Evidence uint64 // staged events not kept as evidence at MaxEvidence
	Steps    uint64 // oldest steps evicted at MaxSteps
	Actors   uint64 // events skipped because a group had too many actors
}

// Correlator turns a stream of events into staging detections. It is not
// safe for concurrent use: the plugin feeds it from one goroutine.
type Correlator struct {
	cfg            Config
	style          PathStyle
	roots          []root
	archivers      patternSet
	allowedParents programs
	allowedPaths   []allowedPath
	window         int64
	gateAny        bool
	gateInter      bool
	gateElev       bool

	groups     map[string]*group
	head, tail *group // least recently active first
	files      int

	steps     map[stepKey]*step
	stepQueue []*step // oldest first, from stepHead on
	stepHead  int
	byPID     map[int64]*step   // latest exec step of each pid
	copyByPID map[int64][]*step // copy and collection steps of each pid (Config.CopySteps, Config.ScriptContexts)
	// scriptContexts and appleScripts serve macOS's script collection
	// (scripts_mac.go).
	scriptContexts patternSet
	appleScripts   []appleScriptRun
	// dirtyCopies are copy steps with files not yet in their detection.
	dirtyCopies []*step
	// pendingSteps are self-made archives waiting out selfMadeGrace.
	pendingSteps []*step
	settling     bool
	latestStep   int64
	readers      []pipeReader // recent cat/pv/dd execs, for the compressors they feed
	// redirects are archive files created by processes with no step yet:
	// the shell opening `> x.tgz` in the child that then execs gzip.
	redirects map[int64]redirect

	now       int64 // newest event time seen, unix ns
	lastSweep int64
	sweepStep int64
	stats     Stats
}

type group struct {
	key, display string // key is normalized; display as first seen
	rootKey      string
	inRoot       bool // files directly in the staging root
	files        map[string]*fileRec
	actors       []actorRec
	lastActor    int // index of the actor of the last event: most events repeat it
	evidence     []evRec
	overflowSeen []uint64 // bitmap of hashed paths past the caps
	first, last  int64
	nextPrune    int64 // when a full group may be pruned again
	nextCompact  int64 // when a full actor list may be compacted again
	prev, next   *group
}

type actorRec struct {
	actor         event.Actor
	overflowFiles int64 // files past the caps, counted but not kept
	overflowBytes int64
	overflowLast  int64
}

type fileRec struct {
	display     string
	size        int64
	first, last int64
	gone        int64 // when it was deleted or moved out; 0 while it is there
	pid         int64
	actor       uint8
	category    category
	how         arrival
	// src is where it came from as far as the event or the copy tool's
	// arguments say (a path, raw, possibly relative to srcCwd); empty when
	// not known.
	src, srcCwd string
	// remote is the network peer that wrote it over a share (5145's
	// client), empty for a local write.
	remote string
}

// arrival is how a staged file came to be: written in place, copied, or
// moved.
type arrival uint8

const (
	arrivedCreated arrival = iota
	arrivedCopied
	arrivedMoved
)

type evRec struct {
	time  int64
	kind  event.Kind
	path  string
	size  int64
	pid   int64
	exe   string
	actor uint8
	// secret is what the sensor read in the file's first bytes
	// (event.Secret): the evidence says so.
	secret string
}

type stepKey struct {
	pid  int64
	time int64  // exec time; 0 for archive-file steps
	path string // archive path for archive-file steps
}

type step struct {
	key       stepKey
	kind      CommandKind
	fileStep  bool // an archive file written by a non-archiver
	time      int64
	pid, ppid int64
	actor     event.Actor
	exe       string
	process   string
	tool      string
	output    string // normalized; "-" standard output
	outDisp   string
	refs      []string // normalized paths the step reads
	globs     []string // normalized wildcard patterns the step reads (zip x.zip '/tmp/*.docx')
	encrypted bool
	enc       *encryption
	// recompresses is the archive step whose archive this compressor
	// compresses again (gzip x.tar after tar cf x.tar d).
	recompresses *step
	emitted      bool
	uid          string
	primary      string
	removed      bool
	copy         *copyInfo // a copy or collection step's (Config.CopySteps, Config.ScriptContexts)
	inDisp       []string  // its inputs as written, resolved (Config.ArchiveAlone's reasons)
	args         []string  // the exec's argv, for a re-exec in place
	chained      *step     // the copy step whose detection an archive step took over
	// selfMade is set for an archive file whose writer created every file
	// it covers; pending while its detection waits to see the archive kept.
	selfMade, pending bool
	// automated: the step's process runs with no person at it (see
	// Correlator.automated), for T1119.
	automated bool
}

type redirect struct {
	time      int64
	norm, raw string
}

// maxRedirects bounds the redirections remembered for execs to come.
const maxRedirects = 1024

type encryption struct {
	time    int64
	tool    string
	pid     int64
	process string
	output  string
}

// New checks cfg and returns a correlator.
func New(cfg Config) (*Correlator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Correlator{
		cfg:    cfg,
		style:  cfg.PathStyle,
		window: int64(cfg.TimeWindow),
		groups: map[string]*group{},
		steps:  map[stepKey]*step{},
		byPID:  map[int64]*step{},

		redirects: map[int64]redirect{},
	}
	if c.scriptContexts, err = newPatternSet("ScriptContexts", cfg.ScriptContexts); err != nil {
		return nil, err
	}
	if cfg.CopySteps || !c.scriptContexts.empty() {
		c.copyByPID = map[int64][]*step{}
	}
	// The most specific root wins when roots nest (/tmp/ and /tmp/x/).
	roots, err := NewRoots(cfg.StagingDirectories, c.style)
	if err != nil {
		return nil, fieldErr("StagingDirectories", "%v", err)
	}
	c.roots = roots.roots
	if c.archivers, err = newPatternSet("ArchiverPatterns", cfg.ArchiverPatterns); err != nil {
		return nil, err
	}
	if c.allowedParents, err = newPrograms("AllowedParents", cfg.AllowedParents, c.style); err != nil {
		return nil, err
	}
	if c.allowedPaths, err = newAllowedPaths(cfg.AllowedPaths, c.style); err != nil {
		return nil, err
	}
	for _, u := range cfg.UserContext {
		switch strings.ToLower(u) {
		case ContextAny:
			c.gateAny = true
		case ContextInteractive:
			c.gateInter = true
		case ContextElevated:
			c.gateElev = true
		}
	}
	c.sweepStep = max(c.window/32, int64(time.Second))
	return c, nil
}

func sortRoots(roots []root) {
	for i := 1; i < len(roots); i++ {
		for j := i; j > 0 && len(roots[j].segs) > len(roots[j-1].segs); j-- {
			roots[j], roots[j-1] = roots[j-1], roots[j]
		}
	}
}

// Config returns the configuration in effect, defaults filled in.
func (c *Correlator) Config() Config { return c.cfg }

// Stats returns the counters.
func (c *Correlator) Stats() Stats {
	s := c.stats
	s.FilesTracked = c.files
	s.Groups = len(c.groups)
	s.Steps = len(c.steps)
	return s
}

// Observe feeds one event and returns the detections it raised or updated
// (an update carries the UID of the detection it replaces).
func (c *Correlator) Observe(ev *event.Event) []event.Detection {
	out := c.observe(ev)
	if len(c.pendingSteps) > 0 {
		// Event time moved on: self-made archives past their grace.
		out = c.settlePending(false, c.now, out)
	}
	return out
}

func (c *Correlator) observe(ev *event.Event) []event.Detection {
	c.stats.Events++
	if ev == nil || ev.Time.IsZero() {
		c.stats.Invalid++
		return nil
	}
	t := ev.Time.UnixNano()
	if t < c.now {
		c.stats.Late++
		if c.now-t > c.window {
			c.stats.Stale++
			return nil
		}
	} else {
		c.now = t
		if c.now-c.lastSweep >= c.sweepStep {
			c.Expire(ev.Time)
		}
	}
	switch ev.Kind {
	case event.KindExec:
		c.stats.ExecEvents++
		return c.observeExec(ev, t)
	case event.KindFileCreate, event.KindFileWrite, event.KindFileMoveIn, event.KindFileCopy:
		c.stats.FileEvents++
		return c.observeFile(ev, t)
	case event.KindFileDelete, event.KindFileMoveOut:
		// A staged file deleted or moved out is in no archive made after:
		// temporary spills, compiler intermediates, editors' swap files.
		c.stats.FileEvents++
		c.observeRemoval(ev.Path, &ev.Process, ev.Dir, t)
		return nil
	}
	c.stats.Invalid++
	return nil
}

// Expire forgets groups silent for TimeWindow before now and steps older
// than TimeWindow.
func (c *Correlator) Expire(now time.Time) {
	n := now.UnixNano()
	if n > c.now {
		c.now = n
	}
	c.lastSweep = n
	limit := n - c.window
	for g := c.head; g != nil && g.last < limit; g = c.head {
		c.removeGroup(g)
		c.stats.ExpiredGroups++
	}
	for c.stepHead < len(c.stepQueue) {
		s := c.stepQueue[c.stepHead]
		if !s.removed && s.time >= limit {
			break
		}
		c.popStep()
	}
}

func (c *Correlator) popStep() {
	s := c.stepQueue[c.stepHead]
	c.stepQueue[c.stepHead] = nil
	c.stepHead++
	if !s.removed {
		s.removed = true
		delete(c.steps, s.key)
		if c.byPID[s.pid] == s {
			delete(c.byPID, s.pid)
		}
		if s.copy != nil {
			c.dropCopy(s)
		}
	}
	if c.stepHead > 64 && c.stepHead*2 > len(c.stepQueue) {
		n := copy(c.stepQueue, c.stepQueue[c.stepHead:])
		clear(c.stepQueue[n:])
		c.stepQueue = c.stepQueue[:n]
		c.stepHead = 0
	}
}

func (c *Correlator) addStep(s *step) {
	for len(c.steps) >= c.cfg.MaxSteps && c.stepHead < len(c.stepQueue) {
		if !c.stepQueue[c.stepHead].removed {
			c.stats.Dropped.Steps++
		}
		c.popStep()
	}
	c.steps[s.key] = s
	c.stepQueue = append(c.stepQueue, s)
	if !s.fileStep && s.kind != CommandCopy {
		if old := c.byPID[s.pid]; old == nil || old.time <= s.time {
			c.byPID[s.pid] = s
		}
	}
	if s.time > c.latestStep {
		c.latestStep = s.time
	}
}

// execStepOf returns the archiver or extractor exec step of pid covering
// time t, if any: that process's own writes are its output, not staging.
func (c *Correlator) execStepOf(pid, t int64) *step {
	s := c.byPID[pid]
	if s == nil || s.removed || t < s.time-int64(maxSkew) {
		return nil
	}
	if s.kind == CommandArchiver || s.kind == CommandExtractor {
		return s
	}
	return nil
}

func (c *Correlator) observeFile(ev *event.Event, t int64) []event.Detection {
	raw := ev.Path
	if raw == "" {
		c.stats.Invalid++
		return nil
	}
	ev, linked := c.linkAppleScript(ev, t)
	if ev.Kind == event.KindFileMoveIn && ev.SourcePath != "" {
		// What was moved is no longer where it was: out of another group,
		// or out of the staging directories altogether.
		c.observeRemoval(ev.SourcePath, &ev.Process, ev.Dir, t)
	}
	if !c.style.isAbs(raw) {
		if ev.Process.Cwd == "" {
			return nil
		}
		raw = ResolvePath(ev.Process.Cwd, raw, c.style)
	}
	if c.style.folds() && !strings.Contains(raw, "..") {
		// Cheap rejection before normalizing, which allocates where the
		// style folds case.
		if _, ok := locate(c.roots, c.style, raw); !ok {
			return nil
		}
	}
	norm := c.style.normalize(raw)
	pl, ok := locate(c.roots, c.style, norm)
	if !ok || pl.isRoot {
		return nil
	}
	if c.allowedPath(norm, &ev.Process) || c.allowedProcess(&ev.Process) {
		c.stats.Ignored++
		return nil
	}
	isArchive := hasArchiveExt(norm) || archiveByContent(norm, ev.ArchiveFormat)
	if s := c.ownStepOf(&ev.Process, norm, t); s != nil {
		// The archiver's own write (or its forked child's: GNU tar writes
		// the archive from a fork before exec'ing gzip). Written to its
		// stdout (gzip > x.gz), the step learns its archive here.
		if isArchive && s.kind == CommandArchiver && (s.output == "" || s.output == "-") {
			s.output, s.outDisp = norm, raw
			var out []event.Detection
			if s.emitted {
				out = c.emit(s, out)
			}
			if r := s.recompresses; r != nil {
				// gzip -c x.tar > x.tgz: the first archive, compressed again.
				r.output, r.outDisp = norm, raw
				out = c.emit(r, out)
			} else if src := c.pipeSourceOf(s); src != nil {
				// tar cf - d | gzip > d.tgz: tar's archive is what gzip writes.
				src.output, src.outDisp = norm, raw
				out = c.emit(src, out)
			}
			return out
		}
		return nil
	}
	if isArchive && ev.Kind == event.KindFileCreate && ev.Process.PID > 0 {
		// Perhaps the shell's redirection for the compressor this
		// process is about to become (tar cf - d | gzip > d.tgz, as audit
		// records it: the open comes before the exec).
		if len(c.redirects) >= maxRedirects {
			clear(c.redirects)
		}
		c.redirects[ev.Process.PID] = redirect{time: t, norm: norm, raw: raw}
	}
	writerIsArchiver := c.archivers.match(c.style.baseName(ev.Process.Exe))
	var out []event.Detection
	if !writerIsArchiver {
		g := c.stage(ev, t, raw, norm, pl)
		if g != nil && t < c.latestStep {
			out = c.reevaluateLate(g, norm, t, out)
		}
		if g != nil && c.cfg.CopySteps && ev.Kind != event.KindFileMoveIn {
			out = c.copyWrote(ev, t, g, out)
			if ev.Kind == event.KindFileCreate || ev.Kind == event.KindFileCopy {
				out = c.implicitCopy(ev, t, g, out)
			}
		}
		out = c.collectionStep(ev, t, g, linked, out)
	}
	if isArchive && c.buildsArchive(ev) {
		out = c.archiveFileStep(ev, t, raw, norm, pl, out)
	} else if isArchive {
		c.stats.NotSteps++
	}
	return out
}

// ownStepOf returns the archiver or extractor step whose own write this is:
// the process's exec step, or its parent's when the process is a fork of it
// that did not exec (same executable), or any recent step of the same actor
// that names this very file as its archive.
func (c *Correlator) ownStepOf(p *event.Process, norm string, t int64) *step {
	if s := c.execStepOf(p.PID, t); s != nil {
		return s
	}
	if p.PPID > 0 {
		if s := c.execStepOf(p.PPID, t); s != nil && (s.exe == p.Exe || s.output == norm) {
			return s
		}
	}
	return nil
}

// buildsArchive reports whether an archive file appearing with ev can be
// one the writer built: not one copied, moved, linked, downloaded or
// unpacked into place, which is a file that was an archive already.
func (c *Correlator) buildsArchive(ev *event.Event) bool {
	switch ev.Kind {
	case event.KindFileMoveIn, event.KindFileCopy:
		return false
	}
	if ev.SourcePath != "" {
		return false // a link or copy whose source the sensor saw
	}
	base := c.style.baseName(ev.Process.Exe)
	if base == "" && len(ev.Process.Argv) > 0 {
		base = c.style.baseName(ev.Process.Argv[0])
	}
	if isDownloader(base) || isCopier(base) {
		return false
	}
	if info, ok := lookupTool(base); ok {
		switch info.family {
		case famCopy, famUnzip, famUnrar, famDecompressor, famExpand:
			return false
		case famDitto:
			// ditto copies unless it runs with -c (then it has a step).
			return false
		case famTar, famZip, fam7z, famRar, famCompressor, famCpio, famMakecab, famHdiutil, famAppleArchive:
			// A known archiver with no step of its own: one
			// ArchivingCommandPatterns leaves out, or a mode that makes no
			// archive. Its writes are not a script's.
			return false
		}
	}
	return true
}

// arrivalOf says how the file of ev came to be there and where from: moved
// or copied as the sensor saw it (a rename, a copy event with its source),
// copied by a copy tool (its first source operand, relative to its cwd), or
// created in place (a touch, an editor, a redirection, any other writer).
func (c *Correlator) arrivalOf(ev *event.Event) (arrival, string, string) {
	switch ev.Kind {
	case event.KindFileMoveIn:
		return arrivedMoved, ev.SourcePath, ""
	case event.KindFileCopy:
		return arrivedCopied, ev.SourcePath, ""
	}
	if ev.SourcePath != "" {
		return arrivedCopied, ev.SourcePath, "" // a link
	}
	if ev.RemoteAddr != "" {
		return arrivedCopied, "", "" // written over a share by another host
	}
	base := c.style.baseName(ev.Process.Exe)
	info, known := lookupTool(base)
	switch {
	case known && info.family == famCopy:
		if info.name == "mv" || info.name == "gmv" {
			// mv across file systems copies, then deletes the source.
			return arrivedMoved, firstSource(info.name, ev.Process.Argv), ev.Process.Cwd
		}
		src := firstSource(info.name, ev.Process.Argv)
		if info.name == "robocopy" && src != "" {
			// robocopy SOURCE DEST copies what SOURCE holds: the files came
			// from SOURCE itself, not from beside it.
			src += `\*`
		}
		return arrivedCopied, src, ev.Process.Cwd
	case isCopier(base) || isFileManager(base):
		return arrivedCopied, "", ""
	}
	return arrivedCreated, "", ""
}

// copyValueOptions are, per copy tool, the one-letter options that take
// the next word as their value.
var copyValueOptions = map[string]string{"cp": "S", "gcp": "S", "mv": "S", "gmv": "S", "install": "mogS",
	"rsync": "ef", "scp": "iPoFlScJ"}

// firstSource is the first source operand of a copy tool's command line
// (cp, rsync, scp, mv, install: sources first, the destination last, or
// after -t), as written; empty when there is none to tell.
func firstSource(tool string, argv []string) string {
	if len(argv) < 2 {
		return ""
	}
	valued := copyValueOptions[tool]
	target := false // -t DIR / --target-directory: every operand is a source
	first, positionals := "", 0
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-t" || a == "--target-directory":
			target = true
			i++
		case strings.HasPrefix(a, "--target-directory="):
			target = true
		case len(a) == 2 && a[0] == '-' && strings.IndexByte(valued, a[1]) >= 0:
			i++ // the option's value
		case len(a) > 1 && a[0] == '-':
		default:
			if positionals == 0 {
				first = a
			}
			positionals++
		}
	}
	if positionals >= 2 || target && positionals == 1 {
		return first
	}
	return ""
}

// observeRemoval marks the staged file at path (or, for a directory, every
// staged file at or below it) as gone from time t: an archive made after
// does not hold it.
func (c *Correlator) observeRemoval(path string, p *event.Process, dir bool, t int64) {
	if path == "" {
		return
	}
	if !c.style.isAbs(path) {
		if p.Cwd == "" {
			return
		}
		path = ResolvePath(p.Cwd, path, c.style)
	}
	norm := c.style.normalize(path)
	pl, ok := locate(c.roots, c.style, norm)
	if !ok || pl.isRoot {
		return
	}
	if whole := c.groups[norm]; whole != nil {
		// A staged directory itself (rm -r /tmp/loot, mv /tmp/loot ~).
		c.markGone(whole, "", t)
		return
	}
	g := c.groups[pl.group]
	if g == nil {
		return
	}
	if f := g.files[norm]; f != nil {
		if f.gone == 0 && t >= f.last {
			f.gone = t
			c.stats.Removed++
		}
		return
	}
	if dir {
		c.markGone(g, norm, t)
	}
}

// markGone marks g's files at or below prefix (all of them for "") gone
// from t. It walks the group, so it runs only for a directory.
func (c *Correlator) markGone(g *group, prefix string, t int64) {
	for k, f := range g.files {
		if f.gone == 0 && t >= f.last && (prefix == "" || c.style.under(k, prefix)) {
			f.gone = t
			c.stats.Removed++
		}
	}
}

// stage records a staged file event in its group.
func (c *Correlator) stage(ev *event.Event, t int64, raw, norm string, pl place) *group {
	g := c.groups[pl.group]
	if g == nil {
		for len(c.groups) >= c.cfg.MaxGroups && c.head != nil {
			c.removeGroup(c.head)
			c.stats.Dropped.Groups++
		}
		// Same length means raw differs from norm only in case and
		// separators, so its prefix is the group as the user spells it.
		display := pl.group
		if len(raw) == len(norm) {
			display = raw[:len(pl.group)]
		}
		g = &group{
			key:     pl.group,
			display: display,
			rootKey: pl.rootPath,
			inRoot:  pl.inRoot,
			files:   map[string]*fileRec{},
			first:   t,
			last:    t,
		}
		c.groups[g.key] = g
		c.pushBack(g)
	}
	ai := c.actorIndex(g, &ev.Actor)
	if ai < 0 {
		c.stats.Dropped.Actors++
		return nil
	}
	c.stats.Staged++
	if t < g.first {
		g.first = t
	}
	if t > g.last {
		g.last = t
		c.moveToBack(g)
	}
	how, src, srcCwd := c.arrivalOf(ev)
	var renamed *fileRec
	if ev.Kind == event.KindFileMoveIn && ev.SourcePath != "" && c.style.isAbs(ev.SourcePath) {
		// A rename inside the group (rsync's and editors' temporary names,
		// `mv a b`) is one file under a new name, not a second file: it
		// keeps how it came and from where.
		if sn := c.style.normalize(ev.SourcePath); sn != norm {
			if old := g.files[sn]; old != nil {
				renamed = old
				delete(g.files, sn)
				c.files--
				how, src, srcCwd = old.how, old.src, old.srcCwd
			}
		}
	}
	size := ev.Size
	cat := c.categoryOf(ev, norm)
	if renamed != nil {
		cat = moreSensitive(cat, renamed.category)
	}
	if f := g.files[norm]; f != nil && ev.Recovered {
		// Seen before the loss: what the sensor said of it stands.
		return g
	} else if f != nil && (f.gone != 0 && t >= f.gone || !sameActor(&g.actors[f.actor].actor, &ev.Actor) && t >= f.last) {
		// Recreated after it went, or rewritten by someone else: a new
		// file, with its own actor and times.
		*f = fileRec{display: f.display, size: max(size, 0), first: t, last: t, pid: ev.Process.PID, actor: uint8(ai),
			category: cat, how: how, src: src, srcCwd: srcCwd, remote: ev.RemoteAddr}
	} else if f != nil {
		if ev.RemoteAddr != "" {
			f.remote = ev.RemoteAddr
		}
		if t >= f.last {
			f.last = t
			if size >= 0 {
				f.size = size
			}
			f.pid = ev.Process.PID
			f.actor = uint8(ai)
		}
		// What it holds now, or what an earlier write showed, whichever
		// says more.
		f.category = moreSensitive(f.category, cat)
		if t < f.first {
			f.first = t
		}
	} else if len(g.files) < c.cfg.MaxFilesPerGroup && c.files < c.cfg.MaxFiles || c.pruneFiles(g) {
		display := norm
		if c.style.folds() && len(raw) == len(norm) {
			display = raw
		}
		first := t
		if renamed != nil && renamed.gone == 0 {
			first = min(first, renamed.first)
		}
		g.files[norm] = &fileRec{display: display, size: max(size, 0), first: first, last: t,
			pid: ev.Process.PID, actor: uint8(ai), category: cat, how: how, src: src, srcCwd: srcCwd, remote: ev.RemoteAddr}
		c.files++
	} else {
		a := &g.actors[ai]
		a.overflowLast = max(a.overflowLast, t)
		if g.firstOverflow(norm) {
			c.stats.Dropped.Files++
			a.overflowFiles++
			a.overflowBytes += max(size, 0)
		}
	}
	if len(g.evidence) < c.cfg.MaxEvidence {
		g.evidence = append(g.evidence, evRec{time: t, kind: ev.Kind, path: raw, size: size,
			pid: ev.Process.PID, exe: ev.Process.Exe, actor: uint8(ai), secret: ev.Secret})
	} else {
		c.stats.Dropped.Evidence++
	}
	return g
}

// categoryOf is the sensitive type a staged file is: by its name and
// directories, by where it was copied or moved from (mv ~/.ssh/deploy
// /tmp/x/a is a key), and by what the sensor read in it (a private key
// named notes.txt), whichever says most.
func (c *Correlator) categoryOf(ev *event.Event, norm string) category {
	cat := categorize(norm, c.style)
	if ev.SourcePath != "" {
		// The sensor's own source path (a rename, a copy event), not a
		// copy tool's first operand, which may be any of several.
		cat = moreSensitive(cat, categorize(ev.SourcePath, c.style))
	}
	if ev.Secret != "" {
		cat = catKey
	}
	return cat
}

// pruneFiles makes room in a full group by forgetting files older than the
// window, and reports whether there is room now. It walks the group's
// files, so a full group is pruned at most once per sweep step: a flood
// into one directory (200,000 files in /dev/shm) would otherwise cost a
// walk of 10,000 files per event and blind the analytic.
func (c *Correlator) pruneFiles(g *group) bool {
	if c.now < g.nextPrune {
		return false
	}
	g.nextPrune = c.now + c.sweepStep
	limit := c.now - c.window
	for k, f := range g.files {
		if f.last < limit {
			delete(g.files, k)
			c.files--
		}
	}
	return len(g.files) < c.cfg.MaxFilesPerGroup && c.files < c.cfg.MaxFiles
}

// overflowBits sizes the per-group bitmap that tells files past the caps
// apart without keeping their paths (8 KiB, only for groups that overflow).
const overflowBits = 1 << 16

// firstOverflow reports whether path has not been seen past the caps before.
// Hash collisions make it undercount slightly, never overcount.
func (g *group) firstOverflow(path string) bool {
	if g.overflowSeen == nil {
		g.overflowSeen = make([]uint64, overflowBits/64)
	}
	h := uint32(2166136261)
	for i := 0; i < len(path); i++ {
		h = (h ^ uint32(path[i])) * 16777619
	}
	bit := h % overflowBits
	word, mask := bit/64, uint64(1)<<(bit%64)
	if g.overflowSeen[word]&mask != 0 {
		return false
	}
	g.overflowSeen[word] |= mask
	return true
}

// actorIndex returns the index of a's actor in g, adding it; -1 when the
// group holds maxActorsPerGroup actors that all still have files there.
func (c *Correlator) actorIndex(g *group, a *event.Actor) int {
	if g.lastActor < len(g.actors) && sameActor(&g.actors[g.lastActor].actor, a) {
		return g.lastActor
	}
	for i := range g.actors {
		if sameActor(&g.actors[i].actor, a) {
			g.lastActor = i
			return i
		}
	}
	if len(g.actors) >= maxActorsPerGroup && !c.compactActors(g) {
		return -1
	}
	g.actors = append(g.actors, actorRec{actor: *a})
	g.lastActor = len(g.actors) - 1
	return g.lastActor
}

// compactActors lets go of the actors of a full group that have nothing
// left in it within the window (no file, no evidence, no count past the
// caps), and reports whether there is room now. Like pruneFiles it walks
// the group, so it runs at most once per sweep step.
func (c *Correlator) compactActors(g *group) bool {
	if c.now < g.nextCompact {
		return false
	}
	g.nextCompact = c.now + c.sweepStep
	limit := c.now - c.window
	used := make([]bool, len(g.actors))
	for k, f := range g.files {
		if f.last < limit {
			delete(g.files, k)
			c.files--
			continue
		}
		used[f.actor] = true
	}
	kept := g.evidence[:0]
	for _, e := range g.evidence {
		if e.time >= limit {
			kept = append(kept, e)
			used[e.actor] = true
		}
	}
	g.evidence = kept
	remap := make([]uint8, len(g.actors))
	actors := g.actors[:0]
	for i, a := range g.actors {
		if used[i] || a.overflowFiles > 0 && a.overflowLast >= limit {
			remap[i] = uint8(len(actors))
			actors = append(actors, a)
		}
	}
	g.actors = actors
	for _, f := range g.files {
		f.actor = remap[f.actor]
	}
	for i := range g.evidence {
		g.evidence[i].actor = remap[g.evidence[i].actor]
	}
	g.lastActor = 0
	return len(g.actors) < maxActorsPerGroup
}

func (c *Correlator) pushBack(g *group) {
	g.prev, g.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = g
	} else {
		c.head = g
	}
	c.tail = g
}

func (c *Correlator) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		c.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		c.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (c *Correlator) moveToBack(g *group) {
	if c.tail == g {
		return
	}
	c.unlink(g)
	c.pushBack(g)
}

func (c *Correlator) removeGroup(g *group) {
	c.unlink(g)
	delete(c.groups, g.key)
	c.files -= len(g.files)
}

// Keeps reports whether ev can matter to a detection: a file event under a
// staging root, or an exec of a program the correlator acts on (an
// archiver, extractor, encryptor, copy tool, script or pipeline reader).
// What an analytic keeps across a restart is these events; fed again in
// the same order, they rebuild the same state.
func (c *Correlator) Keeps(ev *event.Event) bool {
	if ev == nil {
		return false
	}
	switch {
	case ev.Kind == event.KindExec:
		exe := ev.Process.Exe
		if exe == "" && len(ev.Process.Argv) > 0 {
			exe = ev.Process.Argv[0]
		}
		if exe == "" {
			return false
		}
		if _, ok := readerInputs(exe, ev.Process.Argv, c.style); ok {
			return true
		}
		return c.ofInterest(c.style.baseName(exe)) || c.renamedTool(&ev.Process, exe) != ""
	case ev.Kind.IsFile():
		// A file event under a staging root, or a move whose source was
		// under one (what left a group matters as much as what came).
		return c.underRoot(ev.Path, ev.Process.Cwd) || ev.SourcePath != "" && c.underRoot(ev.SourcePath, ev.Process.Cwd)
	}
	return false
}

func (c *Correlator) underRoot(raw, cwd string) bool {
	if raw == "" {
		return false
	}
	if !c.style.isAbs(raw) {
		if cwd == "" {
			return false
		}
		raw = ResolvePath(cwd, raw, c.style)
	}
	_, ok := locate(c.roots, c.style, c.style.normalize(raw))
	return ok
}
