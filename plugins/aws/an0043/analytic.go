// Package an0043 is the AWS data-staging analytic (DET0014 AN0043):
// "virtual disk expansion or file copy operations to cloud buckets or
// mounted volumes from isolated instances". It reads CloudTrail remotely
// — trail files from S3 by listing or by S3 event notifications on SQS,
// management events by LookupEvents — resolves instance tags, addresses
// and volume attachments from EC2, and replays CloudTrail files offline.
// It runs on any host (a collector per account or organization), only
// when stagewatch.remote_analytics enables it. This package is its
// description, configuration and pipeline; the parser is
// plugins/aws/cloudtrail, the logic plugins/aws/correlate, the AWS
// clients plugins/aws/collect, and cursors, dedupe and back-off the
// shared remote layer (internal/remote).
package an0043

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
	"github.com/stagewatch/stagewatch/plugins/aws/correlate"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0043"
	Platform   = "aws"
	// TechniqueID: ATT&CK files staging in cloud storage, on cloud
	// volumes and in snapshots under Remote Data Staging; sharing, reads
	// and snapshot steps carry their own technique in the evidence
	// (T1537, T1530, T1578.*).
	TechniqueID = schema.TechniqueRemote
	Version     = "0.1.0"
)

// Table caps.
const (
	MaxCloudEvents = 50000
	MaxDetections  = 10000
)

// Format is the replay format's name.
const Format = "cloudtrail"

// Analytic is AN0043. Its zero value is not usable; call New.
type Analytic struct {
	store      *store.Store
	detections *store.Table
	events     *store.Table
	counters   remote.Counters
	hooks      testHooks

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
	pmu   sync.Mutex
	corr  *correlate.Correlator
	state *remote.State
}

var _ sdk.Analytic = (*Analytic)(nil)

// New returns an unconfigured AN0043.
func New() *Analytic {
	st := store.New()
	return &Analytic{
		store:      st,
		detections: st.Declare(store.Def{Spec: schema.DetectionsTable, Max: MaxDetections}),
		events:     st.Declare(store.Def{Spec: schema.CloudEventsTable, Max: MaxCloudEvents}),
	}
}

// Describe says who the analytic is.
func (a *Analytic) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		AnalyticID: AnalyticID, DetectionID: schema.DetectionID, TechniqueID: TechniqueID,
		Platform: Platform, Version: Version, Remote: true,
		Name: "AWS data staging: object bursts from instances, volume growth, snapshots and sharing",
		Description: "Reads CloudTrail (trail files from S3 by listing or by S3 notifications on SQS, LookupEvents for management events) and detects " +
			"an EC2 instance role writing or copying objects in a burst over ObjectWriteThreshold within TimeWindow, instance credentials used from outside the instance, " +
			"volumes grown or created and attached to in-scope instances (InstanceTag), snapshot bursts, and snapshots or images shared with other accounts or publicly. " +
			"Backup, log shipping and CI writing at steady rates and AWS services acting for themselves stay quiet.",
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
	if a.live != nil {
		st.corr.Resolver = a.live.resolver
	}
	if first {
		a.state = remote.MemoryState(req.State)
	}
	a.corr = correlate.New(st.corr)
	a.pmu.Unlock()
	if first && req.StateDir != "" {
		a.openState(ctx, req)
	} else if !first && a.state.Durable() {
		// New elements: correlate what is kept again under them.
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
	a.corr = correlate.New(a.corrConfig())
	a.store = nil
	st := store.New()
	a.detections = st.Declare(store.Def{Spec: schema.DetectionsTable, Max: MaxDetections})
	a.events = st.Declare(store.Def{Spec: schema.CloudEventsTable, Max: MaxCloudEvents})
	a.store = st
	err := a.state.Events(ctx, func(it remote.Item) error {
		var ev cloudtrail.Event
		if json.Unmarshal(it.Data, &ev) != nil {
			a.counters.Add("state_skipped", 1)
			return nil
		}
		a.correlate(&ev)
		return nil
	})
	a.flush(false)
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

func (a *Analytic) corrConfig() correlate.Config {
	c := a.set.corr
	if a.live != nil {
		c.Resolver = a.live.resolver
	}
	return c
}

// logf writes to the plugin's log; the host relays it.
var logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "an0043: "+format+"\n", args...) }

// Process is the one path records take, live or replayed: normalized,
// committed to the state with the source's cursors and marks (the
// duplicates by eventID dropped), correlated, and served. An error means
// nothing of the batch was kept: the source reads it again.
func (a *Analytic) Process(ctx context.Context, recs []*cloudtrail.Record, cursors map[string]string, marks []remote.Mark) (fresh int, err error) {
	evs := make([]*cloudtrail.Event, 0, len(recs)/4)
	for _, r := range recs {
		if e, ok := cloudtrail.Normalize(r); ok {
			evs = append(evs, e)
		}
	}
	a.pmu.Lock()
	defer a.pmu.Unlock()
	batch := remote.Batch{Cursors: cursors, Marks: marks, Events: make([]remote.Item, len(evs))}
	for i, e := range evs {
		data, _ := json.Marshal(e)
		batch.Events[i] = remote.Item{Key: dedupeKey(e), Time: e.Time, Data: data}
	}
	flags, err := a.state.Commit(batch)
	if err != nil {
		a.counters.Add("state_commit_failures", 1)
		return 0, err
	}
	for i, e := range evs {
		if !flags[i] {
			a.counters.Add("duplicates", 1)
			continue
		}
		fresh++
		a.correlate(e)
	}
	if dets := a.flush(true); len(dets) > 0 {
		if _, err := a.state.Commit(remote.Batch{Detections: dets}); err != nil {
			a.counters.Add("state_commit_failures", 1)
		}
	}
	return fresh, ctx.Err()
}

