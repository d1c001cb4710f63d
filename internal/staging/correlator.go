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

// maxActorsPerGroup bounds the distinct actors one staging group remembers;
// a shared directory written by more users than this is not one person's
// staging.
const maxActorsPerGroup = 16

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
	ArchiveSteps    uint64 // archive steps (exec or archive file) seen
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

	steps      map[stepKey]*step
	stepQueue  []*step // oldest first, from stepHead on
	stepHead   int
	byPID      map[int64]*step // latest exec step of each pid
	latestStep int64
	readers    []pipeReader // recent cat/pv/dd execs, for the compressors they feed

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
	evidence     []evRec
	overflowSeen []uint64 // bitmap of hashed paths past the caps
	first, last  int64
	nextPrune    int64 // when a full group may be pruned again
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
	pid         int64
	actor       uint8
	category    category
}

type evRec struct {
	time  int64
	kind  event.Kind
	path  string
	size  int64
	pid   int64
	exe   string
	actor uint8
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
	rootFiles []string // root groups covered whole (archive-file steps)
	encrypted bool
	enc       *encryption
	emitted   bool
	uid       string
	primary   string
	removed   bool
}

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
	case event.KindFileDelete:
		// A deleted staged file still shows that staging happened.
		c.stats.FileEvents++
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
	if !s.fileStep {
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
	pid := ev.Process.PID
	isArchive := hasArchiveExt(norm) || archiveByContent(norm, ev.ArchiveFormat)
	if s := c.execStepOf(pid, t); s != nil {
		// The archiver's own write. Written to its stdout (gzip > x.gz),
		// the step learns its archive here.
		if isArchive && s.kind == CommandArchiver && (s.output == "" || s.output == "-") {
			s.output, s.outDisp = norm, raw
			if s.emitted {
				return c.emit(s, nil)
			}
		}
		return nil
	}
	writerIsArchiver := c.archivers.match(c.style.baseName(ev.Process.Exe))
	var out []event.Detection
	if !writerIsArchiver {
		g := c.stage(ev, t, raw, norm, pl)
		if g != nil && t < c.latestStep {
			out = c.reevaluateLate(g, norm, t, out)
		}
	}
	if isArchive && !isDownloader(c.style.baseName(ev.Process.Exe)) {
		out = c.archiveFileStep(ev, t, raw, norm, pl, out)
	}
	return out
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
	ai := g.actorIndex(ev.Actor)
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
	if ev.Kind == event.KindFileMoveIn && ev.SourcePath != "" && c.style.isAbs(ev.SourcePath) {
		// A rename inside the group (rsync's and editors' temporary names,
		// `mv a b`) is one file under a new name, not a second file.
		if src := c.style.normalize(ev.SourcePath); src != norm && g.files[src] != nil {
			delete(g.files, src)
			c.files--
		}
	}
	size := ev.Size
	if f := g.files[norm]; f != nil && ev.Recovered {
		// Seen before the loss: what the sensor said of it stands.
		return g
	} else if f != nil {
		if t >= f.last {
			f.last = t
			if size >= 0 {
				f.size = size
			}
			f.pid = ev.Process.PID
			f.actor = uint8(ai)
		}
		if t < f.first {
			f.first = t
		}
	} else if len(g.files) < c.cfg.MaxFilesPerGroup && c.files < c.cfg.MaxFiles || c.pruneFiles(g) {
		display := norm
		if c.style.folds() && len(raw) == len(norm) {
			display = raw
		}
		g.files[norm] = &fileRec{display: display, size: max(size, 0), first: t, last: t,
			pid: ev.Process.PID, actor: uint8(ai), category: categorize(norm, c.style)}
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
			pid: ev.Process.PID, exe: ev.Process.Exe, actor: uint8(ai)})
	} else {
		c.stats.Dropped.Evidence++
	}
	return g
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

func (g *group) actorIndex(a event.Actor) int {
	for i := range g.actors {
		if g.actors[i].actor == a {
			return i
		}
	}
	if len(g.actors) >= maxActorsPerGroup {
		return -1
	}
	g.actors = append(g.actors, actorRec{actor: a})
	return len(g.actors) - 1
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
		return c.ofInterest(c.style.baseName(exe))
	case ev.Kind.IsFile():
		raw := ev.Path
		if raw == "" {
			return false
		}
		if !c.style.isAbs(raw) {
			if ev.Process.Cwd == "" {
				return false
			}
			raw = ResolvePath(ev.Process.Cwd, raw, c.style)
		}
		_, ok := locate(c.roots, c.style, c.style.normalize(raw))
		return ok
	}
	return false
}
