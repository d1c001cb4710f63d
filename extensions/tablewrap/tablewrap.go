// Package tablewrap is the one chokepoint between osquery and stagewatch's
// tables. Every table call the extension serves goes through a Wrapper, which
// bounds it in time (below osquery's own timeout, so osquery gets an error
// status instead of a dead socket), bounds how many run at once, and turns a
// panic into an error status. Constraints from osquery's query context are
// translated and pushed down to the plugins.
package tablewrap

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/osquery/osquery-go"
	osquerygen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TablePrefix is the prefix of every table stagewatch registers with osquery.
const TablePrefix = "staging_"

// Defaults. osquery's extension timeout defaults to 3 s; 80 % of it leaves
// time to send the error status back before osquery gives up on the socket.
const (
	DefaultTimeout       = 2400 * time.Millisecond
	DefaultMaxConcurrent = 4
	DefaultMaxRows       = 1_000_000
)

// Options tune a Wrapper. The zero value uses the defaults.
type Options struct {
	// Timeout bounds one generate call.
	Timeout time.Duration
	// MaxConcurrent is how many generate calls may run at once; a call
	// that cannot get a slot within Timeout fails.
	MaxConcurrent int
	// MaxRows caps the rows one generate call returns, so a runaway
	// plugin fails its query instead of exhausting memory.
	MaxRows int
	Logger  hclog.Logger
}

// Stats are the wrapper's counters since New.
type Stats struct {
	Calls     uint64 // generate calls received
	Errors    uint64 // calls answered with an error status (all causes)
	Timeouts  uint64 // calls that ran out of time
	Panics    uint64 // calls that panicked
	Busy      uint64 // calls refused because every slot stayed taken
	InFlight  int64  // generate calls still running, abandoned ones included
	Abandoned int64  // calls answered after a timeout whose source has not returned yet
}

// Wrapper serves a host.TableSource's tables to osquery.
type Wrapper struct {
	src  host.TableSource
	opts Options
	log  hclog.Logger
	sem  chan struct{}

	calls, errors, timeouts, panics, busy atomic.Uint64
	inFlight, abandoned                   atomic.Int64
}

// New wraps src.
func New(src host.TableSource, opts Options) *Wrapper {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = DefaultMaxRows
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Wrapper{src: src, opts: opts, log: log, sem: make(chan struct{}, opts.MaxConcurrent)}
}

// Stats returns the wrapper's counters.
func (w *Wrapper) Stats() Stats {
	return Stats{
		Calls:     w.calls.Load(),
		Errors:    w.errors.Load(),
		Timeouts:  w.timeouts.Load(),
		Panics:    w.panics.Load(),
		Busy:      w.busy.Load(),
		InFlight:  w.inFlight.Load(),
		Abandoned: w.abandoned.Load(),
	}
}

