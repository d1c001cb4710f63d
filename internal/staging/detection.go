package staging

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

var archiveExts = []string{".zip", ".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tzst", ".tlz", ".gz", ".bz2", ".xz",
	".zst", ".7z", ".rar", ".cab", ".cpio", ".lz4", ".lzma", ".lz", ".lzo", ".z", ".aar", ".zipx"}

// hasArchiveExt reports whether p names an archive or compressed file;
// .tar.gz and the other .tar.* forms end in one of the compressor suffixes.
func hasArchiveExt(p string) bool {
	dot := strings.LastIndexByte(p, '.')
	if dot < 0 || len(p)-dot > 6 {
		return false
	}
	ext := p[dot:]
	for _, e := range archiveExts {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}

// stripArchiveExt drops archive suffixes: /tmp/loot.tar.gz → /tmp/loot.
func stripArchiveExt(p string) string {
	for i := 0; i < 2 && hasArchiveExt(p); i++ {
		p = p[:strings.LastIndexByte(p, '.')]
	}
	if strings.HasSuffix(strings.ToLower(p), ".tar") {
		p = p[:len(p)-4]
	}
	return p
}

// downloaders write archives they fetched, not ones they built.
var downloaders = map[string]bool{"curl": true, "wget": true, "firefox": true, "chrome": true, "chromium": true,
	"msedge": true, "safari": true, "brave": true, "opera": true, "aria2c": true, "bitsadmin": true,
	"svchost": true, "nsurlsessiond": true, "transmission-daemon": true, "git": true, "git-remote-https": true}

// copiers put a file in place that existed already: linked, installed,
// transferred, unpacked by a package manager, piped through. An archive
// they write was an archive before.
var copiers = map[string]bool{"ln": true, "link": true, "cat": true, "tee": true, "sftp-server": true, "sshd": true,
	"install": true, "dpkg": true, "dpkg-deb": true, "apt": true, "apt-get": true, "rpm": true, "dnf": true, "yum": true,
	"zypper": true, "pacman": true, "apk": true, "snap": true, "snapd": true, "flatpak": true, "pip": true, "pip3": true,
	"npm": true, "yarn": true, "brew": true, "installer": true, "msiexec": true, "smbd": true, "nfsd": true,
	"rclone": true, "s3cmd": true, "aws": true, "gsutil": true, "azcopy": true, "docker": true, "containerd": true,
	"podman": true, "skopeo": true}

func isCopier(base string) bool {
	var buf [32]byte
	n := toolKey(base, &buf)
	return n > 0 && copiers[string(buf[:n])]
}

// fileManagers copy what a person drags; they can also build a zip
// ("Send to compressed folder"), so an archive they write still counts.
var fileManagers = map[string]bool{"explorer": true, "finder": true, "nautilus": true, "dolphin": true, "thunar": true,
	"nemo": true, "caja": true, "pcmanfm": true}

func isFileManager(base string) bool {
	var buf [32]byte
	n := toolKey(base, &buf)
	return n > 0 && fileManagers[string(buf[:n])]
}

func isDownloader(base string) bool {
	var buf [32]byte
	n := toolKey(base, &buf)
	return n > 0 && downloaders[string(buf[:n])]
}

// evaluate builds the detection for step s from the staged files it covers,
// or reports that it does not qualify: the actor's context must pass the
// UserContext gate, and the step must cover MinimumFileCount files.
func (c *Correlator) evaluate(s *step) (event.Detection, bool) {
	if !c.passesGate(&s.actor) {
		return event.Detection{}, false
	}
	t := c.tally(s)
	s.selfMade = s.fileStep && t.files > 0 && t.selfMade == t.files
	chained := s.chained
	if chained == nil {
		chained = c.chainedCopy(s)
	}
	alone := ""
	if t.files < int64(c.cfg.MinimumFileCount) || len(t.groups) == 0 {
		switch {
		case chained != nil:
		case c.cfg.ArchiveAlone:
			if alone = c.namedStaging(s); alone == "" {
				return event.Detection{}, false
			}
		default:
			return event.Detection{}, false
		}
	}
	var primary string
	switch {
	case len(t.groups) > 0:
		primary = c.identify(s, t.groups)
	case chained != nil:
		primary = chained.copy.groupRaw
	default:
		primary = alone
	}
	if !s.emitted && len(t.groups) == 0 {
		s.primary = c.style.normalize(primary)
		s.uid = detectionUID(c.cfg.AnalyticID, c.cfg.Host, s.pid, s.key.time, s.time, s.primary)
	}
	actor := s.actor.String()
	bonus := 0
	if chained != nil {
		// One detection for the copy and the archive: the copy's UID, its
		// files where the log shows no file events, and a higher score.
		if !s.emitted && chained.emitted {
			s.uid = chained.uid
		}
		s.chained, chained.copy.chained = chained, s
		ci := chained.copy
		if g := c.groups[ci.group]; g != nil {
			c.countCopied(chained, g)
		}
		t.files = max(t.files, ci.files, ci.named)
		t.bytes = max(t.bytes, ci.bytes)
		for i := range t.cats {
			t.cats[i] = max(t.cats[i], ci.cats[i])
		}
		t.evidence = append(t.evidence, copyEvidence(chained, actor))
		if chained.time < t.first {
			t.first = chained.time
		}
		bonus = chainBonus
		if ci.batch {
			bonus += chainBonus
		}
	}
	evidence, last, encrypted := c.chain(s, t.evidence, actor)
	score := min(100, computeScore(t.files, t.bytes, t.cats, encrypted, s.actor.Elevated, s.actor.Interactive)+bonus)
	d := event.Detection{
		Time:        time.Unix(0, s.time).UTC(),
		DetectionID: c.cfg.DetectionID,
		AnalyticID:  c.cfg.AnalyticID,
		TechniqueID: c.technique(primary, t.remote > 0),
		Platform:    c.cfg.Platform,
		Host:        c.cfg.Host,
		Actor:       actor,
		Process:     s.process,
		StagingPath: primary,
		ArchivePath: s.outDisp,
		FileCount:   t.files,
		Bytes:       t.bytes,
		FirstSeen:   time.Unix(0, t.first).UTC(),
		LastSeen:    time.Unix(0, last).UTC(),
		Severity:    severity(score),
		Score:       score,
		Evidence:    evidence,
		UID:         s.uid,
	}
	if d.ArchivePath == "-" {
		d.ArchivePath = ""
	}
	d.Techniques = c.archiveTechniques(s, &t, d.TechniqueID)
	switch {
	case chained != nil && t.how[0]+t.how[1]+t.how[2] == 0:
		// Known from the command lines only.
		d.Reason = shortActor(&s.actor) + " " + copyPhrase(chained, t.files) + " into " + primary + " with " + chained.tool + archivePhrase(s, &d)
	case chained == nil && alone != "":
		d.Reason = c.aloneReason(s, &d, alone)
	default:
		d.Reason = reason(s, &d, &t)
	}
	return d, true
}

// passesGate reports whether the archiving actor's context may raise a
// detection under UserContext.
func (c *Correlator) passesGate(a *event.Actor) bool {
	return c.gateAny || (c.gateInter && a.Interactive) || (c.gateElev && a.Elevated)
}

// tally is what a step covers: the staged files (and their bytes and
// sensitive types) of the groups it reads, written by its actor within
// TimeWindow before it, and their evidence.
type tally struct {
	files, bytes int64
	first        int64 // the earliest staging time among them, unix ns
	cats         [5]int64
	how          [3]int64       // files created, copied, moved
	sources      [3]sourceCount // where the copied and moved files came from, by how
	selfMade     int64          // files the archive file's writer created itself
	remote       int64          // files written over a share by another host
	peer         string         // the first such host
	groups       []groupCount
	evidence     []event.Evidence
}

// sourceCount counts the directories staged files came from.
type sourceCount struct {
	dirs []string
	n    []int
}

func (sc *sourceCount) add(dir string) {
	if dir == "" {
		return
	}
	for i, d := range sc.dirs {
		if d == dir {
			sc.n[i]++
			return
		}
	}
	sc.dirs = append(sc.dirs, dir)
	sc.n = append(sc.n, 1)
}

// top is the directory most files came from and how many others there are.
func (sc *sourceCount) top() (string, int) {
	best := -1
	for i := range sc.dirs {
		if best < 0 || sc.n[i] > sc.n[best] || sc.n[i] == sc.n[best] && sc.dirs[i] < sc.dirs[best] {
			best = i
		}
	}
	if best < 0 {
		return "", 0
	}
	return sc.dirs[best], len(sc.dirs) - 1
}

// sourceOf is the directory a staged file came from, as far as known: the
// directory of the source the sensor or the copy tool's arguments gave, or
// the source itself when it was a directory copied whole (cp -r ~/.ssh).
func (c *Correlator) sourceOf(f *fileRec, path string) string {
	if f.src == "" || f.how == arrivedCreated {
		return ""
	}
	src := f.src
	if !c.style.isAbs(src) && (f.srcCwd == "" || strings.Contains(src, ":")) {
		return "" // relative with no cwd, or remote (host:path)
	}
	src = c.style.displayPath(f.srcCwd, src)
	// A directory copied whole (cp -r ~/.ssh /dev/shm) is the staged
	// file's parent by name; a file operand is one of several siblings.
	if base := c.style.baseName(src); base != "" && strings.Contains(f.display, string(c.style.sep())+base+string(c.style.sep())) {
		return src
	}
	return c.style.dir(src)
}

type groupCount struct {
	g     *group
	files int64
}

func (c *Correlator) tally(s *step) tally {
	since := s.time - c.window
	t := tally{first: s.time}
	for _, g := range c.groups {
		if g.last < since {
			continue
		}
		all, refs := c.coverage(s, g)
		if !all && len(refs) == 0 && (!g.inRoot || len(s.globs) == 0 && (s.output == "" || s.output == "-")) {
			continue
		}
		covered := func(path string, pid int64, actor uint8, firstT, lastT int64, remote bool) bool {
			if lastT < since || firstT > s.time || path == s.output {
				return false
			}
			if !s.fileStep && pid == s.pid {
				return false
			}
			// A file written over a share came in a network logon of its
			// own: the same person archiving it in another logon is one
			// actor with it.
			if a := &g.actors[actor].actor; !sameActor(a, &s.actor) && !(remote && a.User != "" && sameWho(a, &s.actor)) {
				return false
			}
			return all || fileCovered(c.style, path, refs) || g.inRoot && c.rootNamed(s, path)
		}
		var n int64
		for k, f := range g.files {
			if f.gone != 0 && f.gone <= s.time {
				continue // deleted or moved out before the step: not in the archive
			}
			if !covered(k, f.pid, f.actor, f.first, f.last, f.remote != "") {
				continue
			}
			if s.fileStep && f.pid == s.pid && f.how == arrivedCreated {
				t.selfMade++
			}
			if f.remote != "" {
				t.remote++
				if t.peer == "" {
					t.peer = f.remote
				}
			}
			n++
			t.bytes += f.size
			t.cats[f.category]++
			t.first = min(t.first, f.first)
			t.how[f.how]++
			t.sources[f.how].add(c.sourceOf(f, k))
		}
		if all {
			// Files past the caps were counted, not kept: a step over the
			// whole group covers them too.
			for i := range g.actors {
				a := &g.actors[i]
				if a.overflowFiles > 0 && a.overflowLast >= since && sameActor(&a.actor, &s.actor) {
					n += a.overflowFiles
					t.bytes += a.overflowBytes
				}
			}
		}
		if n == 0 {
			continue
		}
		t.files += n
		t.groups = append(t.groups, groupCount{g, n})
		for _, e := range g.evidence {
			norm := c.style.normalize(e.path)
			f := g.files[norm]
			if f != nil && f.gone != 0 && f.gone <= s.time || e.kind.Removes() {
				continue
			}
			if covered(norm, e.pid, e.actor, e.time, e.time, f != nil && f.remote != "") {
				ev := event.Evidence{Time: time.Unix(0, e.time).UTC(), Kind: e.kind.String(),
					Path: e.path, Size: max(e.size, 0), PID: e.pid, Process: e.exe, Actor: g.actors[e.actor].actor.String()}
				if e.secret != "" {
					ev.Note = "content: " + e.secret
				}
				t.evidence = append(t.evidence, ev)
			}
		}
	}
	return t
}

// identify fixes the step's primary group (the one it covers most files
// of) and UID the first time it qualifies, so updates keep both, and
// returns that group as the user spells it.
func (c *Correlator) identify(s *step, groups []groupCount) string {
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].files != groups[j].files {
			return groups[i].files > groups[j].files
		}
		return groups[i].g.key < groups[j].g.key
	})
	if !s.emitted {
		s.primary = groups[0].g.key
		s.uid = detectionUID(c.cfg.AnalyticID, c.cfg.Host, s.pid, s.key.time, s.time, s.primary)
	}
	for _, gc := range groups {
		if gc.g.key == s.primary {
			return gc.g.display
		}
	}
	return groups[0].g.display
}

