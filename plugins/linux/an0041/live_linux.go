//go:build linux

package an0041

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/audit"
	"github.com/stagewatch/stagewatch/plugins/linux/fanotify"
	"github.com/stagewatch/stagewatch/plugins/linux/procconn"
	"github.com/stagewatch/stagewatch/plugins/linux/procfs"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// procLookup reads processes that were running before collection started.
var procLookup = procfs.Lookup

// How often the live loop releases settled events, lets the correlator
// expire state, and looks for exited processes.
const (
	tickInterval   = 50 * time.Millisecond
	expireInterval = 5 * time.Second
	sweepInterval  = 10 * time.Second
)

// live is one run of live collection: an exec collector (audit, or the proc
// connector when audit cannot be had) and the fanotify watcher.
type live struct {
	pipeline *pipeline
	table    *procTable
	errors   func() // counts a collector failure

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	execSource string // "audit" or "procconn"
	auditErr   string // why audit is not the source, when it is not
	runErr     string // the last collector failure
	auditC     *audit.Collector
	procC      *procconn.Collector
	watcher    *fanotify.Watcher
	stopWatch  context.CancelFunc
	watchDone  chan struct{}
	retired    fanotify.Stats // counters of watchers replaced by rewatch
}

// Start begins live collection; it runs until ctx ends or Close is called.
func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.configured:
		return errors.New("an0041: Start before Configure")
	case a.mode != sdk.ModeLive:
		// Replay is fed by Ingest, and a one-shot query (stagewatchd query
		// with no daemon running) has nothing to collect from: both serve
		// what the tables hold without touching the kernel.
		return nil
	case a.live != nil:
		return errors.New("an0041: already started")
	}
	lctx, cancel := context.WithCancel(ctx)
	lv := &live{pipeline: a.pipeline, table: a.table, ctx: lctx, cancel: cancel,
		errors: func() { a.collectorErrors.Add(1) }}

	if c, err := audit.New(audit.Options{}); err == nil {
		lv.auditC, lv.execSource = c, "audit"
	} else {
		a.collectorErrors.Add(1)
		lv.auditErr = err.Error()
		pc, perr := procconn.New(procconn.Options{})
		if perr != nil {
			a.collectorErrors.Add(1)
			cancel()
			return fmt.Errorf("an0041: no exec collector: audit: %v; proc connector: %v", err, perr)
		}
		lv.procC, lv.execSource = pc, "procconn"
	}
	if err := lv.watch(a.dirs); err != nil {
		a.collectorErrors.Add(1)
		lv.closeExec()
		cancel()
		return fmt.Errorf("an0041: file events: %w", err)
	}
	a.pipeline.goLive(lv.caughtUp)
	lv.wg.Add(2)
	go lv.runExec()
	go lv.loop()
	a.live, a.started = lv, time.Now()
	return nil
}

func (lv *live) emit(batch []*event.Event) { lv.pipeline.arrive(batch, time.Now()) }

func (lv *live) runExec() {
	defer lv.wg.Done()
	var err error
	if lv.auditC != nil {
		err = lv.auditC.Run(lv.ctx, lv.emit)
	} else {
		err = lv.procC.Run(lv.ctx, lv.emit)
	}
	if err != nil && lv.ctx.Err() == nil && !errors.Is(err, audit.ErrClosed) && !errors.Is(err, procconn.ErrClosed) {
		lv.failed(lv.execSource + ": " + err.Error())
	}
	lv.closeExec()
}

func (lv *live) closeExec() {
	if lv.auditC != nil {
		_ = lv.auditC.Close()
	}
	if lv.procC != nil {
		_ = lv.procC.Close()
	}
}

func (lv *live) failed(msg string) {
	lv.errors()
	lv.mu.Lock()
	lv.runErr = msg
	lv.mu.Unlock()
}

// watch starts a fanotify watcher on dirs, replacing the current one.
func (lv *live) watch(dirs []string) error {
	w, err := fanotify.New(fanotify.Options{Dirs: dirs, Lookup: lv.table.lookupForWatcher})
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(lv.ctx)
	done := make(chan struct{})
	lv.mu.Lock()
	old, oldStop, oldDone := lv.watcher, lv.stopWatch, lv.watchDone
	lv.watcher, lv.stopWatch, lv.watchDone = w, stop, done
	lv.mu.Unlock()
	if old != nil {
		oldStop()
		<-oldDone
		lv.mu.Lock()
		addWatcherStats(&lv.retired, old.Stats())
		lv.mu.Unlock()
	}
	lv.wg.Add(1)
	go func() {
		defer lv.wg.Done()
		defer close(done)
		if err := w.Run(wctx, lv.emit); err != nil && wctx.Err() == nil {
			lv.failed("fanotify: " + err.Error())
		}
		_ = w.Close()
	}()
	return nil
}

