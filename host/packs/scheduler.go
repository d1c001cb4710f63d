package packs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// QueryRunner runs one SQL query: result columns in order and rows in
// osquery's string form. *sqlengine.Engine implements it.
type QueryRunner interface {
	Query(ctx context.Context, sql string) ([]string, []map[string]string, error)
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Engine QueryRunner
	Packs  []*Pack
	// Platform is this host's platform in runtime.GOOS terms. Default runtime.GOOS.
	Platform string
	// HostIdentifier goes into every result line and picks the host's shard.
	// Default: the hostname.
	HostIdentifier string
	Decorations    map[string]string
	// Out receives the result log, one JSON line per row, written once per
	// run (and flushed when it has a Flush method).
	Out io.Writer
	// StateDir keeps each query's last results across restarts, so a restart
	// reports only what changed. Empty: state lives in memory.
	StateDir string
	// SplayPercent spreads each interval by ± this percentage, once per
	// query, like osquery's --schedule_splay_percent. 0 means osquery's
	// default, 10; negative disables splay.
	SplayPercent int
	// Epoch is osquery's --schedule_epoch: changing it restarts every
	// differential (all rows reported as added, counter 0).
	Epoch uint64
	// OsqueryVersion, when set, is compared with pack and query "version"
	// restrictions. Empty: version restrictions are not applied.
	OsqueryVersion string
	// ImmediateFirstRun runs every query as soon as Run starts instead of at
	// its first splayed tick.
	ImmediateFirstRun bool
	// DiscoveryRefresh is how long a pack's discovery verdict is cached
	// (osquery's --pack_refresh_interval). Default 1 h.
	DiscoveryRefresh time.Duration
	// Now is the clock for result timestamps and scheduling. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// QueryStats describe one scheduled query.
type QueryStats struct {
	Name            string
	Pack            string
	Interval        int // configured, seconds
	SplayedInterval int // in effect, seconds
	Runs            uint64
	Errors          uint64
	LastError       string
	LastRun         time.Time
	LastDuration    time.Duration
	LastRows        int    // rows the last successful run returned
	LinesWritten    uint64 // result lines this query produced
	// SkippedByDiscovery counts ticks skipped because the pack's discovery
	// queries returned no rows.
	SkippedByDiscovery uint64
}

// Stats describe the scheduler.
type Stats struct {
	Queries      []QueryStats // sorted by name
	LinesWritten uint64
	WriteErrors  uint64 // failed writes to Out (the run's differential is retried next run)
	StateErrors  uint64 // state files that could not be read or written
	// NotScheduled lists queries left out on this host, with the reason.
	NotScheduled map[string]string
}

// Scheduler runs packs' queries on their intervals and writes the results.
type Scheduler struct {
	opts    SchedulerOptions
	log     *slog.Logger
	queries []*scheduled // sorted by name
	byName  map[string]*scheduled
	skipped map[string]string

	outMu       sync.Mutex
	lines       atomic.Uint64
	writeErrors atomic.Uint64
	stateErrors atomic.Uint64

	discMu    sync.Mutex
	discovery map[*Pack]discoveryVerdict
}

type discoveryVerdict struct {
	at time.Time
	ok bool
}

type scheduled struct {
	name  string
	pack  *Pack
	query Query

	mu     sync.Mutex // one run at a time; guards everything below
	splay  int
	state  *queryState
	loaded bool
	stats  QueryStats
}

// NewScheduler selects the queries that apply to this host (platform,
// shard, version) and restores their state.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Engine == nil {
		return nil, errors.New("packs: no query engine")
	}
	if opts.Out == nil {
		return nil, errors.New("packs: no output")
	}
	if opts.Platform == "" {
		opts.Platform = runtime.GOOS
	}
	if opts.HostIdentifier == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("packs: host identifier: %w", err)
		}
		opts.HostIdentifier = h
	}
	if opts.SplayPercent == 0 {
		opts.SplayPercent = 10
	}
	if opts.DiscoveryRefresh <= 0 {
		opts.DiscoveryRefresh = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StateDir != "" {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("packs: state directory: %w", err)
		}
	}
	s := &Scheduler{
		opts:      opts,
		log:       opts.Logger,
		byName:    make(map[string]*scheduled),
		skipped:   make(map[string]string),
		discovery: make(map[*Pack]discoveryVerdict),
	}
	shard := MachineShard(opts.HostIdentifier)
	for _, p := range opts.Packs {
		packReason := s.restriction(p.Platform, p.Version, p.Shard, shard)
		for _, q := range p.Queries {
			name := p.ScheduledName(q)
			if _, dup := s.byName[name]; dup {
				return nil, fmt.Errorf("packs: two queries are both scheduled as %q", name)
			}
			reason := packReason
			if reason != "" {
				reason = "pack " + reason
			} else {
				reason = s.restriction(q.Platform, q.Version, q.Shard, shard)
			}
			if reason != "" {
				s.skipped[name] = reason
				s.log.Info("query not scheduled on this host", "query", name, "reason", reason)
				continue
			}
			sq := &scheduled{name: name, pack: p, query: q}
			sq.stats = QueryStats{Name: name, Pack: p.Name, Interval: q.Interval}
			s.byName[name] = sq
			s.queries = append(s.queries, sq)
		}
	}
	slices.SortFunc(s.queries, func(a, b *scheduled) int { return strings.Compare(a.name, b.name) })
	for _, sq := range s.queries {
		sq.mu.Lock()
		s.restore(sq)
		sq.mu.Unlock()
	}
	return s, nil
}