// chain orders the staged files' evidence in time, keeps what fits beside
// the archive step and its encryption, and appends those two; it returns
// the chain, the time of its last event and whether the archive is
// encrypted.
func (c *Correlator) chain(s *step, staged []event.Evidence, actor string) ([]event.Evidence, int64, bool) {
	sort.SliceStable(staged, func(i, j int) bool { return staged[i].Time.Before(staged[j].Time) })
	// One event reported twice (two exports of one log replayed together,
	// two sensors) is one piece of evidence.
	kept := staged[:0]
	for i, e := range staged {
		if i > 0 && e == staged[i-1] {
			continue
		}
		kept = append(kept, e)
	}
	staged = kept
	room := c.cfg.MaxEvidence - 1
	if s.enc != nil {
		room--
	}
	if len(staged) > room {
		staged = staged[:room]
	}
	evidence := append(staged, event.Evidence{Time: time.Unix(0, s.time).UTC(), Kind: archiveKind(s), Path: s.outDisp,
		PID: s.pid, Process: s.exe, Cmdline: s.process, Actor: actor, Note: "archive step (" + s.tool + ")"})
	last, encrypted := s.time, s.encrypted
	if s.enc != nil {
		encrypted = true
		last = max(last, s.enc.time)
		evidence = append(evidence, event.Evidence{Time: time.Unix(0, s.enc.time).UTC(), Kind: "exec", Path: s.enc.output,
			PID: s.enc.pid, Cmdline: s.enc.process, Actor: actor, Note: "encryption of the archive (" + s.enc.tool + ")"})
	}
	return evidence, last, encrypted
}

