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

// category is a sensitive file type.
type category uint8

const (
	catNone category = iota
	catDocument
	catKey
	catDatabase
	catMail
)

var extCategory = map[string]category{}

func init() {
	for _, e := range []string{"doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pdf", "odt", "ods", "odp", "rtf", "csv", "pages", "numbers", "key"} {
		extCategory[e] = catDocument
	}
	for _, e := range []string{"pem", "key", "p12", "pfx", "kdbx", "kdb", "ovpn", "jks", "keystore", "ppk", "asc", "gpg", "keychain", "keychain-db"} {
		extCategory[e] = catKey
	}
	for _, e := range []string{"sqlite", "sqlite3", "db", "sql", "mdb", "accdb", "bak", "dump", "ldf", "mdf"} {
		extCategory[e] = catDatabase
	}
	for _, e := range []string{"pst", "ost", "eml", "mbox", "msg", "emlx"} {
		extCategory[e] = catMail
	}
}

var keyNames = map[string]bool{"id_rsa": true, "id_dsa": true, "id_ecdsa": true, "id_ed25519": true,
	"shadow": true, "credentials": true, ".netrc": true, ".pgpass": true, "ntds.dit": true, "sam": true, "system": true}

func categorize(p string, style PathStyle) category {
	base := style.baseName(p)
	var buf [16]byte
	if len(base) <= len(buf) {
		for i := 0; i < len(base); i++ {
			buf[i] = lowerASCII(base[i])
		}
		if keyNames[string(buf[:len(base)])] {
			return catKey
		}
	}
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 || len(base)-dot-1 > len(buf) {
		return catNone
	}
	ext := base[dot+1:]
	for i := 0; i < len(ext); i++ {
		buf[i] = lowerASCII(ext[i])
	}
	return extCategory[string(buf[:len(ext)])]
}

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
	if t.files < int64(c.cfg.MinimumFileCount) || len(t.groups) == 0 {
		return event.Detection{}, false
	}
	primary := c.identify(s, t.groups)
	actor := s.actor.String()
	evidence, last, encrypted := c.chain(s, t.evidence, actor)
	score := computeScore(t.files, t.bytes, t.cats, encrypted, s.actor.Elevated, s.actor.Interactive)
	d := event.Detection{
		Time:        time.Unix(0, s.time).UTC(),
		DetectionID: c.cfg.DetectionID,
		AnalyticID:  c.cfg.AnalyticID,
		TechniqueID: c.cfg.TechniqueID,
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
	d.Reason = reason(s, &d, t.cats, len(t.groups))
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
	groups       []groupCount
	evidence     []event.Evidence
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
		if !all && len(refs) == 0 {
			continue
		}
		covered := func(path string, pid int64, actor uint8, firstT, lastT int64) bool {
			if lastT < since || firstT > s.time || path == s.output {
				return false
			}
			if !s.fileStep && pid == s.pid {
				return false
			}
			if !sameActor(&g.actors[actor].actor, &s.actor) {
				return false
			}
			return all || fileCovered(c.style, path, refs)
		}
		var n int64
		for k, f := range g.files {
			if !covered(k, f.pid, f.actor, f.first, f.last) {
				continue
			}
			n++
			t.bytes += f.size
			t.cats[f.category]++
			t.first = min(t.first, f.first)
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
			if covered(c.style.normalize(e.path), e.pid, e.actor, e.time, e.time) {
				t.evidence = append(t.evidence, event.Evidence{Time: time.Unix(0, e.time).UTC(), Kind: e.kind.String(),
					Path: e.path, Size: max(e.size, 0), PID: e.pid, Process: e.exe, Actor: g.actors[e.actor].actor.String()})
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
		sensitive += 20
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

func reason(s *step, d *event.Detection, cats [5]int64, groups int) string {
	var b strings.Builder
	b.WriteString(shortActor(&s.actor))
	fmt.Fprintf(&b, " copied %d %s", d.FileCount, plural(d.FileCount, "file", "files"))
	var detail []string
	for _, x := range []struct {
		c          category
		one, other string
	}{{catDocument, "document", "documents"}, {catKey, "key or secret", "keys or secrets"},
		{catDatabase, "database", "databases"}, {catMail, "mail store", "mail stores"}} {
		if n := cats[x.c]; n > 0 {
			detail = append(detail, fmt.Sprintf("%d %s", n, plural(n, x.one, x.other)))
		}
	}
	if d.Bytes > 0 {
		detail = append(detail, humanBytes(d.Bytes))
	}
	if len(detail) > 0 {
		b.WriteString(" (" + strings.Join(detail, ", ") + ")")
	}
	b.WriteString(" into " + d.StagingPath)
	if groups > 1 {
		fmt.Fprintf(&b, " and %d other %s", groups-1, plural(int64(groups-1), "location", "locations"))
	}
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

func plural(n int64, one, other string) string {
	if n == 1 {
		return one
	}
	return other
}

func humanBytes(n int64) string {
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

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "1s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(math.Ceil(d.Minutes())))
	}
	return d.Round(time.Minute).String()
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
