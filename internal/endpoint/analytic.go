// Package endpoint is what the endpoint analytics (AN0040 Windows, AN0041
// Linux, AN0042 macOS) share: one implementation of sdk.Analytic that an
// analytic fills with its Definition (who it is, how its elements are
// named, its replay formats and its live collectors), and beneath it the
// one path every event takes, live or replayed: process table with
// ancestry and enrichment, settle buffer, the staging correlator and the
// endpoint tables. Health counters, configuration checks and the replay
// loop are here too, so an analytic is its collectors, its parsers and its
// description.
package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Definition is everything that makes one endpoint analytic itself.
type Definition struct {
	ID          string // AN0041
	Platform    string // osquery platform name: linux, windows, darwin
	Version     string // the analytic's own version
	Name        string
	Description string
	TechniqueID string // default T1074.001
	PathStyle   staging.PathStyle
	Names       Names
	// Formats are the recorded logs Ingest reads, the first the default.
	Formats []Format
	// Live is how the analytic collects on this platform; nil when it
	// cannot here (the build is for another OS), and then LiveUnavailable
	// says why.
	Live            *Live
	LiveUnavailable string
	// CopySteps and ArchiveAlone turn on the correlator's rules for
	// DET0014's Windows behaviours (staging.Config): a copy read from a
	// command line is a step and a detection of its own, and an archiver
	// naming a staging directory is one without staged files seen.
	CopySteps, ArchiveAlone bool
}

// Analytic is an endpoint analytic. Its zero value is not usable; call New.
type Analytic struct {
	def      Definition
	elements []sdk.MutableElement
	tables   *Tables
	table    *procTable
	pipeline *pipeline

	mu         sync.Mutex
	configured bool
	mode       sdk.Mode
	dirs       []string
	live       *liveRun // nil until Start
	started    time.Time
	ingests    ingestTotals
	state      *durable // nil: memory only
	stateErr   string   // why the state directory could not be used
	// stateDir is the analytic's state directory when its state opened:
	// collectors keep their own positions there (a Windows bookmark).
	stateDir  string
	stateNote string // what happened to the state at start, said but not a fault now
	restored  restoreStats

	collectorErrors atomic.Uint64
}

type ingestTotals struct {
	parseErrors uint64
	firstError  string
}

// restoreStats are what the last start read back from the state.
type restoreStats struct {
	events, detections, skipped int
	took                        time.Duration
}

var _ sdk.Analytic = (*Analytic)(nil)

// New returns an unconfigured analytic of def.
func New(def Definition) *Analytic {
	if def.TechniqueID == "" {
		def.TechniqueID = schema.TechniqueLocal
	}
	if def.PathStyle == staging.PathAuto {
		def.PathStyle = staging.StyleFor(def.Platform)
	}
	if len(def.Formats) == 0 {
		panic("endpoint: analytic " + def.ID + " declares no replay format")
	}
	cmdline := event.PosixCommandLine
	if def.PathStyle == staging.Windows {
		cmdline = event.WindowsCommandLine
	}
	tables := NewTables(TablesConfig{AnalyticID: def.ID, Platform: def.Platform, Style: cmdline})
	table := newProcTable(defaultMaxProcesses, nil)
	return &Analytic{
		def:      def,
		elements: def.Names.Elements(def.Platform),
		tables:   tables,
		table:    table,
		pipeline: newPipeline(table, tables, def.PathStyle),
	}
}

// Describe says who the analytic is.
func (a *Analytic) Describe() sdk.Descriptor {
	formats := make([]string, len(a.def.Formats))
	for i, f := range a.def.Formats {
		formats[i] = f.Name
	}
	return sdk.Descriptor{
		AnalyticID:      a.def.ID,
		DetectionID:     schema.DetectionID,
		TechniqueID:     a.def.TechniqueID,
		Platform:        a.def.Platform,
		Version:         a.def.Version,
		Name:            a.def.Name,
		Description:     a.def.Description,
		MutableElements: a.elements,
		Tables:          a.tables.Specs(),
		InputFormats:    formats,
	}
}

