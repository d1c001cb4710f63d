package endpoint

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Collector is one live source of events: a kernel subscription, an event
// log subscription, a supervised child process.
type Collector interface {
	// Run reads until ctx ends or Close is called, handing events over in
	// batches. It returns nil then, and an error only when collection
	// failed.
	Run(ctx context.Context, emit func([]*event.Event)) error
	// Close releases what the collector holds (audit rules, fanotify
	// marks, a child process). It may be called while Run runs, and more
	// than once.
	Close() error
	// Stats reports what the collector saw, dropped and failed on.
	Stats() CollectorStats
}

// CaughtUpper is a file collector that can say up to when it has handed
// over every event the platform queued. An archiver's exec waits for it,
// so that the copies made before the archiver ran are counted in the
// detection the first time it is visible.
type CaughtUpper interface {
	CaughtUp() time.Time
}

// CollectorStats are what one collector saw, dropped and failed on.
type CollectorStats struct {
	Dropped     uint64 // events lost (a queue overflowed, a reader fell behind)
	ParseErrors uint64 // malformed records skipped
	// Errors are failures to collect one event (a path the sensor could
	// not resolve): counted in staging_analytics.collector_errors, which
	// the pack's health query watches.
	Errors uint64
	// Counters are detail counters for staging_analytics, named with the
	// collector's prefix (audit_records, fanotify_overflows). They add up
	// over the collectors a source replaces.
	Counters map[string]uint64
	// Gauges are current values (fanotify_marked): the running collector's
	// only.
	Gauges map[string]uint64
	// Mode is how the collector collects, said in the health message.
	Mode string
	// Notes are what a person should know ("not watched: /mnt/usb (…)").
	Notes []string
	// Degraded, when set, says why the collector is not seeing everything
	// now (events lost to an overflow a moment ago): the analytic's health
	// is degraded while it is set.
	Degraded string
}

// Env is what a collector is opened with.
type Env struct {
	// Dirs are the staging directories in effect, as configured.
	Dirs []string
	// Lookup is the process table's view of a pid: what the collectors
	// saw it exec, else the platform's own lookup.
	Lookup func(pid int64) (event.Process, event.Actor, bool)
	// StateDir is the analytic's state directory, where a collector keeps
	// the position it reached (a Windows event log bookmark) so that a
	// restart resumes there; empty when the analytic keeps no state, and
	// then the collector starts from what is new.
	StateDir string
}

// Candidate is one way to collect a source.
type Candidate struct {
	Name  string // counter prefix and failure key: "audit"
	Label string // for people: "the proc connector"
	Open  func(Env) (Collector, error)
	// Degraded, when set, is what is lost when this candidate runs because
	// the ones before it could not open; the analytic's health is then
	// degraded.
	Degraded string
}

// Source is one kind of event an analytic collects live, from the first
// of its candidates that opens. Which collector serves a source is data:
// an analytic lists them, the endpoint layer chooses, runs and reports.
type Source struct {
	Kind       string // "exec", "file": "exec events from audit"
	Candidates []Candidate
	// FollowsDirs reopens the source when the staging directories change
	// (a file watcher marks them).
	FollowsDirs bool
}

// Live is how an analytic collects on this platform.
type Live struct {
	Sources []Source
	// ExecSkew moves exec times forward for the correlator, when the
	// sensors stamp execs earlier than the file events around them.
	ExecSkew time.Duration
	// Lookup reads a process that was running before collection started
	// (/proc on Linux); nil for none.
	Lookup func(pid int64) (event.Process, event.Actor, bool)
	// Alive reports whether a pid still exists, so exited processes leave
	// the process table; nil keeps them until its cap.
	Alive func(pid int64) bool
}

// How often the live loop releases settled events, lets the correlator
// expire state, and looks for exited processes.
const (
	tickInterval   = 50 * time.Millisecond
	expireInterval = 5 * time.Second
	sweepInterval  = 10 * time.Second
	// stateExpireInterval is how often the durable state drops what is past
	// its bounds.
	stateExpireInterval = time.Minute
)

// liveRun is one run of live collection.
type liveRun struct {
	def      *Live
	pipeline *pipeline
	table    *procTable
	errors   func() // counts a collector failure
	stateDir string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	sources []*sourceRun
	runErr  string // the last collector failure
}