// restriction says why a pack or query does not run here, or "".
func (s *Scheduler) restriction(platform, version string, shard, machine int) string {
	switch {
	case !PlatformMatches(platform, s.opts.Platform):
		return fmt.Sprintf("platform %q excludes %s", platform, s.opts.Platform)
	case s.opts.OsqueryVersion != "" && !versionAtLeast(version, s.opts.OsqueryVersion):
		return fmt.Sprintf("needs version %s, have %s", version, s.opts.OsqueryVersion)
	case !shardAllows(shard, machine):
		return fmt.Sprintf("shard %d excludes this host (shard %d)", shard, machine)
	}
	return ""
}

// restore loads a query's state and settles its splayed interval, reusing
// the stored one while the interval is unchanged (osquery's
// restoreSplayedValue), so restarts do not reshuffle the schedule.
func (s *Scheduler) restore(sq *scheduled) {
	if s.opts.StateDir != "" && !sq.loaded {
		st, err := loadState(stateFile(s.opts.StateDir, sq.name))
		if err != nil {
			// Unreadable state costs one full re-report, not the query.
			s.stateErrors.Add(1)
			s.log.Warn("query state unreadable, starting afresh", "query", sq.name, "err", err)
		}
		sq.state = st
	}
	sq.loaded = true
	if sq.state != nil && sq.state.Interval == sq.query.Interval && sq.state.Splay > 0 {
		sq.splay = sq.state.Splay
	} else {
		sq.splay = splayValue(sq.query.Interval, s.opts.SplayPercent)
	}
	sq.stats.SplayedInterval = sq.splay
}

// splayValue is osquery's: uniform in interval ± percent, at least 1 s.
func splayValue(interval, percent int) int {
	if percent <= 0 || percent > 100 {
		return interval
	}
	diff := interval * percent / 100
	lo, hi := max(1, interval-diff), interval+diff
	if lo >= hi {
		return hi
	}
	return lo + rand.IntN(hi-lo+1)
}

// Scheduled lists the names of the queries that run on this host.
func (s *Scheduler) Scheduled() []string {
	names := make([]string, len(s.queries))
	for i, sq := range s.queries {
		names[i] = sq.name
	}
	return names
}

