// Package store keeps the rows an analytic serves as tables: each table it
// declares is a bounded, time-ordered ring of records, turned into rows for
// a query with time constraints honoured by binary search and equality
// constraints filtered. Every analytic serves its tables from this one
// store, whatever their columns (the shared staging_* tables, cloud or ESXi
// event tables): a table is a declaration (name, columns, time column, cap)
// and a record type that renders a row.
package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// BatchSize is the number of rows per emit call.
const BatchSize = 512

// DefaultTimeColumn is the time column of a table that names none.
const DefaultTimeColumn = "time"

// Def declares one table.
type Def struct {
	Spec sdk.TableSpec
	// TimeColumn holds a record's time in unix seconds; constraints on it
	// are answered by binary search over the ring. Empty means "time".
	TimeColumn string
	// Max is how many records the table keeps; past it the oldest go.
	Max int
}

// Record is one row to be, a pointer: the store tells records apart by
// address. A record never changes once added, which lets Generate copy
// records out under the lock and render them without it.
type Record interface {
	// Time orders the table and answers constraints on its time column.
	Time() time.Time
	// Row renders the record with every column of its table.
	Row() sdk.Row
}

// Store holds the tables of one analytic. It is safe for concurrent use:
// collectors add while queries generate.
type Store struct {
	mu     sync.RWMutex // guards tables (the map), not their contents
	tables map[string]*Table
	order  []*Table
}

// Table is one declared table. Its methods are safe for concurrent use.
type Table struct {
	def Def

	mu    sync.RWMutex
	ring  ring
	byKey map[string]Record // records added with Upsert
	keyOf map[Record]string // and back, to forget an evicted one
}

// TableStats are one table's size and what its cap evicted.
type TableStats struct {
	Name      string
	Rows      int
	Evictions uint64
}

// New returns a store with no tables.
func New() *Store { return &Store{tables: map[string]*Table{}} }

// Declare adds a table. A declaration without a name, without its time
// column, with a time column that is not a number, or with a name already
// declared is a mistake in the analytic and panics; an analytic declares its
// tables once, at construction, where its tests catch it.
func (s *Store) Declare(d Def) *Table {
	if d.Spec.Name == "" {
		panic("store: a table needs a name")
	}
	if d.TimeColumn == "" {
		d.TimeColumn = DefaultTimeColumn
	}
	col, ok := column(d.Spec, d.TimeColumn)
	if !ok || col.Type == sdk.ColumnText {
		panic(fmt.Sprintf("store: table %s: time column %q must be one of its integer columns", d.Spec.Name, d.TimeColumn))
	}
	if d.Max < 1 {
		d.Max = 1
	}
	t := &Table{def: d, ring: ring{max: d.Max}, byKey: map[string]Record{}, keyOf: map[Record]string{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.tables[d.Spec.Name]; dup {
		panic("store: table " + d.Spec.Name + " declared twice")
	}
	s.tables[d.Spec.Name] = t
	s.order = append(s.order, t)
	return t
}

// Tables lists the declared tables' specs in declaration order.
func (s *Store) Tables() []sdk.TableSpec {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]sdk.TableSpec, len(s.order))
	for i, t := range s.order {
		out[i] = t.def.Spec
	}
	return out
}

// Stats returns every table's size and evictions, in declaration order.
func (s *Store) Stats() []TableStats {
	s.mu.RLock()
	tables := append([]*Table(nil), s.order...)
	s.mu.RUnlock()
	out := make([]TableStats, len(tables))
	for i, t := range tables {
		out[i] = t.Stats()
	}
	return out
}

// Spec is the table's declaration.
func (t *Table) Spec() sdk.TableSpec { return t.def.Spec }

// Add keeps r. At the cap the oldest record leaves (r itself when it is
// older than everything kept).
func (t *Table) Add(r Record) {
	t.mu.Lock()
	if gone := t.ring.insert(r); gone != nil {
		t.forgetLocked(gone)
	}
	t.mu.Unlock()
}

// Upsert keeps r under key, replacing the record kept under it: an updated
// detection (more evidence, an encryption step) stays one row.
func (t *Table) Upsert(key string, r Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.byKey[key]; ok {
		delete(t.byKey, key)
		delete(t.keyOf, old)
		t.ring.remove(old)
	}
	if gone := t.ring.insert(r); gone != nil {
		t.forgetLocked(gone)
		if gone == r {
			return
		}
	}
	t.byKey[key] = r
	t.keyOf[r] = key
}

// Max is how many records the table keeps at most.
func (t *Table) Max() int { return t.def.Max }

// Has reports whether a record is kept under key.
func (t *Table) Has(key string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.byKey[key]
	return ok
}

// forgetLocked drops the key of an evicted record, so a later update of it
// is a fresh row rather than the removal of another.
func (t *Table) forgetLocked(gone Record) {
	if key, ok := t.keyOf[gone]; ok {
		delete(t.keyOf, gone)
		delete(t.byKey, key)
	}
}