// caughtUp says up to when the running watcher has emitted every file
// event. With no watcher running there is nothing to wait for.
func (lv *live) caughtUp() time.Time {
	lv.mu.Lock()
	w, done := lv.watcher, lv.watchDone
	lv.mu.Unlock()
	if w == nil {
		return farFuture
	}
	select {
	case <-done:
		return farFuture
	default:
	}
	return w.CaughtUp()
}

var farFuture = time.Unix(1<<40, 0)

// rewatch re-marks the staging directories after a reconfiguration.
func (lv *live) rewatch(dirs []string) {
	if err := lv.watch(dirs); err != nil {
		lv.failed("fanotify: re-marking " + strings.Join(dirs, ", ") + ": " + err.Error())
	}
}

func addWatcherStats(sum *fanotify.Stats, s fanotify.Stats) {
	sum.EventsRead += s.EventsRead
	sum.Kept += s.Kept
	sum.Overflows += s.Overflows
	sum.ResolveFailures += s.ResolveFailures
	sum.Malformed += s.Malformed
	sum.TreeTruncated += s.TreeTruncated
}

// loop releases settled events and keeps the correlator and process table
// trimmed until collection stops; then it lets everything pending through.
// It ticks quickly only while events are settling: an idle host costs one
// wake-up per expireInterval.
func (lv *live) loop() {
	defer lv.wg.Done()
	timer := time.NewTimer(expireInterval)
	defer timer.Stop()
	var lastExpire, lastSweep time.Time
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
				lv.table.sweep(now, processAlive)
			}
		}
		next := expireInterval
		if lv.pipeline.settling() {
			next = tickInterval
		}
		timer.Reset(next)
	}
}

func processAlive(pid int64) bool {
	_, err := os.Stat("/proc/" + strconv.FormatInt(pid, 10))
	return err == nil
}

func (lv *live) stop() {
	lv.cancel()
	lv.wg.Wait()
	lv.pipeline.flush()
}

// health adds the collectors' state and counters to h.
func (lv *live) health(h *sdk.Health) {
	lv.mu.Lock()
	source, auditErr, runErr, w, ws := lv.execSource, lv.auditErr, lv.runErr, lv.watcher, lv.retired
	lv.mu.Unlock()
	h.State = sdk.StateRunning
	var msg []string
	if lv.ctx.Err() != nil {
		h.State = sdk.StateConfigured
		msg = append(msg, "collection stopped")
	}
	x := h.Extra
	switch source {
	case "audit":
		x["exec_collector_audit"] = 1
		s := lv.auditC.Stats()
		x["audit_records"], x["audit_events"] = s.Records, s.Events
		x["audit_kernel_lost"], x["audit_overruns"] = s.KernelLost, s.Overruns
		x["audit_parse_errors"], x["audit_rules_refused"] = s.ParseErrors, uint64(s.RulesRefused)
		x["audit_rules_restored"], x["audit_rules_adopted"] = s.RulesRestored, uint64(s.RulesAdopted)
		h.EventsDropped += s.KernelLost + s.Overruns
		h.ParseErrors += s.ParseErrors
		msg = append(msg, "exec events from audit ("+string(s.Mode)+")")
	case "procconn":
		x["exec_collector_procconn"] = 1
		s := lv.procC.Stats()
		x["procconn_execs"], x["procconn_events"] = s.Execs, s.Events
		x["procconn_vanished"], x["procconn_overruns"], x["procconn_parse_errors"] = s.Vanished, s.Overruns, s.ParseErrors
		h.EventsDropped += s.Overruns
		h.ParseErrors += s.ParseErrors
		h.State = sdk.StateDegraded
		msg = append(msg, "exec events from the proc connector (audit unavailable: "+auditErr+"); short-lived processes may lack argv")
	}
	if w != nil {
		addWatcherStats(&ws, w.Stats())
		cur := w.Stats()
		x["fanotify_marked"] = uint64(len(cur.Marked))
		x["fanotify_skipped_dirs"] = uint64(len(cur.Skipped))
		var skipped []string
		for _, s := range cur.Skipped {
			skipped = append(skipped, s.Dir+" ("+s.Reason+")")
		}
		if len(skipped) > 0 {
			msg = append(msg, "not watched: "+strings.Join(skipped, ", "))
		}
	}
	x["fanotify_events_read"], x["fanotify_kept"] = ws.EventsRead, ws.Kept
	x["fanotify_overflows"], x["fanotify_resolve_failures"], x["fanotify_malformed"] = ws.Overflows, ws.ResolveFailures, ws.Malformed
	x["fanotify_tree_truncated"] = ws.TreeTruncated
	h.EventsDropped += ws.Overflows
	h.ParseErrors += ws.Malformed
	msg = append(msg, "file events from fanotify")
	if runErr != "" {
		h.State = sdk.StateDegraded
		msg = append(msg, "collector failed: "+runErr)
	}
	h.Message = strings.Join(msg, "; ")
}