// Run runs queries on their schedule until ctx ends, then returns nil. Like
// osqueryd it fires a query when the unix time is a multiple of its splayed
// interval (or at once with ImmediateFirstRun). Queries run one at a time;
// a failing query is logged and counted and the schedule goes on. Call Run
// once at a time; RunOnce may be called alongside it.
func (s *Scheduler) Run(ctx context.Context) error {
	if len(s.queries) == 0 {
		<-ctx.Done()
		return nil
	}
	now := s.opts.Now()
	next := make([]time.Time, len(s.queries))
	for i, sq := range s.queries {
		if s.opts.ImmediateFirstRun {
			next[i] = now
		} else {
			next[i] = nextTick(now, sq.splayInterval())
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		soonest := slices.MinFunc(next, func(a, b time.Time) int { return a.Compare(b) })
		if wait := soonest.Sub(s.opts.Now()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		now := s.opts.Now()
		for i, sq := range s.queries {
			if next[i].After(now) {
				continue
			}
			s.runScheduled(ctx, sq)
			if ctx.Err() != nil {
				return nil
			}
			// A run that overran its interval skips the missed ticks, as
			// osquery's one-second loop does.
			next[i] = nextTick(s.opts.Now(), sq.splayInterval())
		}
	}
}

// nextTick is the first instant after now whose unix second is a multiple
// of interval seconds.
func nextTick(now time.Time, interval int) time.Time {
	iv := int64(interval)
	return time.Unix((now.Unix()/iv+1)*iv, 0)
}

func (sq *scheduled) splayInterval() int {
	sq.mu.Lock()
	defer sq.mu.Unlock()
	return sq.splay
}

// RunOnce runs one scheduled query (by its pack_<pack>_<query> name) now.
func (s *Scheduler) RunOnce(ctx context.Context, name string) error {
	sq, ok := s.byName[name]
	if !ok {
		if reason, skipped := s.skipped[name]; skipped {
			return fmt.Errorf("query %q is not scheduled on this host: %s", name, reason)
		}
		return fmt.Errorf("no scheduled query %q", name)
	}
	return s.runScheduled(ctx, sq)
}

// RunAllOnce runs every scheduled query once, in name order, and reports
// every failure.
func (s *Scheduler) RunAllOnce(ctx context.Context) error {
	var errs []error
	for _, sq := range s.queries {
		if err := s.runScheduled(ctx, sq); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) runScheduled(ctx context.Context, sq *scheduled) error {
	if !s.discovered(ctx, sq.pack) {
		sq.mu.Lock()
		sq.stats.SkippedByDiscovery++
		sq.mu.Unlock()
		return nil
	}
	sq.mu.Lock()
	defer sq.mu.Unlock()
	err := s.run(ctx, sq)
	if err != nil && ctx.Err() == nil { // a shutdown mid-query is not the query's fault
		sq.stats.Errors++
		sq.stats.LastError = err.Error()
		s.log.Warn("scheduled query failed", "query", sq.name, "err", err)
	}
	return err
}

// discovered is osquery's Pack::checkDiscovery: the pack runs when every
// discovery query returns at least one row; the verdict is cached.
func (s *Scheduler) discovered(ctx context.Context, p *Pack) bool {
	if len(p.Discovery) == 0 {
		return true
	}
	s.discMu.Lock()
	defer s.discMu.Unlock()
	now := s.opts.Now()
	if v, ok := s.discovery[p]; ok && now.Sub(v.at) < s.opts.DiscoveryRefresh {
		return v.ok
	}
	verdict := true
	for _, q := range p.Discovery {
		_, rows, err := s.opts.Engine.Query(ctx, q)
		if err != nil {
			s.log.Warn("discovery query failed", "pack", p.Name, "query", q, "err", err)
		}
		if err != nil || len(rows) == 0 {
			verdict = false
			break
		}
	}
	s.discovery[p] = discoveryVerdict{at: now, ok: verdict}
	return verdict
}

// run executes one query and logs its results; sq.mu is held.
func (s *Scheduler) run(ctx context.Context, sq *scheduled) error {
	start := time.Now()
	_, rows, err := s.opts.Engine.Query(ctx, sq.query.SQL)
	if err != nil && ctx.Err() != nil {
		// Cut short by shutdown: not a run, and nothing to log.
		return err
	}
	sq.stats.Runs++
	sq.stats.LastRun = s.opts.Now()
	sq.stats.LastDuration = time.Since(start)
	if err != nil {
		return fmt.Errorf("%s: %w", sq.name, err)
	}
	sq.stats.LastRows = len(rows)
	item := logItem{
		name:        sq.name,
		host:        s.opts.HostIdentifier,
		at:          sq.stats.LastRun,
		epoch:       s.opts.Epoch,
		decorations: s.opts.Decorations,
	}
	var buf bytes.Buffer
	if sq.query.Snapshot {
		// Snapshots carry no differential state and osquery logs them with counter 0.
		if err := appendSnapshot(&buf, item, rows); err != nil {
			return fmt.Errorf("%s: encode: %w", sq.name, err)
		}
		return s.write(sq, buf.Bytes(), 1)
	}

	step := differential(sq.state, s.opts.Epoch, sq.query.SQL, sq.query.Removed, rows)
	if !step.log {
		return nil
	}
	item.counter = step.counter
	if err := appendEvents(&buf, item, step.removed, step.added); err != nil {
		return fmt.Errorf("%s: encode: %w", sq.name, err)
	}
	if buf.Len() > 0 {
		// On a failed write the old state stays, so the next run reports
		// this difference again rather than losing it.
		if err := s.write(sq, buf.Bytes(), len(step.removed)+len(step.added)); err != nil {
			return err
		}
	}
	next := &queryState{
		Query:    sq.query.SQL,
		Epoch:    s.opts.Epoch,
		Counter:  step.counter,
		Interval: sq.query.Interval,
		Splay:    sq.splay,
		Rows:     step.rows,
	}
	sq.state = next
	if s.opts.StateDir != "" {
		if err := saveState(stateFile(s.opts.StateDir, sq.name), next); err != nil {
			// The log is already written; a restart may re-report this run.
			s.stateErrors.Add(1)
			s.log.Warn("query state not saved", "query", sq.name, "err", err)
		}
	}
	return nil
}

type flusher interface{ Flush() error }

func (s *Scheduler) write(sq *scheduled, data []byte, lines int) error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	_, err := s.opts.Out.Write(data)
	if err == nil {
		if f, ok := s.opts.Out.(flusher); ok {
			err = f.Flush()
		}
	}
	if err != nil {
		s.writeErrors.Add(1)
		return fmt.Errorf("%s: write results: %w", sq.name, err)
	}
	s.lines.Add(uint64(lines))
	sq.stats.LinesWritten += uint64(lines)
	return nil
}

// diffStep is what one run of a differential query logs and keeps.
type diffStep struct {
	log            bool                // anything to log (a change, or a new query text)
	removed, added []map[string]string // the rows to log as removed and as added
	counter        uint64              // the run's counter in the result log
	rows           []map[string]string // the rows the next run compares with
}

// differential is osquery's rule for a differential query, given the state
// the last run left (nil for none), the scheduler's epoch, the query's SQL
// and whether removals are logged:
//
//   - a first run, or one after the epoch changed, logs every row as added
//     with counter 0;
//   - otherwise the rows that appeared are added and those that went are
//     removed (dropped when removals are not logged); a run that changed
//     nothing logs nothing, unless the query's text changed, which restarts
//     the counter at 0;
//   - the counter is osquery's Query::incrementCounter: one more than the
//     last run that logged, 0 for a new or restarted differential.
//
// The rows kept are the new ones when anything changed, else the old ones.
func differential(prev *queryState, epoch uint64, sql string, logRemoved bool, rows []map[string]string) diffStep {
	fresh := prev == nil || prev.Epoch != epoch
	if fresh {
		return diffStep{log: true, added: rows, counter: 0, rows: rows}
	}
	removed, added := diff(prev.Rows, rows)
	changed := len(removed) > 0 || len(added) > 0
	newQuery := prev.Query != sql
	step := diffStep{log: changed || newQuery, added: added, rows: prev.Rows}
	if changed {
		step.rows = rows
	}
	if logRemoved {
		step.removed = removed
	}
	if !newQuery {
		step.counter = prev.Counter + 1
	}
	return step
}

// Stats returns a snapshot of the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	st := Stats{
		LinesWritten: s.lines.Load(),
		WriteErrors:  s.writeErrors.Load(),
		StateErrors:  s.stateErrors.Load(),
		NotScheduled: maps.Clone(s.skipped),
	}
	for _, sq := range s.queries {
		sq.mu.Lock()
		st.Queries = append(st.Queries, sq.stats)
		sq.mu.Unlock()
	}
	return st
}
