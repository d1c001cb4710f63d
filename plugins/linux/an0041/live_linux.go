//go:build linux

package an0041

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/audit"
	"github.com/stagewatch/stagewatch/plugins/linux/fanotify"
	"github.com/stagewatch/stagewatch/plugins/linux/procconn"
	"github.com/stagewatch/stagewatch/plugins/linux/procfs"
)

// liveCollection is how AN0041 collects on Linux: execs from audit, or the
// proc connector when audit cannot be had, and file events from fanotify
// marks on the staging directories' filesystems. Audit stamps an exec to
// the millisecond, truncated, while fanotify can only stamp a file event
// when it reads it, so exec times move forward by the settle delay for the
// correlator.
var liveCollection = &endpoint.Live{
	Sources: []endpoint.Source{
		{Kind: "exec", Candidates: []endpoint.Candidate{
			{Name: "audit", Label: "audit", Open: openAudit},
			{Name: "procconn", Label: "the proc connector", Open: openProcconn,
				Degraded: "short-lived processes may lack argv"},
		}},
		{Kind: "file", FollowsDirs: true, Candidates: []endpoint.Candidate{
			{Name: "fanotify", Label: "fanotify", Open: openFanotify},
		}},
	},
	ExecSkew: endpoint.DefaultSettleDelay,
	Lookup:   procfs.Lookup,
	Alive:    processAlive,
}

// boundedQueue keeps the kernel's own limit on queued file events; tests
// set it to exercise the recovery from an overflow.
var boundedQueue = false

func processAlive(pid int64) bool {
	_, err := os.Stat("/proc/" + strconv.FormatInt(pid, 10))
	return err == nil
}

func openAudit(endpoint.Env) (endpoint.Collector, error) {
	c, err := audit.New(audit.Options{})
	if err != nil {
		return nil, err
	}
	return auditCollector{c}, nil
}

type auditCollector struct{ *audit.Collector }

func (c auditCollector) Run(ctx context.Context, emit func([]*event.Event)) error {
	return closedIsDone(c.Collector.Run(ctx, emit), audit.ErrClosed)
}

func (c auditCollector) Stats() endpoint.CollectorStats {
	s := c.Collector.Stats()
	return endpoint.CollectorStats{
		Dropped:     s.KernelLost + s.Overruns,
		ParseErrors: s.ParseErrors,
		Mode:        string(s.Mode),
		Counters: map[string]uint64{
			"audit_records": s.Records, "audit_events": s.Events,
			"audit_kernel_lost": s.KernelLost, "audit_overruns": s.Overruns,
			"audit_parse_errors": s.ParseErrors, "audit_rules_refused": uint64(s.RulesRefused),
			"audit_rules_restored": s.RulesRestored, "audit_rules_adopted": uint64(s.RulesAdopted),
		},
	}
}

func openProcconn(endpoint.Env) (endpoint.Collector, error) {
	c, err := procconn.New(procconn.Options{})
	if err != nil {
		return nil, err
	}
	return procconnCollector{c}, nil
}

type procconnCollector struct{ *procconn.Collector }

func (c procconnCollector) Run(ctx context.Context, emit func([]*event.Event)) error {
	return closedIsDone(c.Collector.Run(ctx, emit), procconn.ErrClosed)
}

func (c procconnCollector) Stats() endpoint.CollectorStats {
	s := c.Collector.Stats()
	return endpoint.CollectorStats{
		Dropped:     s.Overruns,
		ParseErrors: s.ParseErrors,
		Counters: map[string]uint64{
			"procconn_execs": s.Execs, "procconn_events": s.Events, "procconn_vanished": s.Vanished,
			"procconn_overruns": s.Overruns, "procconn_parse_errors": s.ParseErrors,
		},
	}
}

func openFanotify(env endpoint.Env) (endpoint.Collector, error) {
	// An unbounded kernel queue: a flood of file events makes the reader
	// fall behind for a while, but nothing that happened meanwhile is lost.
	// The backlog costs kernel memory (about 100 bytes an event) only while
	// the reader catches up.
	w, err := fanotify.New(fanotify.Options{Dirs: env.Dirs, Lookup: env.Lookup, UnboundedQueue: !boundedQueue})
	if err != nil {
		return nil, err
	}
	return fanotifyCollector{w}, nil
}

type fanotifyCollector struct{ *fanotify.Watcher }

// CaughtUp makes an archiver's exec wait for the watcher (see
// endpoint.CaughtUpper).
func (w fanotifyCollector) CaughtUp() time.Time { return w.Watcher.CaughtUp() }

func (w fanotifyCollector) Stats() endpoint.CollectorStats {
	s := w.Watcher.Stats()
	st := endpoint.CollectorStats{
		Dropped:     s.Overflows,
		ParseErrors: s.Malformed,
		// A directory gone before its event was read (ESTALE) is not a
		// failure; any other path the watcher could not resolve is.
		Errors: s.ResolveFailures - s.Stale,
		Counters: map[string]uint64{
			"fanotify_events_read": s.EventsRead, "fanotify_kept": s.Kept, "fanotify_overflows": s.Overflows,
			"fanotify_resolve_failures": s.ResolveFailures, "fanotify_malformed": s.Malformed,
			"fanotify_tree_truncated": s.TreeTruncated, "fanotify_heads_read": s.HeadsRead, "fanotify_long_paths": s.LongPaths,
			"fanotify_heads_skipped": s.HeadsSkipped, "fanotify_estimated_lost": s.EstimatedLost,
			"fanotify_rescans": s.Rescans, "fanotify_rescanned": s.Rescanned,
		},
		Gauges:   map[string]uint64{"fanotify_marked": uint64(len(s.Marked)), "fanotify_skipped_dirs": uint64(len(s.Skipped))},
		Degraded: s.Degraded,
	}
	if len(s.Skipped) > 0 {
		skipped := make([]string, len(s.Skipped))
		for i, d := range s.Skipped {
			skipped[i] = d.Dir + " (" + d.Reason + ")"
		}
		st.Notes = []string{"not watched: " + strings.Join(skipped, ", ")}
	}
	return st
}

// closedIsDone turns a collector's "closed" error into the clean end the
// endpoint layer expects of a collector that was asked to stop.
func closedIsDone(err, closed error) error {
	if errors.Is(err, closed) {
		return nil
	}
	return err
}