// sourceRun is one source's chosen collector and its history.
type sourceRun struct {
	src     *Source
	chosen  int      // index of the running candidate
	refused []string // why the candidates before it did not open
	cur     *running
	retired CollectorStats // counters of collectors replaced
}

type running struct {
	c    Collector
	stop context.CancelFunc
	done chan struct{}
}

// startLive opens a collector for every source, in order, and runs them.
// A source none of whose candidates opens fails the start, and everything
// opened is closed again.
func startLive(ctx context.Context, id string, def *Live, p *pipeline, table *procTable, dirs []string, stateDir string, errors func()) (*liveRun, error) {
	lctx, cancel := context.WithCancel(ctx)
	lv := &liveRun{def: def, pipeline: p, table: table, errors: errors, ctx: lctx, cancel: cancel, stateDir: stateDir}
	env := Env{Dirs: dirs, Lookup: table.lookupForWatcher, StateDir: stateDir}
	var opened []*sourceRun
	closeOpened := func() {
		for _, s := range opened {
			_ = s.cur.c.Close()
		}
	}
	for i := range def.Sources {
		src := &def.Sources[i]
		s := &sourceRun{src: src, chosen: -1}
		var fails []string
		for ci, cand := range src.Candidates {
			c, err := cand.Open(env)
			if err != nil {
				errors()
				fails = append(fails, cand.Label+": "+err.Error())
				s.refused = append(s.refused, err.Error())
				continue
			}
			s.chosen, s.cur = ci, &running{c: c}
			break
		}
		if s.cur == nil {
			closeOpened()
			cancel()
			if len(src.Candidates) == 1 {
				return nil, fmt.Errorf("%s: %s events: %s", strings.ToLower(id), src.Kind, s.refused[0])
			}
			return nil, fmt.Errorf("%s: no %s collector: %s", strings.ToLower(id), src.Kind, strings.Join(fails, "; "))
		}
		opened = append(opened, s)
	}
	lv.sources = opened
	p.goLive(def.ExecSkew, lv.caughtUp)
	for _, s := range lv.sources {
		lv.run(s, s.cur)
	}
	lv.wg.Add(1)
	go lv.loop()
	return lv, nil
}

func (lv *liveRun) emit(batch []*event.Event) { lv.pipeline.arrive(batch, time.Now()) }

// run starts r's collector; when it ends it is closed, and a failure while
// collection was wanted is counted and shown.
func (lv *liveRun) run(s *sourceRun, r *running) {
	rctx, stop := context.WithCancel(lv.ctx)
	r.stop, r.done = stop, make(chan struct{})
	name := s.src.Candidates[s.chosen].Name
	lv.wg.Add(1)
	go func() {
		defer lv.wg.Done()
		defer close(r.done)
		if err := r.c.Run(rctx, lv.emit); err != nil && rctx.Err() == nil {
			lv.failed(name + ": " + err.Error())
		}
		_ = r.c.Close()
	}()
}

func (lv *liveRun) failed(msg string) {
	lv.errors()
	lv.mu.Lock()
	lv.runErr = msg
	lv.mu.Unlock()
}

// follow reopens the sources that follow the staging directories: the new
// collector is running before the old one stops, so nothing falls between.
func (lv *liveRun) follow(dirs []string) {
	env := Env{Dirs: dirs, Lookup: lv.table.lookupForWatcher, StateDir: lv.stateDir}
	for _, s := range lv.sources {
		if !s.src.FollowsDirs {
			continue
		}
		cand := s.src.Candidates[s.chosen]
		c, err := cand.Open(env)
		if err != nil {
			lv.failed(cand.Name + ": following " + strings.Join(dirs, ", ") + ": " + err.Error())
			continue
		}
		next := &running{c: c}
		lv.mu.Lock()
		old := s.cur
		s.cur = next
		lv.mu.Unlock()
		lv.run(s, next)
		old.stop()
		<-old.done
		lv.mu.Lock()
		s.retired.add(old.c.Stats())
		lv.mu.Unlock()
	}
}

// caughtUp is the earliest time up to which every running file collector
// has handed its events over; with none running there is nothing to wait
// for.
func (lv *liveRun) caughtUp() time.Time {
	at := farFuture
	lv.mu.Lock()
	defer lv.mu.Unlock()
	for _, s := range lv.sources {
		cu, ok := s.cur.c.(CaughtUpper)
		if !ok {
			continue
		}
		select {
		case <-s.cur.done:
			continue
		default:
		}
		if t := cu.CaughtUp(); t.Before(at) {
			at = t
		}
	}
	return at
}

