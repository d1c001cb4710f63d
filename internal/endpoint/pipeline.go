package endpoint

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
)

// Live events wait in a time-ordered buffer for the settle delay before the
// correlator sees them: the exec of an archiver arrives from audit within
// ~50 ms, but a file staged just before it may be read a little later from
// fanotify, and the archiver's own writes must come after its exec. An event
// whose time is off (clock step, a sensor's lag) still leaves after maxHold.
//
// Live exec times may also be moved forward for the correlator by a skew the
// analytic's sensors call for (Live.ExecSkew): Linux audit stamps an exec to
// the millisecond, truncated, while fanotify can only stamp a file event
// when it reads it, so a file copied just before an archiver started can
// carry a later time than the archiver.
//
// So that a detection is complete the first time it is visible, an
// archiver's exec also waits until the file watcher has caught up with it
// (every file event queued before the exec has been read), and when it
// leaves, the file events that the correlator will count as before it (up
// to the skewed time) leave first, except those of processes whose own exec
// is still waiting: an archiver's writes always follow its exec.
const (
	DefaultSettleDelay = 250 * time.Millisecond
	maxHoldFactor      = 4
	maxPending         = 65536
)

type pending struct {
	ev      *event.Event
	arrived time.Time
	seq     uint64
	kind    staging.CommandKind // what Classify calls an exec
}

type pendingHeap []pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if !h[i].ev.Time.Equal(h[j].ev.Time) {
		return h[i].ev.Time.Before(h[j].ev.Time)
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = pending{}
	*h = old[:len(old)-1]
	return p
}

// pipeline is the one path every event takes, live or replayed: process
// table, settle buffer, correlator, tables. Its lock makes the correlator
// (which is not concurrent) safe for several collectors.
type pipeline struct {
	mu     sync.Mutex
	corr   *staging.Correlator
	roots  *staging.Roots
	host   string
	style  staging.PathStyle
	settle time.Duration
	skew   time.Duration // added to exec times for the correlator; live only
	// caughtUp, set live, says up to when the file collectors have read
	// every queued event (see CaughtUpper).
	caughtUp func() time.Time
	pending  pendingHeap
	seq      uint64

	table  *procTable
	tables *Tables
	// state, when set, keeps the events the correlator can act on (written
	// before they reach the tables) and the detections; unsaved holds
	// replayed events until a batch is written, newDets the detections of
	// the batch being processed.
	state     *durable
	unsaved   []*event.Event
	unsavedAt []tableRow
	newDets   []event.Detection
	restoring bool
	// kept, in replay into a state, holds the keys of the events kept (read
	// back or fed since), each with its occurrence in its input, so input
	// fed again is skipped; occurs counts occurrences in the current input.
	kept       map[occurrence]struct{}
	occurs     map[eventKey]int
	duplicates uint64

	seen uint64
	// kick wakes the live loop when events start waiting to settle, so an
	// idle loop need not poll.
	kick chan struct{}
	// Counters of correlators replaced by a reconfiguration, so totals
	// survive it.
	retiredDetections uint64
	retiredDrops      uint64
}

func newPipeline(table *procTable, tables *Tables, style staging.PathStyle) *pipeline {
	return &pipeline{table: table, tables: tables, style: style, settle: DefaultSettleDelay, kick: make(chan struct{}, 1)}
}

// reconfigure swaps in a new correlator. Events still settling go through
// the old one first so nothing in flight is lost.
func (p *pipeline) reconfigure(corr *staging.Correlator, roots *staging.Roots, host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.corr != nil {
		p.releaseLocked(time.Time{}, true)
		s := p.corr.Stats()
		p.retiredDetections += s.Detections
		p.retiredDrops += dropsOf(s)
	}
	p.corr, p.roots, p.host = corr, roots, host
}

// dropsOf counts what the correlator lost. Files and evidence past their
// caps are still counted in detections, so they are not drops.
func dropsOf(s staging.Stats) uint64 {
	d := s.Dropped
	return d.Groups + d.Steps + d.Actors
}

