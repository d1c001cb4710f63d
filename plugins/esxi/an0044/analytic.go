// Package an0044 is the ESXi data-staging analytic (DET0014 AN0044):
// "snapshots or data stored in VMFS volumes from root CLI or remote
// agents". It reads the vSphere API of ESXi hosts and vCenters (event
// and task history collectors, recentTask, snapshot trees and file
// layouts) and the ESXi syslog the hosts forward (UDP, TCP, TLS), and
// replays saved ESXi logs and syslog captures offline. It runs on a
// collector host, only when stagewatch.remote_analytics enables it. This
// package is its description, configuration and pipeline; the log reader
// is plugins/esxi/esxilog, the vSphere collector plugins/esxi/vsphere,
// the logic plugins/esxi/correlate, and cursors, dedupe, back-off and
// the syslog listener the shared remote layer (internal/remote).
package an0044

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/correlate"
	"github.com/stagewatch/stagewatch/plugins/esxi/esxilog"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0044"
	Platform   = "esxi"
	// TechniqueID: data gathered into snapshots, cloned disks and
	// datastore files on the hypervisor is staged on a system other than
	// the one it was collected from (the VM): Remote Data Staging. The
	// hypervisor CLI (T1059.012) and SSH (T1021.004) are named in the
	// evidence; T1578's snapshot sub-techniques are IaaS-only in ATT&CK.
	TechniqueID = schema.TechniqueRemote
	Version     = "0.1.0"
)

// Table caps.
const (
	MaxESXiEvents = 50000
	MaxDetections = 10000
)

// Format is the replay format's name.
const Format = "esxi-log"

// Analytic is AN0044. Its zero value is not usable; call New.
type Analytic struct {
	counters remote.Counters

	mu         sync.Mutex
	configured bool
	mode       sdk.Mode
	host       string
	set        settings
	live       *liveRun
	started    time.Time
	stateNote  string
	stateErr   string
	parse      uint64
	firstError string

	// pmu orders the pipeline: one batch at a time through state,
	// correlator and tables.
	pmu        sync.Mutex
	store      *store.Store
	detections *store.Table
	events     *store.Table
	corr       *correlate.Correlator
	state      *remote.State
	seen       uint64
	vmids      vmids
}

var _ sdk.Analytic = (*Analytic)(nil)

// New returns an unconfigured AN0044.
func New() *Analytic {
	a := &Analytic{}
	a.newStore()
	return a
}

func (a *Analytic) newStore() {
	st := store.New()
	a.detections = st.Declare(store.Def{Spec: schema.DetectionsTable, Max: MaxDetections})
	a.events = st.Declare(store.Def{Spec: schema.ESXiEventsTable, Max: MaxESXiEvents})
	a.store = st
}

// Describe says who the analytic is.
func (a *Analytic) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		AnalyticID: AnalyticID, DetectionID: schema.DetectionID, TechniqueID: TechniqueID,
		Platform: Platform, Version: Version, Remote: true,
		Name: "ESXi data staging: snapshot bursts, disk clones and datastore copies from the root CLI or remote agents",
		Description: "Reads the vSphere API of ESXi hosts and vCenters (event and task history, recentTask, snapshot trees) and ESXi syslog (hostd, shell, auth, vmkernel) and detects " +
			"snapshot bursts per VM or host over SnapshotFrequency within TimeWindow, snapshots and disk copies (vmkfstools -i, CopyVirtualDisk_Task, datastore file copies, datastore browser transfers) " +
			"by AccessUserList accounts or from the CLI (CLIContext), activity on VMs marked sensitive, and a shell or SSH login followed by such commands. " +
			"Backup accounts taking one snapshot per VM on their schedule stay quiet.",
		MutableElements: Elements(),
		Tables:          a.store.Tables(),
		InputFormats:    []string{Format},
	}
}

// Configure checks the section and applies it. The first configuration
// with a state directory opens the state and feeds back what it kept.
func (a *Analytic) Configure(ctx context.Context, req sdk.ConfigureRequest) (json.RawMessage, error) {
	mode := req.Mode
	if mode == 0 {
		mode = sdk.ModeLive
	}
	st, err := decode(req.Config, mode == sdk.ModeLive)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live != nil && mode != a.mode {
		return nil, &sdk.ConfigError{Key: "mode", Reason: fmt.Sprintf("expected %s while collecting, got %s", a.mode, mode)}
	}
	first := !a.configured
	a.configured, a.mode, a.host, a.set = true, mode, req.HostIdentifier, st
	a.pmu.Lock()
	if first {
		a.state = remote.MemoryState(req.State)
	}
	a.corr = correlate.New(st.corr)
	a.pmu.Unlock()
	if first && req.StateDir != "" {
		a.openState(ctx, req)
	} else if !first && a.state.Durable() {
		a.rebuild(ctx)
	}
	return st.effect, nil
}