var farFuture = time.Unix(1<<40, 0)

// loop releases settled events and keeps the correlator and process table
// trimmed until collection stops; then it lets everything pending through.
// It ticks quickly only while events are settling: an idle host costs one
// wake-up per expireInterval.
func (lv *liveRun) loop() {
	defer lv.wg.Done()
	timer := time.NewTimer(expireInterval)
	defer timer.Stop()
	var lastExpire, lastSweep, lastStateExpire time.Time
	for {
		select {
		case <-lv.ctx.Done():
			lv.pipeline.flush()
			return
		case <-lv.pipeline.kick:
		case now := <-timer.C:
			expire := now.Sub(lastExpire) >= expireInterval
			if expire {
				lastExpire = now
			}
			lv.pipeline.tick(now, expire)
			if now.Sub(lastSweep) >= sweepInterval {
				lastSweep = now
				lv.table.sweep(now, lv.def.Alive)
			}
			if now.Sub(lastStateExpire) >= stateExpireInterval {
				lastStateExpire = now
				lv.pipeline.expireState(now)
			}
		}
		next := expireInterval
		if lv.pipeline.settling() {
			next = tickInterval
		}
		timer.Reset(next)
	}
}

func (lv *liveRun) stop() {
	lv.cancel()
	lv.wg.Wait()
	lv.pipeline.flush()
}

// health adds the collectors' state and counters to h.
func (lv *liveRun) health(h *sdk.Health) {
	h.State = sdk.StateRunning
	var msg []string
	if lv.ctx.Err() != nil {
		h.State = sdk.StateConfigured
		msg = append(msg, "collection stopped")
	}
	lv.mu.Lock()
	runErr := lv.runErr
	type snapshot struct {
		s       *sourceRun
		cur     Collector
		retired CollectorStats
	}
	snaps := make([]snapshot, len(lv.sources))
	for i, s := range lv.sources {
		snaps[i] = snapshot{s: s, cur: s.cur.c, retired: s.retired.clone()}
	}
	lv.mu.Unlock()

	for _, sn := range snaps {
		s, cand := sn.s, sn.s.src.Candidates[sn.s.chosen]
		cur := sn.cur.Stats()
		total := sn.retired
		total.add(cur)
		if len(s.src.Candidates) > 1 {
			h.Extra[s.src.Kind+"_collector_"+cand.Name] = 1
		}
		for k, v := range total.Counters {
			h.Extra[k] = v
		}
		for k, v := range cur.Gauges {
			h.Extra[k] = v
		}
		h.EventsDropped += total.Dropped
		h.ParseErrors += total.ParseErrors
		h.CollectorErrors += total.Errors
		msg = append(msg, cur.Notes...)
		if cur.Degraded != "" {
			h.State = sdk.StateDegraded
			msg = append(msg, cand.Name+": "+cur.Degraded)
		}
		line := s.src.Kind + " events from " + cand.Label
		if cur.Mode != "" {
			line += " (" + cur.Mode + ")"
		}
		if s.chosen > 0 {
			line += " (" + s.src.Candidates[0].Label + " unavailable: " + s.refused[0] + ")"
			if cand.Degraded != "" {
				h.State = sdk.StateDegraded
				line += "; " + cand.Degraded
			}
		}
		msg = append(msg, line)
	}
	if runErr != "" {
		h.State = sdk.StateDegraded
		msg = append(msg, "collector failed: "+runErr)
	}
	h.Message = strings.Join(msg, "; ")
}

// add sums o into s: its counters, drops and parse errors; gauges, mode and
// notes describe one collector and are not summed.
func (s *CollectorStats) add(o CollectorStats) {
	s.Dropped += o.Dropped
	s.ParseErrors += o.ParseErrors
	s.Errors += o.Errors
	if len(o.Counters) > 0 && s.Counters == nil {
		s.Counters = make(map[string]uint64, len(o.Counters))
	}
	for k, v := range o.Counters {
		s.Counters[k] += v
	}
}

func (s CollectorStats) clone() CollectorStats {
	c := s
	if s.Counters != nil {
		c.Counters = make(map[string]uint64, len(s.Counters))
		for k, v := range s.Counters {
			c.Counters[k] = v
		}
	}
	return c
}
