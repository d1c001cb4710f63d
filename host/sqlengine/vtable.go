package sqlengine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"modernc.org/sqlite/vtab"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// module creates the engine's virtual tables. Its one argument is the id of
// the connection the table lives on, which is how a scan finds the context
// of the query it serves.
type module struct{ engine *Engine }

func (m *module) Create(ctx vtab.Context, args []string) (vtab.Table, error) {
	return m.connect(ctx, args)
}

func (m *module) Connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	return m.connect(ctx, args)
}

func (m *module) connect(ctx vtab.Context, args []string) (vtab.Table, error) {
	// args: module name, database name, table name, then USING(...) arguments.
	if len(args) != 4 {
		return nil, fmt.Errorf("%s: want one argument (connection id), got %q", moduleName, args[3:])
	}
	name := args[2]
	id, err := strconv.ParseInt(strings.TrimSpace(args[3]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: bad connection id %q", moduleName, args[3])
	}
	state := m.engine.connState(id)
	if state == nil {
		return nil, fmt.Errorf("%s: unknown connection %d", moduleName, id)
	}
	spec, ok := state.spec(name)
	if !ok {
		return nil, fmt.Errorf("%s: table %q is not served", moduleName, name)
	}
	if err := ctx.Declare(declaration(spec)); err != nil {
		return nil, fmt.Errorf("declare %q: %w", name, err)
	}
	return &table{engine: m.engine, state: state, spec: spec}, nil
}

// declaration is the CREATE TABLE statement SQLite learns the schema from,
// with osquery's type names so column affinities match osquery's.
func declaration(spec sdk.TableSpec) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE x(")
	for i, col := range spec.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(col.Name))
		b.WriteByte(' ')
		b.WriteString(col.Type.String())
	}
	b.WriteByte(')')
	return b.String()
}

type table struct {
	engine *Engine
	state  *connState
	spec   sdk.TableSpec
}

// pushable maps the SQLite operators worth handing to a source to osquery's
// codes. NE, IS, IS NULL and friends stay with SQLite: osquery does not push
// them either and plugins would only have to ignore them.
var pushable = map[vtab.ConstraintOp]sdk.Operator{
	vtab.OpEQ:   sdk.OpEquals,
	vtab.OpGT:   sdk.OpGreaterThan,
	vtab.OpGE:   sdk.OpGreaterThanOrEqual,
	vtab.OpLT:   sdk.OpLessThan,
	vtab.OpLE:   sdk.OpLessThanOrEquals,
	vtab.OpLIKE: sdk.OpLike,
	vtab.OpGLOB: sdk.OpGlob,
}

// BestIndex accepts every usable pushable constraint. The plan travels to
// Filter as IdxStr, "column:op" per argv slot. Omit stays false: SQLite
// re-checks each term, so results never depend on the source's filtering.
func (t *table) BestIndex(info *vtab.IndexInfo) error {
	var plan []string
	cost := 1e6
	for i := range info.Constraints {
		c := &info.Constraints[i]
		op, ok := pushable[c.Op]
		if !ok || !c.Usable || c.Column < 0 || c.Column >= len(t.spec.Columns) {
			continue
		}
		c.ArgIndex = len(plan)
		c.Omit = false
		plan = append(plan, strconv.Itoa(c.Column)+":"+strconv.Itoa(int(op)))
		// Prefer plans that push equality (joins on a key), then ranges,
		// so the planner hands the source the most selective terms.
		if op == sdk.OpEquals {
			cost /= 100
		} else {
			cost /= 4
		}
	}
	info.IdxNum = int64(len(plan))
	info.IdxStr = strings.Join(plan, ",")
	info.EstimatedCost = math.Max(cost, 1)
	info.EstimatedRows = int64(math.Max(cost, 1))
	return nil
}

func (t *table) Open() (vtab.Cursor, error) { return &cursor{table: t}, nil }
func (t *table) Disconnect() error          { return nil }
func (t *table) Destroy() error             { return nil }

type cursor struct {
	table *table
	rows  []sdk.Row
	pos   int
}

