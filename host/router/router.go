// Package router serves the supervised plugins' tables as one table source:
// the union of their tables plus staging_analytics, which the host fills
// from what it knows of each plugin. Every plugin call from a query goes
// through Generate here, the one chokepoint that bounds it in time and
// concurrency and names the plugin in its errors.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host/supervisor"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// DefaultParallel is how many plugins one Generate calls at once.
const DefaultParallel = 4

// Options configure a Router.
type Options struct {
	// QueryTimeout bounds one plugin's part of one Generate; 0 means
	// config.DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Parallel bounds the plugins called at once per Generate.
	Parallel int
	Logger   hclog.Logger
	// Declared tables exist even when no plugin running offers them,
	// with no rows: osquery and the pack scheduler see one schema on
	// every host, whichever remote analytics it runs.
	Declared []sdk.TableSpec
}

// Router implements host.TableSource over a Supervisor.
type Router struct {
	sup       *supervisor.Supervisor
	opts      Options
	tables    []sdk.TableSpec
	providers map[string][]*supervisor.Plugin
}

// New builds the table map from the plugins' descriptions. A table offered
// by a second plugin with different columns is refused for that plugin
// (logged): the rows of one table must mean the same thing whoever made
// them.
func New(sup *supervisor.Supervisor, opts Options) *Router {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = config.DefaultQueryTimeout
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	r := &Router{sup: sup, opts: opts, providers: map[string][]*supervisor.Plugin{}}
	specs := map[string]sdk.TableSpec{schema.Analytics: schema.AnalyticsTable}
	for _, p := range sup.Plugins() {
		for _, t := range p.Descriptor().Tables {
			if t.Name == schema.Analytics {
				opts.Logger.Error(fmt.Sprintf("plugin %s offers %s, which the host serves itself: ignored", p.Label(), t.Name))
				continue
			}
			if have, ok := specs[t.Name]; ok && !sameColumns(have, t) {
				opts.Logger.Error(fmt.Sprintf("plugin %s: table %s refused: its columns %v differ from %v",
					p.Label(), t.Name, t.ColumnNames(), have.ColumnNames()))
				continue
			}
			if _, ok := specs[t.Name]; !ok {
				specs[t.Name] = t
			}
			r.providers[t.Name] = append(r.providers[t.Name], p)
		}
	}
	for _, t := range opts.Declared {
		if _, ok := specs[t.Name]; !ok {
			specs[t.Name] = t
		}
	}
	for _, t := range specs {
		r.tables = append(r.tables, t)
	}
	sort.Slice(r.tables, func(i, j int) bool { return r.tables[i].Name < r.tables[j].Name })
	return r
}

func sameColumns(a, b sdk.TableSpec) bool {
	return slices.EqualFunc(a.Columns, b.Columns, func(x, y sdk.ColumnSpec) bool {
		return x.Name == y.Name && x.Type == y.Type
	})
}

// Tables lists the tables served, sorted by name.
func (r *Router) Tables() []sdk.TableSpec { return slices.Clone(r.tables) }

// Table returns the spec of one table.
func (r *Router) Table(name string) (sdk.TableSpec, bool) {
	for _, t := range r.tables {
		if t.Name == name {
			return t, true
		}
	}
	return sdk.TableSpec{}, false
}

// Generate produces the rows of table. For a plugin table every provider is
// called in parallel (at most Options.Parallel at once), each bounded by
// QueryTimeout, so one hung plugin costs a query an error after the bound
// rather than the host its liveness. Errors name the plugin; a plugin found
// dead is handed to the supervisor for restart.
func (r *Router) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	if table == schema.Analytics {
		return r.generateAnalytics(ctx, emit)
	}
	providers, ok := r.providers[table]
	if !ok {
		if _, declared := r.Table(table); declared {
			return nil // declared, and no plugin here serves it: no rows
		}
		return fmt.Errorf("no such table: %s", table)
	}

	// emit is not safe for concurrent use, and a plugin call abandoned at
	// its deadline may still deliver a batch: closed stops those.
	var mu sync.Mutex
	closed := false
	safeEmit := func(rows []sdk.Row) error {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return context.Canceled
		}
		return emit(rows)
	}
	defer func() {
		mu.Lock()
		closed = true
		mu.Unlock()
	}()

	sem := make(chan struct{}, r.opts.Parallel)
	errs := make([]error, len(providers))
	var wg sync.WaitGroup
	for i, p := range providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = r.generateOne(ctx, p, table, constraints, safeEmit)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// generateOne runs one plugin's Generate under the query timeout. The call