func archiveKind(s *step) string {
	if s.fileStep {
		return "write"
	}
	return "exec"
}

// detectionUID is stable across replays of the same events: it depends on
// the step's process and time and the staging group only.
func detectionUID(analytic, host string, pid, execTime, stepTime int64, group string) string {
	t := execTime
	if t == 0 {
		t = stepTime
	}
	sum := sha256.Sum256([]byte(analytic + "|" + host + "|" + strconv.FormatInt(pid, 10) + "|" + strconv.FormatInt(t, 10) + "|" + group))
	return hex.EncodeToString(sum[:16])
}

// computeScore grows with the evidence: more files (log scale), more bytes
// (log scale), sensitive types, encryption, and a privileged or interactive
// actor.
func computeScore(files, bytes int64, cats [5]int64, encrypted, elevated, interactive bool) int {
	score := 20.0
	if files > 1 {
		score += min(25, 8*math.Log2(float64(files)))
	}
	if bytes > 1000 {
		score += min(15, 3*math.Log10(float64(bytes)/1000))
	}
	sensitive := 0.0
	if cats[catDocument] > 0 {
		sensitive += 10
	}
	if cats[catKey] > 0 {
		// A key or secret weighs as much as all other types together:
		// staging one is the step before using it elsewhere.
		sensitive += 30
	}
	if cats[catDatabase] > 0 {
		sensitive += 10
	}
	if cats[catMail] > 0 {
		sensitive += 10
	}
	score += min(30, sensitive)
	if encrypted {
		score += 20
	}
	if elevated {
		score += 10
	}
	if interactive {
		score += 5
	}
	return int(min(100, max(0, math.Round(score))))
}