// correlate serves one new event and correlates it.
func (a *Analytic) correlate(e *cloudtrail.Event) {
	a.events.Add(&cloudRecord{e: e})
	a.corr.Add(e)
}

// flush serves the detections raised or changed since the last flush and
// returns them to keep.
func (a *Analytic) flush(keep bool) []remote.Item {
	var out []remote.Item
	for _, d := range a.corr.Flush() {
		a.detections.Upsert(d.UID, store.NewDetection(&d, a.host))
		if keep {
			data, _ := json.Marshal(d)
			out = append(out, remote.Item{Key: d.UID, Time: d.Time, Data: data})
		}
	}
	return out
}

// dedupeKey is an event's eventID, else what identifies one call.
func dedupeKey(e *cloudtrail.Event) string {
	if e.EventID != "" {
		return e.EventID
	}
	sum := sha256.Sum256([]byte(e.Time.Format(time.RFC3339Nano) + "|" + e.Name + "|" + e.RequestID + "|" + e.Principal + "|" + e.Resource()))
	return "h:" + hex.EncodeToString(sum[:12])
}

// Start begins live collection. Outside live mode there is nothing to
// collect.
func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.configured:
		return errors.New("an0043: Start before Configure")
	case a.mode != sdk.ModeLive:
		return nil
	case a.live != nil:
		return errors.New("an0043: already started")
	}
	lv, err := startLive(ctx, a)
	if err != nil {
		return err
	}
	a.live, a.started = lv, time.Now()
	a.pmu.Lock()
	c := a.set.corr
	c.Resolver = lv.resolver
	a.corr = correlate.New(c)
	a.pmu.Unlock()
	a.rebuildLocked(ctx)
	return nil
}

// rebuildLocked rebuilds with the resolver in place (a.mu held).
func (a *Analytic) rebuildLocked(ctx context.Context) {
	if a.state != nil && a.state.Durable() {
		a.rebuild(ctx)
	}
}

// Generate serves the tables.
func (a *Analytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	a.pmu.Lock()
	st := a.store
	a.pmu.Unlock()
	return st.Generate(ctx, table, constraints, emit)
}

// Ingest replays one recorded CloudTrail input through the pipeline.
func (a *Analytic) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	var stats sdk.IngestStats
	if format != "" && format != Format {
		return stats, fmt.Errorf("an0043: %s: input format %q not understood; AN0043 reads CloudTrail JSON (format %q)", source, format, Format)
	}
	a.mu.Lock()
	configured := a.configured
	a.mu.Unlock()
	if !configured {
		return stats, errors.New("an0043: Ingest before Configure")
	}
	counted := &countingReader{r: r}
	a.pmu.Lock()
	before := a.corr.Stats().Detections
	a.pmu.Unlock()
	const batchSize = 4096
	var batch []*cloudtrail.Record
	var perr error
	flush := func() {
		if len(batch) == 0 || perr != nil {
			return
		}
		n, err := a.Process(ctx, batch, nil, nil)
		stats.Events += uint64(n)
		perr = err
		batch = batch[:0]
	}
	ds, err := cloudtrail.Decode(counted, func(r *cloudtrail.Record) {
		batch = append(batch, r)
		if len(batch) == batchSize {
			flush()
		}
	})
	flush()
	stats.Bytes, stats.Records, stats.ParseErrors, stats.FirstError = counted.n, ds.Records, ds.ParseErrors, ds.FirstError
	a.counters.Add("records", ds.Records)
	a.counters.Add("records_of_no_interest", ds.Skipped)
	a.pmu.Lock()
	stats.Detections = a.corr.Stats().Detections - before
	a.pmu.Unlock()
	a.mu.Lock()
	a.parse += ds.ParseErrors
	if a.firstError == "" && ds.FirstError != "" {
		a.firstError = source + ": " + ds.FirstError
	}
	a.mu.Unlock()
	if err == nil {
		err = perr
	}
	if err != nil {
		return stats, fmt.Errorf("an0043: reading %s: %w", source, err)
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

// Counters is the analytic's counter set, for its collectors.
func (a *Analytic) Counters() *remote.Counters { return &a.counters }

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
	seen, st, state := a.counters.Get("records"), a.store, a.state
	a.pmu.Unlock()
	extra := map[string]uint64{
		"correlator_events":       cs.Seen,
		"correlator_late":         cs.Late,
		"correlator_failed_calls": cs.Failed,
		"correlator_service":      cs.Service,
		"correlator_allowed":      cs.Allowed,
		"correlator_out_of_scope": cs.OutOfScope,
		"correlator_steady":       cs.Steady,
		"correlator_warm_up":      cs.WarmUp,
		"correlator_updates":      cs.Updates,
		"correlator_groups":       uint64(cs.Groups),
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
			EventsSeen: seen, EventsDropped: cs.Late + evictions, ParseErrors: parse + a.counters.Get("parse_errors"),
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