// goLive turns on the live exec skew and makes archiver execs wait for the
// file collectors to catch up (caughtUp; nil for none).
func (p *pipeline) goLive(skew time.Duration, caughtUp func() time.Time) {
	p.mu.Lock()
	p.skew = skew
	p.caughtUp = caughtUp
	if p.state != nil {
		p.state.setSkew(skew)
	}
	p.mu.Unlock()
}

// arrive takes a live batch: execs enter the process table at once (so the
// file watcher's lookups find them), then everything waits to settle.
func (p *pipeline) arrive(batch []*event.Event, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range batch {
		if ev == nil {
			continue
		}
		p.seen++
		p.admitLocked(ev)
		p.seq++
		kind := p.commandKind(ev)
		if kind == staging.CommandArchiver {
			// Live, the list files an archiver reads its names from are
			// there now; kept with the event, a restart reads the same.
			readLists(ev, p.style)
		}
		heap.Push(&p.pending, pending{ev: ev, arrived: now, seq: p.seq, kind: kind})
	}
	p.releaseLocked(now, false)
	if p.pending.Len() > 0 {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// settling reports whether events wait to be released.
func (p *pipeline) settling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending.Len() > 0
}

// direct feeds one replayed event with no settle delay: a log is already
// in order, and its clock is the events' own.
func (p *pipeline) direct(ev *event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	var o occurrence
	if p.kept != nil {
		k := keyOf(ev)
		o = occurrence{k, p.occurs[k]}
		p.occurs[k]++
		if _, dup := p.kept[o]; dup {
			p.duplicates++
			return
		}
	}
	p.admitLocked(ev)
	kind := p.commandKind(ev)
	p.prepareLocked(ev)
	if p.keepsLocked(ev, kind) {
		p.unsaved = append(p.unsaved, ev)
		p.unsavedAt = append(p.unsavedAt, p.rowOf(ev, kind))
		if p.kept != nil {
			p.kept[o] = struct{}{}
		}
	}
	p.correlateLocked(ev, kind)
	if len(p.unsaved) >= replaySaveBatch {
		p.saveUnsavedLocked()
	}
}

// keepsLocked reports whether ev is written to the state: whatever the
// correlator can act on, and whatever reaches a table, so a restart
// rebuilds the tables row for row.
func (p *pipeline) keepsLocked(ev *event.Event, kind staging.CommandKind) bool {
	if p.state == nil || p.corr == nil {
		return false
	}
	if p.corr.Keeps(ev) {
		return true
	}
	if ev.Kind.IsFile() {
		_, ok := p.roots.Within(ev.Path)
		return ok
	}
	return kind != staging.CommandOther
}

// expireState drops from the durable state what is past its bounds.
func (p *pipeline) expireState(now time.Time) {
	p.mu.Lock()
	d := p.state
	p.mu.Unlock()
	if d != nil {
		d.expire(now)
	}
}

// replaySaveBatch is how many replayed events are written at once.
const replaySaveBatch = 4096

// occurrence is an event's key and how many times the key came before it
// in the same input.
type occurrence struct {
	key eventKey
	n   int
}

// beginInput starts counting occurrences afresh for a new input.
func (p *pipeline) beginInput() {
	p.mu.Lock()
	clear(p.occurs)
	p.mu.Unlock()
}

// saveReplayed writes what replay left unsaved.
func (p *pipeline) saveReplayed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked(true, time.Time{})
	p.saveUnsavedLocked()
}

func (p *pipeline) saveUnsavedLocked() {
	p.saveLocked(p.unsaved, p.unsavedAt)
	p.unsaved, p.unsavedAt = p.unsaved[:0], p.unsavedAt[:0]
}

// saveLocked writes events and the batch's detections. A failure (a full
// disk) is counted by the state and leaves detection to go on in memory.
func (p *pipeline) saveLocked(evs []*event.Event, rows []tableRow) {
	if p.state == nil || p.restoring {
		p.newDets = p.newDets[:0]
		return
	}
	_ = p.state.save(evs, rows, p.newDets)
	p.newDets = p.newDets[:0]
}