func severity(score int) string {
	switch {
	case score >= 70:
		return "high"
	case score >= 40:
		return "medium"
	}
	return "low"
}

// reason says what happened as a person would: who, how the files came
// (copied from where, moved, created in place), what they were, where,
// which archiver or script packed them, and how long it all took.
func reason(s *step, d *event.Detection, t *tally) string {
	var b strings.Builder
	b.WriteString(shortActor(&s.actor))
	var verbs []string
	for _, x := range []struct {
		how  arrival
		verb string
	}{{arrivedCopied, "copied"}, {arrivedMoved, "moved"}, {arrivedCreated, "created"}} {
		n := t.how[x.how]
		if n == 0 {
			continue
		}
		v := fmt.Sprintf("%s %d %s", x.verb, n, plural(n, "file", "files"))
		if from, others := t.sources[x.how].top(); from != "" {
			v += " from " + from
			if others > 0 {
				v += fmt.Sprintf(" and %d other %s", others, plural(int64(others), "place", "places"))
			}
		}
		verbs = append(verbs, v)
	}
	if overflow := d.FileCount - t.how[0] - t.how[1] - t.how[2]; overflow > 0 {
		// Files past the caps are counted, not kept, so how they came is
		// not known.
		verbs = append(verbs, fmt.Sprintf("staged %d more %s", overflow, plural(overflow, "file", "files")))
	}
	switch len(verbs) {
	case 0:
	case 1:
		b.WriteString(" " + verbs[0])
	default:
		b.WriteString(" " + strings.Join(verbs[:len(verbs)-1], ", ") + " and " + verbs[len(verbs)-1])
	}
	var detail []string
	for _, x := range categoryNames {
		if n := t.cats[x.c]; n > 0 {
			detail = append(detail, fmt.Sprintf("%d %s", n, plural(n, x.one, x.other)))
		}
	}
	if d.Bytes > 0 {
		detail = append(detail, HumanBytes(d.Bytes))
	}
	if len(detail) > 0 {
		b.WriteString(" (" + strings.Join(detail, ", ") + ")")
	}
	b.WriteString(" into " + d.StagingPath)
	if t.remote > 0 {
		b.WriteString(" over a share from " + t.peer)
	}
	if groups := len(t.groups); groups > 1 {
		fmt.Fprintf(&b, " and %d other %s", groups-1, plural(int64(groups-1), "location", "locations"))
	}
	if s.chained != nil {
		b.WriteString(" with " + s.chained.tool)
	}
	b.WriteString(archivePhrase(s, d))
	return b.String()
}