// Plugins returns one osquery table plugin per staging_* table of the source,
// sorted by name. Tables without the prefix are not stagewatch's contract and
// are skipped with a warning rather than shadowing an osquery core table.
func (w *Wrapper) Plugins() []*Table {
	specs := w.src.Tables()
	out := make([]*Table, 0, len(specs))
	for _, spec := range specs {
		if !strings.HasPrefix(spec.Name, TablePrefix) {
			w.log.Warn("table not registered: name lacks the staging_ prefix", "table", spec.Name)
			continue
		}
		out = append(out, w.Plugin(spec))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Plugin returns the wrapped osquery table plugin for one table.
func (w *Wrapper) Plugin(spec sdk.TableSpec) *Table {
	names := make([]string, len(spec.Columns))
	for i, c := range spec.Columns {
		names[i] = c.Name
	}
	return &Table{
		wrapper:    w,
		columnKeys: encodeColumns(names),
		inner: table.NewPlugin(spec.Name, Columns(spec), w.generate(spec.Name),
			table.WithDescription(spec.Description),
			// The same extension and tables ship for every endpoint OS;
			// which analytics fill them is what differs.
			table.WithPlatforms(table.LinuxPlatform, table.DarwinPlatform, table.WindowsPlatform)),
	}
}

// Spec is the osquery table spec the extension registers for spec, without a
// source behind it: what docs/tables.md is generated from.
func Spec(spec sdk.TableSpec) table.OsqueryTableSpec {
	return New(nil, Options{}).Plugin(spec).Spec()
}

// Columns converts a stagewatch table's columns to osquery-go's.
func Columns(spec sdk.TableSpec) []table.ColumnDefinition {
	cols := make([]table.ColumnDefinition, len(spec.Columns))
	for i, c := range spec.Columns {
		cols[i] = table.NewColumn(c.Name, ColumnType(c.Type), table.ColumnDescription(c.Description))
	}
	return cols
}

// ColumnType maps an sdk column type to osquery's.
func ColumnType(t sdk.ColumnType) table.ColumnType {
	switch t {
	case sdk.ColumnInteger:
		return table.ColumnTypeInteger
	case sdk.ColumnBigInt:
		return table.ColumnTypeBigInt
	case sdk.ColumnDouble:
		return table.ColumnTypeDouble
	}
	return table.ColumnTypeText
}

// pushable are the operators plugins understand; osquery's UNIQUE and IN
// markers are left to SQLite, which re-checks every constraint anyway.
var pushable = map[table.Operator]sdk.Operator{
	table.OperatorEquals:              sdk.OpEquals,
	table.OperatorGreaterThan:         sdk.OpGreaterThan,
	table.OperatorLessThanOrEquals:    sdk.OpLessThanOrEquals,
	table.OperatorLessThan:            sdk.OpLessThan,
	table.OperatorGreaterThanOrEquals: sdk.OpGreaterThanOrEqual,
	table.OperatorMatch:               sdk.OpMatch,
	table.OperatorLike:                sdk.OpLike,
	table.OperatorGlob:                sdk.OpGlob,
	table.OperatorRegexp:              sdk.OpRegexp,
}

// Constraints translates osquery's query context into sdk constraints, in a
// stable order (by column, then as osquery listed them).
func Constraints(qc table.QueryContext) []sdk.Constraint {
	columns := make([]string, 0, len(qc.Constraints))
	for col := range qc.Constraints {
		columns = append(columns, col)
	}
	sort.Strings(columns)
	var out []sdk.Constraint
	for _, col := range columns {
		for _, c := range qc.Constraints[col].Constraints {
			op, ok := pushable[c.Operator]
			if !ok {
				continue
			}
			out = append(out, sdk.Constraint{Column: col, Op: op, Expr: c.Expression})
		}
	}
	return out
}

func (w *Wrapper) generate(name string) table.GenerateFunc {
	return func(ctx context.Context, qc table.QueryContext) ([]map[string]string, error) {
		// Called through GenerateEncoded, each batch is encoded as it
		// arrives and its maps are left to the garbage collector;
		// otherwise the rows are kept for osquery-go to write.
		enc := encoderFrom(ctx)
		rows, n := []map[string]string{}, 0
		err := w.src.Generate(ctx, name, Constraints(qc), func(batch []sdk.Row) error {
			if n+len(batch) > w.opts.MaxRows {
				return fmt.Errorf("more than %d rows: narrow the query with WHERE time > …", w.opts.MaxRows)
			}
			n += len(batch)
			for _, r := range batch {
				if enc != nil {
					enc.add(r)
				} else {
					rows = append(rows, r)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return rows, nil
	}
}

// Table is one wrapped osquery table plugin.
type Table struct {
	wrapper    *Wrapper
	inner      *table.Plugin
	columnKeys []columnKey
}

var _ osquery.OsqueryPlugin = (*Table)(nil)

// Name is the table name.
func (t *Table) Name() string { return t.inner.Name() }

// RegistryName is osquery's "table" registry.
func (t *Table) RegistryName() string { return t.inner.RegistryName() }

// Routes are the table's columns as osquery expects them at registration.
func (t *Table) Routes() osquerygen.ExtensionPluginResponse { return t.inner.Routes() }

// Ping reports the table healthy; plugin health is in staging_analytics.
func (t *Table) Ping() osquerygen.ExtensionStatus { return t.inner.Ping() }

// Shutdown is a no-op: the host owns the plugins and closes them.
func (t *Table) Shutdown() {}

// Spec is osquery-go's table spec (name, description, columns, types), the
// source of docs/tables.md.
func (t *Table) Spec() table.OsqueryTableSpec { return t.inner.Spec() }

// Call serves one osquery request for this table through the wrapper.
func (t *Table) Call(ctx context.Context, req osquerygen.ExtensionPluginRequest) osquerygen.ExtensionResponse {
	w := t.wrapper
	if req["action"] != "generate" {
		// columns and unknown actions are answered from memory; only the
		// panic guard applies.
		return w.guard(t.Name(), func() osquerygen.ExtensionResponse { return t.inner.Call(ctx, req) })
	}
	w.calls.Add(1)
	resp := w.bounded(ctx, t.Name(), func(ctx context.Context) osquerygen.ExtensionResponse {
		return t.inner.Call(ctx, req)
	})
	if resp.Status == nil || resp.Status.Code != 0 {
		w.errors.Add(1)
	}
	return resp
}

func failure(format string, args ...any) osquerygen.ExtensionResponse {
	return osquerygen.ExtensionResponse{Status: &osquerygen.ExtensionStatus{Code: 1, Message: fmt.Sprintf(format, args...)}}
}

func (w *Wrapper) guard(name string, call func() osquerygen.ExtensionResponse) (resp osquerygen.ExtensionResponse) {
	defer func() {
		if r := recover(); r != nil {
			w.panics.Add(1)
			w.log.Error("table call panicked", "table", name, "panic", r, "stack", string(debug.Stack()))
			resp = failure("stagewatch table %s: internal error: %v", name, r)
		}
	}()
	return call()
}

// bounded runs call under the timeout and the concurrency limit. The call
// runs in its own goroutine so a source that ignores cancellation cannot
// hold osquery's request past the deadline; it keeps its slot until it
// really returns, so abandoned calls cannot pile up beyond MaxConcurrent.
func (w *Wrapper) bounded(parent context.Context, name string, call func(context.Context) osquerygen.ExtensionResponse) osquerygen.ExtensionResponse {
	ctx, cancel := context.WithTimeout(parent, w.opts.Timeout)
	// Cancelling on return tells a call still running after its deadline
	// to stop; the call itself never cancels, or its finished answer would
	// race the deadline below.
	defer cancel()
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		w.busy.Add(1)
		return failure("stagewatch table %s: busy, %d calls already running for %s", name, w.opts.MaxConcurrent, w.opts.Timeout)
	}
	if ctx.Err() != nil {
		<-w.sem
		w.busy.Add(1)
		return failure("stagewatch table %s: busy, %d calls already running for %s", name, w.opts.MaxConcurrent, w.opts.Timeout)
	}
	w.inFlight.Add(1)
	done := make(chan osquerygen.ExtensionResponse, 1)
	go func() {
		defer func() {
			w.inFlight.Add(-1)
			<-w.sem
		}()
		done <- w.guard(name, func() osquerygen.ExtensionResponse { return call(ctx) })
	}()
	// A source that honours cancellation answers with an error right at the
	// deadline: that is a timeout too.
	answered := func(resp osquerygen.ExtensionResponse) osquerygen.ExtensionResponse {
		if (resp.Status == nil || resp.Status.Code != 0) && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			w.timeouts.Add(1)
		}
		return resp
	}
	select {
	case resp := <-done:
		return answered(resp)
	case <-ctx.Done():
		select {
		case resp := <-done:
			// Answered right at the deadline: the answer wins.
			return answered(resp)
		default:
		}
		if parent.Err() != nil {
			// osquery hung up; nobody reads the answer.
			return failure("stagewatch table %s: cancelled: %v", name, parent.Err())
		}
		w.timeouts.Add(1)
		w.abandoned.Add(1)
		go func() {
			<-done
			w.abandoned.Add(-1)
		}()
		w.log.Warn("table call timed out", "table", name, "timeout", w.opts.Timeout)
		return failure("stagewatch table %s: no answer within %s", name, w.opts.Timeout)
	}
}