// runs in its own goroutine so that the bound holds even if the transport
// did not honour cancellation; the goroutine then ends with the transport.
func (r *Router) generateOne(ctx context.Context, p *supervisor.Plugin, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) (err error) {
	analytic, err := p.Analytic()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("panic: %v", v)
			}
		}()
		done <- analytic.Generate(callCtx, table, constraints, emit)
	}()
	select {
	case err = <-done:
	case <-callCtx.Done():
		// Give the call a moment to return its own (cancellation) error.
		select {
		case err = <-done:
		case <-time.After(time.Second):
			err = callCtx.Err()
		}
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The SDK reports a stream the plugin reset at the shared deadline as
	// the deadline, not as a dead plugin.
	if errors.Is(err, context.DeadlineExceeded) || callCtx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("plugin %s: generate %s: no answer within %s", p.Label(), table, r.opts.QueryTimeout)
	}
	if sdk.IsPluginGone(err) {
		p.ReportGone(err)
	}
	return fmt.Errorf("plugin %s: generate %s: %w", p.Label(), table, err)
}

// analyticsHealthTimeout bounds each Health call filling staging_analytics:
// the table must answer even when a plugin does not.
const analyticsHealthTimeout = 2 * time.Second

// generateAnalytics fills staging_analytics from Describe, the effective
// configuration, Health and the supervisor's own record.
func (r *Router) generateAnalytics(ctx context.Context, emit func([]sdk.Row) error) error {
	statuses := r.sup.SortedStatuses()
	rows := make([]sdk.Row, len(statuses))
	var wg sync.WaitGroup
	for i, st := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i] = analyticsRow(ctx, r.sup.Plugin(st.Descriptor.AnalyticID), st, min(analyticsHealthTimeout, r.opts.QueryTimeout))
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	return emit(rows)
}

func analyticsRow(ctx context.Context, p *supervisor.Plugin, st supervisor.Status, timeout time.Duration) sdk.Row {
	d := st.Descriptor
	state, message := st.State, st.LastError
	var health sdk.Health
	if analytic, err := p.Analytic(); err == nil {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		health = analytic.Health(hctx)
		cancel()
		state, message = health.State.String(), health.Message
	}
	started := st.Started
	if !health.Started.IsZero() {
		started = health.Started
	}
	extra, _ := json.Marshal(nonNil(health.Extra))
	cfg := string(st.Effective)
	if cfg == "" {
		cfg = "{}"
	}
	return sdk.Row{
		"analytic_id":      d.AnalyticID,
		"detection_id":     d.DetectionID,
		"technique_id":     d.TechniqueID,
		"platform":         d.Platform,
		"name":             d.Name,
		"version":          d.Version,
		"plugin":           st.Path,
		"sha256":           st.SHA256,
		"state":            state,
		"message":          message,
		"mode":             st.Mode.String(),
		"config":           cfg,
		"started":          unix(started),
		"restarts":         strconv.Itoa(st.Restarts),
		"events_seen":      strconv.FormatUint(health.EventsSeen, 10),
		"events_dropped":   strconv.FormatUint(health.EventsDropped, 10),
		"parse_errors":     strconv.FormatUint(health.ParseErrors, 10),
		"detections":       strconv.FormatUint(health.Detections, 10),
		"collector_errors": strconv.FormatUint(health.CollectorErrors, 10),
		"counters":         string(extra),
	}
}

func unix(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func nonNil(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return map[string]uint64{}
	}
	return m
}