// archivePhrase ends a reason: " and archived them with 7z into X with a
// password, then encrypted it with gpg within 3m".
func archivePhrase(s *step, d *event.Detection) string {
	var b strings.Builder
	b.WriteString(" and archived them with " + s.tool)
	if d.ArchivePath != "" {
		b.WriteString(" into " + d.ArchivePath)
	}
	if s.encrypted {
		b.WriteString(" with a password")
	}
	if s.enc != nil {
		b.WriteString(", then encrypted it with " + s.enc.tool)
	}
	b.WriteString(" within " + humanDuration(time.Duration(s.time-d.FirstSeen.UnixNano())))
	return b.String()
}

// categoryNames name the sensitive types in reasons.
var categoryNames = []struct {
	c          category
	one, other string
}{{catDocument, "document", "documents"}, {catKey, "key or secret", "keys or secrets"},
	{catDatabase, "database", "databases"}, {catMail, "mail store", "mail stores"}}

func plural(n int64, one, other string) string {
	if n == 1 {
		return one
	}
	return other
}

// HumanBytes is n as reasons and progress lines say it: 2.1 MB, 512 bytes.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// humanDuration renders how long staging took, to the second and never
// more than it was: "1s" under a second, "45s", "3m" (180 s), "3m20s",
// "1h5m" (to the minute past an hour).
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "1s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		m, sec := int(d/time.Minute), int(d%time.Minute/time.Second)
		if sec == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, sec)
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// shortActor is the actor as a sentence subject: "root (auid 1000, pts/0)".
func shortActor(a *event.Actor) string {
	var parts []string
	if a.AUID >= 0 && a.AUID != a.UID {
		parts = append(parts, "auid "+strconv.FormatInt(a.AUID, 10))
	}
	if a.HasTerminal() {
		parts = append(parts, a.TTY)
	}
	if len(parts) == 0 {
		return a.Name()
	}
	return a.Name() + " (" + strings.Join(parts, ", ") + ")"
}

// formatProcess renders a process as the platform writes a command line,
// the executable's path first: on Windows the line the OS recorded or argv
// quoted as Windows reads it back (backslashes stay single), elsewhere
// argv's arguments quoted where they hold spaces or quotes.
func (c *Correlator) formatProcess(exe string, p *event.Process) string {
	if exe == "" && len(p.Argv) > 0 {
		exe = p.Argv[0]
	}
	if c.style == Windows {
		if p.CommandLine != "" {
			return p.CommandLine
		}
		var b strings.Builder
		b.WriteString(event.WindowsQuote(exe))
		for _, a := range argvTail(p.Argv) {
			b.WriteByte(' ')
			b.WriteString(event.WindowsQuote(a))
		}
		return b.String()
	}
	var b strings.Builder
	b.WriteString(quoteArg(exe))
	for _, a := range argvTail(p.Argv) {
		b.WriteByte(' ')
		b.WriteString(quoteArg(a))
	}
	return b.String()
}

func quoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\n\"'") {
		return a
	}
	return strconv.Quote(a)
}