func (c *cursor) Filter(_ int, idxStr string, vals []vtab.Value) error {
	constraints, err := c.table.constraints(idxStr, vals)
	if err != nil {
		return err
	}
	rows, err := c.table.engine.scan(c.table.state.context(), c.table.spec.Name, constraints)
	if err != nil {
		c.table.state.scanFailed(err)
		return err
	}
	c.rows, c.pos = rows, 0
	return nil
}

// constraints decodes BestIndex's plan with the values SQLite bound to it.
// A NULL right-hand side matches nothing under =, < or LIKE, so SQLite
// filters it out on its own; it is not worth sending.
func (t *table) constraints(idxStr string, vals []vtab.Value) ([]sdk.Constraint, error) {
	if idxStr == "" {
		return nil, nil
	}
	terms := strings.Split(idxStr, ",")
	if len(terms) != len(vals) {
		return nil, fmt.Errorf("table %s: plan has %d terms, SQLite bound %d", t.spec.Name, len(terms), len(vals))
	}
	out := make([]sdk.Constraint, 0, len(terms))
	for i, term := range terms {
		colText, opText, ok := strings.Cut(term, ":")
		col, err1 := strconv.Atoi(colText)
		op, err2 := strconv.Atoi(opText)
		if !ok || err1 != nil || err2 != nil || col < 0 || col >= len(t.spec.Columns) {
			return nil, fmt.Errorf("table %s: bad plan term %q", t.spec.Name, term)
		}
		if vals[i] == nil {
			continue
		}
		out = append(out, sdk.Constraint{
			Column: t.spec.Columns[col].Name,
			Op:     sdk.Operator(op),
			Expr:   formatValue(vals[i]),
		})
	}
	return out, nil
}

func (c *cursor) Next() error {
	if c.pos < len(c.rows) {
		c.pos++
	}
	return nil
}

func (c *cursor) Eof() bool { return c.pos >= len(c.rows) }

func (c *cursor) Column(col int) (vtab.Value, error) {
	if col < 0 || col >= len(c.table.spec.Columns) || c.pos >= len(c.rows) {
		return nil, nil
	}
	spec := c.table.spec.Columns[col]
	raw, ok := c.rows[c.pos][spec.Name]
	if !ok {
		return nil, nil
	}
	v, good := typedValue(spec.Type, raw)
	if !good {
		c.table.engine.badVals.Add(1)
	}
	return v, nil
}

func (c *cursor) Rowid() (int64, error) { return int64(c.pos), nil }
func (c *cursor) Close() error          { c.rows = nil; return nil }

// typedValue converts one osquery string cell to the column's SQLite type.
// Like osquery, a numeric cell that does not parse is NULL; good reports
// whether a non-empty cell had to be dropped that way.
func typedValue(t sdk.ColumnType, raw string) (v vtab.Value, good bool) {
	switch t {
	case sdk.ColumnInteger, sdk.ColumnBigInt:
		if raw == "" {
			return nil, true
		}
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, false
		}
		return n, true
	case sdk.ColumnDouble:
		if raw == "" {
			return nil, true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, false
		}
		return f, true
	}
	return raw, true
}

// scan runs one Generate for a cursor. Generate runs on its own goroutine so
// that a source which ignores its context (a wedged plugin) cannot hold the
// query past its deadline: the scan is abandoned, counted, and its rows
// dropped when it finally returns.
func (e *Engine) scan(ctx context.Context, name string, constraints []sdk.Constraint) ([]sdk.Row, error) {
	e.scans.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	type result struct {
		rows []sdk.Row
		err  error
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan result, 1)
	limit := e.opts.MaxRowsPerScan
	go func() {
		var rows []sdk.Row
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("table %s: generate panicked: %v", name, p)}
			}
		}()
		err := e.src.Generate(gctx, name, constraints, func(batch []sdk.Row) error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if len(rows)+len(batch) > limit {
				return fmt.Errorf("more than %d rows in one scan", limit)
			}
			rows = append(rows, batch...)
			return nil
		})
		done <- result{rows: rows, err: err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("table %s: %w", name, r.err)
		}
		return r.rows, nil
	case <-ctx.Done():
		e.lost.Add(1)
		return nil, fmt.Errorf("table %s: generate still running when the query ended: %w", name, ctx.Err())
	}
}