// restore feeds the events kept before a restart through the pipeline
// again, in the order they were first processed and with the exec skew
// they were processed with, without writing them again; then puts back
// the detections whose events have expired. With dedupe (replay) the
// events' keys are remembered, so that input fed again is skipped. The
// pipeline keeps its state from then on.
func (p *pipeline) restore(ctx context.Context, d *durable, dedupe bool) (evs, dets, skipped int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.restoring = true
	defer func() { p.restoring = false }()
	saved := p.skew
	defer func() { p.skew = saved }()
	if dedupe {
		p.kept = map[occurrence]struct{}{}
		p.occurs = map[eventKey]int{}
	}
	// Rows older than a full table's oldest would leave it at once: the
	// correlator sees them, the tables are spared them.
	filesFrom := d.rowsFrom(ctx, rowFile, p.tables.files.Max())
	processesFrom := d.rowsFrom(ctx, rowProcess, p.tables.processes.Max())
	evs, skipped, err = d.loadEvents(ctx, func(ev *event.Event, skew time.Duration, row tableRow) {
		p.skew = skew
		if p.kept != nil {
			k := keyOf(ev)
			p.kept[occurrence{k, p.occurs[k]}] = struct{}{}
			p.occurs[k]++
		}
		p.admitLocked(ev)
		kind := p.commandKind(ev)
		p.prepareLocked(ev)
		p.observeLocked(ev, kind)
		switch {
		case row == rowFile && ev.Time.Before(filesFrom), row == rowProcess && ev.Time.Before(processesFrom):
		default:
			p.addRowLocked(ev, kind)
		}
	})
	clear(p.occurs)
	p.newDets = p.newDets[:0]
	if err != nil {
		return evs, 0, skipped, err
	}
	dets, dskipped, err := d.loadDetections(ctx, p.tables.HasDetection, p.tables.UpsertDetection)
	if err != nil {
		return evs, dets, skipped + dskipped, err
	}
	d.setSkew(saved)
	p.state = d
	return evs, dets, skipped + dskipped, nil
}

func (p *pipeline) admitLocked(ev *event.Event) {
	if ev.Host == "" {
		ev.Host = p.host
	}
	if ev.Kind == event.KindExec {
		p.table.exec(ev)
	}
}

// tick releases what has settled and lets the correlator expire old state.
func (p *pipeline) tick(now time.Time, expire bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(now, false)
	if expire && p.corr != nil {
		p.corr.Expire(now)
	}
}

// flush releases everything pending, settled or not.
func (p *pipeline) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(time.Time{}, true)
}

func (p *pipeline) releaseLocked(now time.Time, all bool) {
	settledBefore := now.Add(-p.settle)
	heldSince := now.Add(-maxHoldFactor * p.settle)
	var out []pending
	for p.pending.Len() > 0 {
		top := p.pending[0]
		if !all && len(p.pending) <= maxPending && top.arrived.After(heldSince) {
			if top.ev.Time.After(settledBefore) {
				break
			}
			if top.kind == staging.CommandArchiver && p.caughtUp != nil && p.caughtUp().Before(top.ev.Time) {
				break
			}
		}
		heap.Pop(&p.pending)
		if top.kind == staging.CommandArchiver && p.skew > 0 {
			out = p.pullAheadLocked(top.ev, out)
		}
		out = append(out, top)
	}
	p.processBatchLocked(out)
	p.settleLocked(all, now)
}

// settleLocked takes the detections the correlator updates once events
// stop arriving (a batch copy's last files).
func (p *pipeline) settleLocked(final bool, now time.Time) {
	if p.corr == nil {
		return
	}
	for _, d := range p.corr.Settle(final, now) {
		p.tables.UpsertDetection(&d)
		if p.state != nil && !p.restoring {
			p.newDets = append(p.newDets, d)
		}
	}
}

// processBatchLocked takes settled events in order: each is enriched, those
// the correlator can act on are written to the state (before any reaches
// the tables, so what a query can see is on disk), then all are correlated.
func (p *pipeline) processBatchLocked(batch []pending) {
	if len(batch) == 0 {
		return
	}
	var keep []*event.Event
	var rows []tableRow
	for _, q := range batch {
		p.prepareLocked(q.ev)
		if p.keepsLocked(q.ev, q.kind) {
			keep = append(keep, q.ev)
			rows = append(rows, p.rowOf(q.ev, q.kind))
		}
	}
	if len(keep) > 0 {
		_ = p.state.save(keep, rows, nil)
	}
	for _, q := range batch {
		p.correlateLocked(q.ev, q.kind)
	}
	if len(p.newDets) > 0 {
		p.saveLocked(nil, nil)
	}
}