// Configure validates the mutable elements and builds the correlator. A
// reconfiguration while running applies at once; changed staging
// directories reopen the collectors that follow them.
func (a *Analytic) Configure(ctx context.Context, req sdk.ConfigureRequest) (json.RawMessage, error) {
	st, err := a.def.Names.decode(a.elements, req.Config, staging.Config{
		AnalyticID:   a.def.ID,
		Platform:     a.def.Platform,
		TechniqueID:  a.def.TechniqueID,
		Host:         req.HostIdentifier,
		PathStyle:    a.def.PathStyle,
		CopySteps:    a.def.CopySteps,
		ArchiveAlone: a.def.ArchiveAlone,
	})
	if err != nil {
		return nil, err
	}
	corr, err := staging.New(st.corr)
	if err != nil {
		return nil, a.def.Names.configError(err)
	}
	mode := req.Mode
	if mode == 0 {
		mode = sdk.ModeLive
	}
	if mode == sdk.ModeLive {
		if err := a.def.Names.checkResolved(st.dirs, a.def.PathStyle); err != nil {
			return nil, err
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live != nil && mode != a.mode {
		return nil, &sdk.ConfigError{Key: "mode", Reason: fmt.Sprintf("expected %s while collecting, got %s", a.mode, mode)}
	}
	var lookup func(int64) (event.Process, event.Actor, bool)
	if mode == sdk.ModeLive && a.def.Live != nil {
		lookup = a.def.Live.Lookup
	}
	a.table.setLookup(lookup)
	a.pipeline.reconfigure(corr, st.roots, req.HostIdentifier)
	dirsChanged := !slices.Equal(a.dirs, st.dirs)
	first := !a.configured
	a.configured, a.mode, a.dirs = true, mode, st.dirs
	if first && req.StateDir != "" {
		a.openState(ctx, req, mode)
	}
	if a.live != nil && dirsChanged {
		a.live.follow(st.dirs)
	}
	return st.values.JSON(), nil
}

// openState opens the analytic's durable state and feeds back what it
// kept, before the analytic serves anything. A state that cannot be used
// (a full disk, a directory refused) leaves the analytic in memory, said
// in its health; it never stops detection.
func (a *Analytic) openState(ctx context.Context, req sdk.ConfigureRequest, mode sdk.Mode) {
	start := time.Now()
	d, err := openDurable(req.StateDir, req.State, func(msg string) { a.stateLog(msg) })
	if err != nil {
		a.stateErr = durableError(err)
		a.stateLog(a.stateErr)
		return
	}
	// Live state ages by the wall clock; a replayed one by its own newest
	// record, so last week's logs replayed today are not expired at once.
	if mode == sdk.ModeLive {
		d.expire(time.Now())
	} else {
		d.expire(d.latest())
	}
	evs, dets, skipped, err := a.pipeline.restore(ctx, d, mode != sdk.ModeLive)
	if err != nil {
		a.stateErr = durableError(err)
		a.stateLog(a.stateErr)
		_ = d.close()
		return
	}
	a.state, a.stateDir = d, req.StateDir
	a.restored = restoreStats{events: evs, detections: dets, skipped: skipped, took: time.Since(start)}
	if evs > restoreReleaseAfter {
		// Reading back a large state leaves as much garbage as it kept;
		// hand it back now rather than carry it as resident memory.
		debug.FreeOSMemory()
	}
	if d.movedAway != "" {
		// Said in the message (and logged) for the life of the process, but
		// not a fault: the new state works.
		a.stateNote = "the state found at start was damaged, foreign or of another layout; it was moved aside to " + d.movedAway
	}
}

func (a *Analytic) stateOf() *durable {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// restoreReleaseAfter is how many events read back make it worth
// returning the garbage of reading them to the system at once.
const restoreReleaseAfter = 10000

// stateLog reports what happened to the state in the plugin's log; the
// host relays it into its own.
var stateLog = func(msg string) { fmt.Fprintln(os.Stderr, msg) }

func (a *Analytic) stateLog(msg string) { stateLog(strings.ToLower(a.def.ID) + ": " + msg) }

// Start begins live collection; it runs until ctx ends or Close is called.
// Outside live mode there is nothing to collect: replay is fed by Ingest,
// and a one-shot query serves what the tables hold.
func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := strings.ToLower(a.def.ID)
	switch {
	case !a.configured:
		return errors.New(id + ": Start before Configure")
	case a.mode != sdk.ModeLive:
		return nil
	case a.def.Live == nil:
		return errors.New(id + ": " + a.def.LiveUnavailable)
	case a.live != nil:
		return errors.New(id + ": already started")
	}
	lv, err := startLive(ctx, a.def.ID, a.def.Live, a.pipeline, a.table, a.dirs, a.stateDir, func() { a.collectorErrors.Add(1) })
	if err != nil {
		return err
	}
	a.live, a.started = lv, time.Now()
	return nil
}

// Generate serves the tables.
func (a *Analytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return a.tables.Generate(ctx, table, constraints, emit)
}

// Ingest replays one recorded log through the same pipeline as live
// events, with no settle delay and the records' own clock. The format is
// the one named, else recognised by content; gzip-compressed input is read
// decompressed, and each member of a zip archive as an input of its own.
func (a *Analytic) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	var stats sdk.IngestStats
	id := strings.ToLower(a.def.ID)
	if format != "" {
		if _, err := chooseFormat(a.def.Formats, format, nil); err != nil {
			return stats, fmt.Errorf("%s: %s: input format %q not understood; %s reads %s", id, source, format, a.def.ID, a.formatList())
		}
	}
	a.mu.Lock()
	configured := a.configured
	a.mu.Unlock()
	if !configured {
		return stats, errors.New(id + ": Ingest before Configure")
	}

	counted := &countingReader{r: r}
	in, head, err := openInput(counted)
	if err != nil {
		stats.Bytes = counted.n
		return stats, fmt.Errorf("%s: reading %s: %w", id, source, err)
	}
	before := a.pipeline.stats().detections
	a.pipeline.beginInput()
	emit := func(ev *event.Event) {
		stats.Events++
		a.pipeline.direct(ev)
	}
	var (
		ds      DecodeStats
		readErr error
	)
	if isZip(head) {
		// Each member is an input of its own, its format recognised
		// by its content.
		ds, readErr = decodeZip(ctx, in, func(member io.Reader, head []byte) (DecodeStats, error) {
			f, _ := chooseFormat(a.def.Formats, format, head)
			return f.Decode(ctx, member, emit)
		})
	} else {
		f, _ := chooseFormat(a.def.Formats, format, head)
		ds, readErr = f.Decode(ctx, in, emit)
	}
	a.pipeline.saveReplayed()
	if d := a.stateOf(); d != nil {
		d.expire(d.latest())
	}
	stats.Bytes = counted.n
	stats.Records, stats.ParseErrors, stats.FirstError = ds.Records, ds.ParseErrors, ds.FirstError
	stats.Detections = a.pipeline.stats().detections - before

	a.mu.Lock()
	a.ingests.parseErrors += stats.ParseErrors
	if a.ingests.firstError == "" && ds.FirstError != "" {
		a.ingests.firstError = source + ": " + ds.FirstError
	}
	a.mu.Unlock()
	if readErr != nil {
		return stats, fmt.Errorf("%s: reading %s: %w", id, source, readErr)
	}
	return stats, nil
}

func (a *Analytic) formatList() string {
	var names []string
	for _, f := range a.def.Formats {
		names = append(names, fmt.Sprintf("%s logs (format %q)", f.Name, f.Name))
	}
	return strings.Join(names, ", ")
}

// Health reports state, counters and per-collector detail.
func (a *Analytic) Health(ctx context.Context) sdk.Health {
	a.mu.Lock()
	configured, mode, lv, started, ingests := a.configured, a.mode, a.live, a.started, a.ingests
	a.mu.Unlock()

	ps := a.pipeline.stats()
	misses, evicts := a.table.counters()
	extra := map[string]uint64{
		"correlator_late":          ps.correlator.Late,
		"correlator_stale":         ps.correlator.Stale,
		"correlator_ignored":       ps.correlator.Ignored,
		"correlator_staged":        ps.correlator.Staged,
		"correlator_archive_steps": ps.correlator.ArchiveSteps,
		"correlator_updates":       ps.correlator.Updates,
		"correlator_groups":        uint64(ps.correlator.Groups),
		"settle_pending":           uint64(ps.pending),
		"replay_duplicates":        ps.duplicates,
		"process_table_size":       uint64(a.table.size()),
		"process_table_misses":     misses,
		"process_table_evictions":  evicts,
	}
	evictions := StoreCounters(a.tables.store, extra)
	h := sdk.Health{
		State:   sdk.StateConfigured,
		Message: "configured, " + mode.String() + " mode",
		Started: started,
		Counters: sdk.Counters{
			EventsSeen:      ps.seen,
			EventsDropped:   ps.drops + evictions,
			ParseErrors:     ingests.parseErrors,
			Detections:      ps.detections,
			CollectorErrors: a.collectorErrors.Load(),
			Extra:           extra,
		},
	}
	if !configured {
		h.State, h.Message = sdk.StateFailed, "not configured"
		return h
	}
	if ingests.firstError != "" {
		h.Message += "; first parse error: " + ingests.firstError
	}
	if lv != nil {
		lv.health(&h)
	}
	a.stateHealth(&h)
	return h
}

// stateHealth adds the durable state's size, bounds and failures.
func (a *Analytic) stateHealth(h *sdk.Health) {
	a.mu.Lock()
	d, stateErr, note, restored := a.state, a.stateErr, a.stateNote, a.restored
	a.mu.Unlock()
	if note != "" {
		h.Message += "; " + note
	}
	var problems []string
	if stateErr != "" {
		problems = append(problems, stateErr)
	}
	if d != nil {
		if p := d.counters(h.Extra); p != "" {
			problems = append(problems, p)
		}
		h.Extra["state_restored_events"] = uint64(restored.events)
		h.Extra["state_restored_detections"] = uint64(restored.detections)
		h.Extra["state_restore_ms"] = uint64(restored.took.Milliseconds())
		h.ParseErrors += uint64(restored.skipped)
	}
	if len(problems) > 0 {
		if h.State == sdk.StateRunning || h.State == sdk.StateConfigured {
			h.State = sdk.StateDegraded
		}
		h.Message += "; " + strings.Join(problems, "; ")
	}
}

// Close stops live collection, if any, waits for it to end, and closes
// the state.
func (a *Analytic) Close() error {
	a.mu.Lock()
	lv, d := a.live, a.state
	a.mu.Unlock()
	if lv != nil {
		lv.stop()
	}
	if d != nil {
		a.pipeline.saveReplayed()
		a.pipeline.mu.Lock()
		a.pipeline.state = nil
		a.pipeline.mu.Unlock()
		return d.close()
	}
	return nil
}
