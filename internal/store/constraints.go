package store

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// timeWindow is the [from, to) range of unix seconds the time constraints
// allow; nil ends are open.
type timeWindow struct {
	from, to *int64
}

// Time values beyond this are clamped: far outside any event, and safe to
// hand to time.Unix and to add one to.
const maxSeconds = int64(1) << 40

func (w *timeWindow) atLeast(sec int64) {
	if w.from == nil || sec > *w.from {
		w.from = &sec
	}
}

func (w *timeWindow) below(sec int64) {
	if w.to == nil || sec < *w.to {
		w.to = &sec
	}
}

func (w timeWindow) bounds() (from, to *time.Time) {
	if w.from != nil {
		t := time.Unix(*w.from, 0)
		from = &t
	}
	if w.to != nil {
		t := time.Unix(*w.to, 0)
		to = &t
	}
	return from, to
}

// apply narrows w by "time op x". The time column holds whole seconds, so
// time > 5.5 means seconds >= 6, and time = 5.5 matches nothing.
func (w *timeWindow) apply(op sdk.Operator, x float64) {
	x = math.Max(math.Min(x, float64(maxSeconds)), -float64(maxSeconds))
	floor, ceil := int64(math.Floor(x)), int64(math.Ceil(x))
	switch op {
	case sdk.OpEquals:
		if floor != ceil {
			w.below(-maxSeconds)
			return
		}
		w.atLeast(floor)
		w.below(floor + 1)
	case sdk.OpGreaterThan:
		w.atLeast(floor + 1)
	case sdk.OpGreaterThanOrEqual:
		w.atLeast(ceil)
	case sdk.OpLessThan:
		w.below(ceil)
	case sdk.OpLessThanOrEquals:
		w.below(floor + 1)
	}
}

type filter struct {
	column  string
	expr    string
	numeric bool
	intExpr int64
	isInt   bool
	fltExpr float64
}

type filters []filter

func (fs filters) match(row sdk.Row) bool {
	for i := range fs {
		if !fs[i].match(row[fs[i].column]) {
			return false
		}
	}
	return true
}

func (f *filter) match(v string) bool {
	if !f.numeric {
		return v == f.expr
	}
	if f.isInt {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n == f.intExpr
		}
	}
	x, err := strconv.ParseFloat(v, 64)
	return err == nil && x == f.fltExpr
}

// plan splits constraints into a time range and equality filters. A
// constraint it cannot use exactly (LIKE, a non-numeric value for a number
// column, an operator on another column) is left to the SQL engine: rows
// are only ever dropped when the constraint certainly excludes them.
func plan(spec sdk.TableSpec, timeColumn string, constraints []sdk.Constraint) (timeWindow, filters, error) {
	var (
		window timeWindow
		fs     filters
	)
	for _, c := range constraints {
		col, ok := column(spec, c.Column)
		if !ok {
			return window, nil, fmt.Errorf("store: table %s has no column %q", spec.Name, c.Column)
		}
		numeric := col.Type != sdk.ColumnText
		if c.Column == timeColumn {
			switch c.Op {
			case sdk.OpEquals, sdk.OpGreaterThan, sdk.OpGreaterThanOrEqual, sdk.OpLessThan, sdk.OpLessThanOrEquals:
				if x, err := strconv.ParseFloat(c.Expr, 64); err == nil && !math.IsNaN(x) {
					window.apply(c.Op, x)
				}
			}
			continue
		}
		if c.Op != sdk.OpEquals {
			continue
		}
		f := filter{column: c.Column, expr: c.Expr, numeric: numeric}
		if numeric {
			x, err := strconv.ParseFloat(c.Expr, 64)
			if err != nil || math.IsNaN(x) {
				continue
			}
			f.fltExpr = x
			if n, err := strconv.ParseInt(c.Expr, 10, 64); err == nil {
				f.intExpr, f.isInt = n, true
			}
		}
		fs = append(fs, f)
	}
	return window, fs, nil
}

func column(spec sdk.TableSpec, name string) (sdk.ColumnSpec, bool) {
	for _, c := range spec.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return sdk.ColumnSpec{}, false
}