func (a *Analytic) openState(ctx context.Context, req sdk.ConfigureRequest) {
	s, err := remote.OpenState(req.StateDir, req.State, func(msg string) { logf("%s", msg) })
	if err != nil {
		a.stateErr = "state kept in memory only: " + err.Error()
		logf("%s", a.stateErr)
		return
	}
	if a.mode == sdk.ModeLive {
		s.Expire(time.Now())
	}
	a.pmu.Lock()
	a.state = s
	a.pmu.Unlock()
	if m := s.MovedAway(); m != "" {
		a.stateNote = "the state found at start was damaged, foreign or of another layout; it was moved aside to " + m
	}
	a.rebuild(ctx)
}

// rebuild feeds every kept event through a fresh correlator and tables,
// then adds the kept detections no event brought back.
func (a *Analytic) rebuild(ctx context.Context) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	a.corr = correlate.New(a.set.corr)
	a.newStore()
	err := a.state.Events(ctx, func(it remote.Item) error {
		var ev activity.Event
		if json.Unmarshal(it.Data, &ev) != nil {
			a.counters.Add("state_skipped", 1)
			return nil
		}
		a.correlate(&ev, false)
		return nil
	})
	if err == nil {
		err = a.state.Detections(ctx, func(it remote.Item) error {
			if a.detections.Has(it.Key) {
				return nil
			}
			var d event.Detection
			if json.Unmarshal(it.Data, &d) == nil {
				a.detections.Upsert(d.UID, store.NewDetection(&d, a.host))
			}
			return nil
		})
	}
	if err != nil {
		a.stateErr = "state not read back: " + err.Error()
	}
}

// logf writes to the plugin's log; the host relays it.
var logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "an0044: "+format+"\n", args...) }

// Process is the one path events take, live or replayed: committed to
// the state with the source's cursors (duplicates by key dropped),
// correlated, and served. An error means nothing of the batch was kept:
// the source reads it again.
func (a *Analytic) Process(ctx context.Context, evs []activity.Event, cursors map[string]string) (fresh int, err error) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	a.seen += uint64(len(evs))
	for i := range evs {
		if name, ok := a.vmids.resolve(evs[i].Host, evs[i].VM); ok {
			evs[i].VM = name
			a.counters.Add("vmids_resolved", 1)
		}
	}
	batch := remote.Batch{Cursors: cursors, Events: make([]remote.Item, len(evs))}
	for i := range evs {
		data, _ := json.Marshal(&evs[i])
		batch.Events[i] = remote.Item{Key: evs[i].Key, Time: evs[i].Time, Data: data}
	}
	flags, err := a.state.Commit(batch)
	if err != nil {
		a.counters.Add("state_commit_failures", 1)
		return 0, err
	}
	var dets []remote.Item
	for i := range evs {
		if !flags[i] {
			a.counters.Add("duplicates", 1)
			continue
		}
		fresh++
		e := evs[i]
		dets = append(dets, a.correlate(&e, true)...)
	}
	if len(dets) > 0 {
		if _, err := a.state.Commit(remote.Batch{Detections: dets}); err != nil {
			a.counters.Add("state_commit_failures", 1)
		}
	}
	return fresh, ctx.Err()
}

// correlate serves one new event and returns its detections to keep.
func (a *Analytic) correlate(e *activity.Event, keep bool) []remote.Item {
	if e.Action != activity.Other {
		a.events.Add(&esxiRecord{e: e})
	}
	var out []remote.Item
	for _, d := range a.corr.Add(e) {
		a.detections.Upsert(d.UID, store.NewDetection(&d, a.host))
		if keep {
			data, _ := json.Marshal(d)
			out = append(out, remote.Item{Key: d.UID, Time: d.Time, Data: data})
		}
	}
	return out
}

// Start begins live collection. Outside live mode there is nothing to
// collect.
func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.configured:
		return errors.New("an0044: Start before Configure")
	case a.mode != sdk.ModeLive:
		return nil
	case a.live != nil:
		return errors.New("an0044: already started")
	}
	lv, err := startLive(ctx, a)
	if err != nil {
		return err
	}
	a.live, a.started = lv, time.Now()
	return nil
}

// Generate serves the tables.
func (a *Analytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	a.pmu.Lock()
	st := a.store
	a.pmu.Unlock()
	return st.Generate(ctx, table, constraints, emit)
}