// Stats returns the table's size and evictions.
func (t *Table) Stats() TableStats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return TableStats{Name: t.def.Spec.Name, Rows: t.ring.n, Evictions: t.ring.evicted}
}

// Generate emits the rows of table matching constraints, oldest first, in
// batches of BatchSize. Constraints on the time column narrow the rows by
// binary search; other "=" constraints filter; the rest are left to the SQL
// engine, which re-checks every constraint anyway. emit is never called
// with a lock held, so a slow consumer does not stall collection.
func (s *Store) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	s.mu.RLock()
	t, ok := s.tables[table]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("store: unknown table %q", table)
	}
	return t.Generate(ctx, constraints, emit)
}

// Generate emits the table's rows matching constraints (see Store.Generate).
func (t *Table) Generate(ctx context.Context, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	window, filters, err := plan(t.def.Spec, t.def.TimeColumn, constraints)
	if err != nil {
		return err
	}
	from, to := window.bounds()
	t.mu.RLock()
	recs := t.ring.between(from, to)
	t.mu.RUnlock()

	batch := make([]sdk.Row, 0, min(len(recs), BatchSize))
	for _, r := range recs {
		row := r.Row()
		if !filters.match(row) {
			continue
		}
		batch = append(batch, row)
		if len(batch) == BatchSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(batch); err != nil {
				return err
			}
			batch = make([]sdk.Row, 0, BatchSize)
		}
	}
	if len(batch) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return emit(batch)
	}
	return ctx.Err()
}

// ring is a time-ordered buffer of at most max records, oldest evicted
// first. Records arrive nearly in order (collectors and settle delays
// reorder by milliseconds), so an insert is an append or a short shift near
// the end.
type ring struct {
	buf     []Record
	head    int // index in buf of the oldest record
	n       int
	max     int
	evicted uint64
}

func (r *ring) at(i int) Record { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) set(i int, v Record) { r.buf[(r.head+i)%len(r.buf)] = v }

// grow doubles the buffer up to max: a table that never fills never pays
// for its whole cap.
func (r *ring) grow() {
	size := min(max(2*len(r.buf), 64), r.max)
	buf := make([]Record, size)
	for i := range r.n {
		buf[i] = r.at(i)
	}
	r.buf, r.head = buf, 0
}

// insert adds v in time order after records of the same time. At the cap
// it returns the record that left: the oldest, or v itself when v is older
// than everything kept (it would be the next to go anyway).
func (r *ring) insert(v Record) (evicted Record) {
	t := v.Time()
	if r.n == r.max {
		if t.Before(r.at(0).Time()) {
			r.evicted++
			return v
		}
		evicted = r.at(0)
		r.removeAt(0)
		r.evicted++
	}
	if r.n == len(r.buf) {
		r.grow()
	}
	pos := r.n
	for steps := 0; pos > 0 && t.Before(r.at(pos-1).Time()); steps++ {
		if steps == 64 {
			// Far out of order: binary search instead of walking back.
			pos = r.upper(t)
			break
		}
		pos--
	}
	for i := r.n; i > pos; i-- {
		r.set(i, r.at(i-1))
	}
	r.set(pos, v)
	r.n++
	return evicted
}

// remove takes v out, looking among the records of its time.
func (r *ring) remove(v Record) {
	t := v.Time()
	for i := r.lower(t); i < r.n; i++ {
		if r.at(i) == v {
			r.removeAt(i)
			return
		}
		if r.at(i).Time().After(t) {
			return
		}
	}
}

func (r *ring) removeAt(pos int) {
	if pos == 0 {
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		return
	}
	for i := pos; i < r.n-1; i++ {
		r.set(i, r.at(i+1))
	}
	r.set(r.n-1, nil)
	r.n--
}

// lower is the index of the first record at or after t.
func (r *ring) lower(t time.Time) int {
	return sort.Search(r.n, func(i int) bool { return !r.at(i).Time().Before(t) })
}

// upper is the index of the first record after t.
func (r *ring) upper(t time.Time) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).Time().After(t) })
}

// between copies out the records in [from, to); nil ends are open.
func (r *ring) between(from, to *time.Time) []Record {
	lo, hi := 0, r.n
	if from != nil {
		lo = r.lower(*from)
	}
	if to != nil {
		hi = r.lower(*to)
	}
	if lo >= hi {
		return nil
	}
	out := make([]Record, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, r.at(i))
	}
	return out
}

// UnixSeconds renders a time column; the zero time (not known) is 0 rather
// than year 1 in seconds.
func UnixSeconds(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// Nanos renders the nanoseconds within the second of t.
func Nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.Itoa(t.Nanosecond())
}

// KnownInt maps every "not reported" negative to the schema's -1.
func KnownInt(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// KnownPID treats pid 0 as unknown too: no user process has it, and some
// sensors report it when the writer is gone.
func KnownPID(pid int64) string {
	if pid <= 0 {
		return "-1"
	}
	return strconv.FormatInt(pid, 10)
}