// pullAheadLocked processes, before the archiver exec ev, the pending file
// events the correlator counts as earlier than it (stamped up to its skewed
// time), except those of processes with an exec still pending, ev's own
// included.
func (p *pipeline) pullAheadLocked(ev *event.Event, out []pending) []pending {
	limit := ev.Time.Add(p.skew)
	candidates := 0
	for _, q := range p.pending {
		if q.ev.Kind.IsFile() && !q.ev.Time.After(limit) {
			candidates++
		}
	}
	if candidates == 0 {
		return out
	}
	execs := map[int64]bool{ev.Process.PID: true}
	for _, q := range p.pending {
		if q.ev.Kind == event.KindExec {
			execs[q.ev.Process.PID] = true
		}
	}
	ahead := make(pendingHeap, 0, candidates)
	kept := p.pending[:0]
	for _, q := range p.pending {
		if q.ev.Kind.IsFile() && !q.ev.Time.After(limit) && !execs[q.ev.Process.PID] {
			ahead = append(ahead, q)
		} else {
			kept = append(kept, q)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
	heap.Init(&p.pending)
	sort.Sort(ahead)
	return append(out, ahead...)
}

// commandKind classifies an exec once, for the settle buffer and the
// process table alike; other events are CommandOther.
func (p *pipeline) commandKind(ev *event.Event) staging.CommandKind {
	if ev.Kind != event.KindExec {
		return staging.CommandOther
	}
	return staging.ClassifyProcess(&ev.Process, p.style).Kind
}

// prepareLocked enriches a file event with its writer as the process table
// knows it, before it is kept and correlated.
func (p *pipeline) prepareLocked(ev *event.Event) {
	if p.corr != nil && ev.Kind.IsFile() {
		p.table.enrich(ev)
	}
}

func (p *pipeline) correlateLocked(ev *event.Event, kind staging.CommandKind) {
	p.observeLocked(ev, kind)
	p.addRowLocked(ev, kind)
}

// observeLocked feeds ev to the correlator and keeps what it detects.
func (p *pipeline) observeLocked(ev *event.Event, kind staging.CommandKind) {
	if p.corr == nil {
		return
	}
	observed := ev
	if ev.Kind == event.KindExec && p.skew > 0 {
		shifted := *ev
		shifted.Time = ev.Time.Add(p.skew)
		observed = &shifted
	}
	for _, d := range p.corr.Observe(observed) {
		p.tables.UpsertDetection(&d)
		if p.state != nil && !p.restoring {
			p.newDets = append(p.newDets, d)
		}
	}
}

// rowOf says which event table ev is a row of, if any.
func (p *pipeline) rowOf(ev *event.Event, kind staging.CommandKind) tableRow {
	switch {
	case ev.Kind.IsFile():
		if _, ok := p.roots.Within(ev.Path); ok {
			return rowFile
		}
	case kind != staging.CommandOther:
		return rowProcess
	}
	return rowNone
}

// addRowLocked adds ev to the event table it is a row of.
func (p *pipeline) addRowLocked(ev *event.Event, kind staging.CommandKind) {
	if p.corr == nil {
		return
	}
	switch {
	case ev.Kind.IsFile():
		if dir, ok := p.roots.Within(ev.Path); ok {
			p.tables.AddFileEvent(ev, dir)
		}
	case kind != staging.CommandOther:
		p.tables.AddProcessEvent(ev, kind.String())
	}
}

type pipelineStats struct {
	seen       uint64
	duplicates uint64
	pending    int
	detections uint64
	drops      uint64
	correlator staging.Stats
}

func (p *pipeline) stats() pipelineStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := pipelineStats{seen: p.seen, duplicates: p.duplicates, pending: p.pending.Len(), detections: p.retiredDetections, drops: p.retiredDrops}
	if p.corr != nil {
		s.correlator = p.corr.Stats()
		s.detections += s.correlator.Detections
		s.drops += dropsOf(s.correlator)
	}
	return s
}