// Ingest replays one saved ESXi log or syslog capture.
func (a *Analytic) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	var stats sdk.IngestStats
	if format != "" && format != Format {
		return stats, fmt.Errorf("an0044: %s: input format %q not understood; AN0044 reads ESXi logs and syslog captures (format %q)", source, format, Format)
	}
	a.mu.Lock()
	configured := a.configured
	a.mu.Unlock()
	if !configured {
		return stats, errors.New("an0044: Ingest before Configure")
	}
	counted := &countingReader{r: r}
	a.pmu.Lock()
	before := a.corr.Stats().Detections
	a.pmu.Unlock()
	var perr error
	ls, err := esxilog.Decode(counted, "", func(evs []activity.Event) {
		if perr != nil {
			return
		}
		n, err := a.Process(ctx, evs, nil)
		stats.Events += uint64(n)
		perr = err
	})
	stats.Bytes, stats.Records, stats.ParseErrors, stats.FirstError = counted.n, ls.Lines, ls.ParseErrors, ls.FirstError
	a.counters.Add("log_oversized", ls.Oversized)
	a.counters.Add("log_bad_pri", ls.BadPRI)
	a.counters.Add("log_continuations", ls.Continuations)
	a.pmu.Lock()
	stats.Detections = a.corr.Stats().Detections - before
	a.pmu.Unlock()
	a.mu.Lock()
	a.parse += ls.ParseErrors
	if a.firstError == "" && ls.FirstError != "" {
		a.firstError = source + ": " + ls.FirstError
	}
	a.mu.Unlock()
	if err == nil {
		err = perr
	}
	if err != nil {
		return stats, fmt.Errorf("an0044: reading %s: %w", source, err)
	}
	return stats, nil
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// Health reports state and counters.
func (a *Analytic) Health(ctx context.Context) sdk.Health {
	a.mu.Lock()
	configured, mode, lv, started, parse, firstError := a.configured, a.mode, a.live, a.started, a.parse, a.firstError
	note, stateErr := a.stateNote, a.stateErr
	a.mu.Unlock()
	a.pmu.Lock()
	cs := correlate.Stats{}
	if a.corr != nil {
		cs = a.corr.Stats()
	}
	seen, st, state := a.seen, a.store, a.state
	a.pmu.Unlock()
	extra := map[string]uint64{
		"correlator_events": cs.Seen, "correlator_late": cs.Late, "correlator_failed": cs.Failed, "correlator_merged": cs.Merged,
		"correlator_backup": cs.Backup, "correlator_updates": cs.Updates, "correlator_groups": uint64(cs.Groups),
	}
	a.counters.Into(extra)
	var evictions uint64
	for _, s := range st.Stats() {
		extra["store_"+strings.TrimPrefix(s.Name, "staging_")] = uint64(s.Rows)
		evictions += s.Evictions
	}
	extra["store_evictions"] = evictions
	h := sdk.Health{
		State: sdk.StateConfigured, Message: "configured, " + mode.String() + " mode", Started: started,
		Counters: sdk.Counters{
			EventsSeen: seen, EventsDropped: cs.Late + evictions + a.counters.Get("syslog_dropped"), ParseErrors: parse + a.counters.Get("parse_errors"),
			Detections: cs.Detections, CollectorErrors: a.counters.Get("collector_errors"), Extra: extra,
		},
	}
	if !configured {
		h.State, h.Message = sdk.StateFailed, "not configured"
		return h
	}
	if firstError != "" {
		h.Message += "; first parse error: " + firstError
	}
	if lv != nil {
		lv.health(&h)
	}
	var problems []string
	if stateErr != "" {
		problems = append(problems, stateErr)
	}
	if state != nil {
		if p := state.Counters(extra); p != "" {
			problems = append(problems, p)
		}
	}
	if note != "" {
		h.Message += "; " + note
	}
	if len(problems) > 0 {
		if h.State == sdk.StateRunning || h.State == sdk.StateConfigured {
			h.State = sdk.StateDegraded
		}
		h.Message += "; " + strings.Join(problems, "; ")
	}
	return h
}

// Counters is the analytic's counter set, for its collectors.
func (a *Analytic) Counters() *remote.Counters { return &a.counters }

// Close stops collection and closes the state.
func (a *Analytic) Close() error {
	a.mu.Lock()
	lv := a.live
	a.live = nil
	a.mu.Unlock()
	if lv != nil {
		lv.stop()
	}
	a.pmu.Lock()
	defer a.pmu.Unlock()
	if a.state != nil {
		err := a.state.Close()
		a.state = remote.MemoryState(sdk.StateLimits{})
		return err
	}
	return nil
}
