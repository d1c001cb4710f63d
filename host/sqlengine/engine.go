// Package sqlengine is stagewatch's built-in SQL engine: it serves a
// host.TableSource as SQLite virtual tables (pure-Go SQLite,
// modernc.org/sqlite) so that pack SQL written for osquery runs unchanged.
//
// Every table is declared with the osquery column types (TEXT, INTEGER,
// BIGINT, DOUBLE) and values are typed the way osquery types them: a numeric
// column whose value is empty or not a number is NULL, never "". That keeps
// `WHERE time > 1700000000` correct: SQLite orders any TEXT after every
// number, so an empty string would satisfy every `>` comparison. In results,
// NULL prints as "", as osquery prints it.
//
// WHERE terms (=, >, >=, <, <=, LIKE, GLOB) on any column are pushed down to
// the source as sdk.Constraint values with osquery's operator codes. SQLite
// still evaluates every term itself, so a source that ignores constraints,
// or filters more loosely, never changes a result.
package sqlengine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// moduleName is the virtual-table module every served table is created with.
const moduleName = "stagewatch"

// Options tune an Engine. The zero value is usable.
type Options struct {
	// QueryTimeout bounds one Query or Explain, including the time the
	// source spends generating rows. Default 30 s.
	QueryTimeout time.Duration
	// MaxConns is the number of SQLite connections, hence of queries that
	// run at once. Default: GOMAXPROCS, at least 2.
	MaxConns int
	// MaxRowsPerScan caps the rows one table scan may return, so a runaway
	// source fails its query instead of exhausting memory. Default 1,000,000.
	MaxRowsPerScan int
	// MaxResultBytes caps what one query's result may hold: its values'
	// bytes plus the bookkeeping of each row. Default DefaultMaxResultBytes.
	MaxResultBytes int
	// MaxValueBytes caps any string or blob a query builds
	// (SQLITE_LIMIT_LENGTH). Default DefaultMaxValueBytes.
	MaxValueBytes int
}

func (o Options) withDefaults() Options {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 30 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = max(runtime.GOMAXPROCS(0), 2)
	}
	if o.MaxRowsPerScan <= 0 {
		o.MaxRowsPerScan = 1_000_000
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	return o
}

// Stats are the engine's counters since Open.
type Stats struct {
	Queries   uint64 // Query calls
	Failures  uint64 // Query calls that returned an error
	Timeouts  uint64 // Query calls that ran out of time or were cancelled
	Scans     uint64 // table scans (one Generate each)
	Abandoned uint64 // scans whose Generate did not return when the query ended
	// BadValues counts numeric cells that were not numbers (served as NULL).
	BadValues uint64
	Refreshes uint64 // catalog changes picked up
}

// Engine runs SQL over a TableSource. It is safe for concurrent use.
type Engine struct {
	src  host.TableSource
	opts Options
	db   *sql.DB

	slots chan struct{} // one token per connection allowed to be in use

	mu        sync.Mutex
	catalog   *catalog
	idle      []*pooledConn
	states    map[int64]*connState // by id, for the module's Create/Connect
	closed    bool
	nextID    int64
	queries   atomic.Uint64
	failed    atomic.Uint64
	timeout   atomic.Uint64
	scans     atomic.Uint64
	lost      atomic.Uint64
	badVals   atomic.Uint64
	refreshes atomic.Uint64
}

// catalog is one immutable view of the source's tables.
type catalog struct {
	tables []sdk.TableSpec
	byName map[string]sdk.TableSpec
}

func newCatalog(specs []sdk.TableSpec) (*catalog, error) {
	c := &catalog{byName: make(map[string]sdk.TableSpec, len(specs))}
	var problems []error
	for _, spec := range specs {
		if err := checkSpec(spec); err != nil {
			problems = append(problems, err)
			continue
		}
		if _, dup := c.byName[spec.Name]; dup {
			problems = append(problems, fmt.Errorf("table %q: served twice", spec.Name))
			continue
		}
		c.byName[spec.Name] = spec
		c.tables = append(c.tables, spec)
	}
	return c, errors.Join(problems...)
}

func checkSpec(spec sdk.TableSpec) error {
	if spec.Name == "" {
		return errors.New("table with an empty name")
	}
	if len(spec.Columns) == 0 {
		return fmt.Errorf("table %q: no columns", spec.Name)
	}
	if len(spec.Columns) > 63 {
		// ColUsed and our plan encoding address columns in a 64-bit mask.
		return fmt.Errorf("table %q: %d columns, at most 63 supported", spec.Name, len(spec.Columns))
	}
	seen := make(map[string]bool, len(spec.Columns))
	for _, col := range spec.Columns {
		key := strings.ToLower(col.Name)
		if col.Name == "" || seen[key] {
			return fmt.Errorf("table %q: empty or duplicate column name %q", spec.Name, col.Name)
		}
		seen[key] = true
	}
	return nil
}

func sameSpec(a, b sdk.TableSpec) bool {
	return a.Name == b.Name && slices.EqualFunc(a.Columns, b.Columns, func(x, y sdk.ColumnSpec) bool {
		return x.Name == y.Name && x.Type == y.Type
	})
}

// Open builds an engine over src. It fails when src serves a table that
// cannot be declared (no columns, duplicate names).
func Open(ctx context.Context, src host.TableSource, opts Options) (*Engine, error) {
	if src == nil {
		return nil, errors.New("sqlengine: nil table source")
	}
	opts = opts.withDefaults()
	cat, err := newCatalog(src.Tables())
	if err != nil {
		return nil, fmt.Errorf("sqlengine: %w", err)
	}
	e := &Engine{
		src:     src,
		opts:    opts,
		slots:   make(chan struct{}, opts.MaxConns),
		catalog: cat,
		states:  make(map[int64]*connState),
	}
	// A Driver of our own keeps the module and functions off the
	// process-wide "sqlite" driver, so several engines never collide.
	drv := &sqlite.Driver{}
	if err := drv.RegisterModule(moduleName, &module{engine: e}); err != nil {
		return nil, fmt.Errorf("sqlengine: register module: %w", err)
	}
	if err := registerFunctions(drv); err != nil {
		return nil, fmt.Errorf("sqlengine: register functions: %w", err)
	}
	e.db = sql.OpenDB(connector{drv: drv})
	e.db.SetMaxOpenConns(opts.MaxConns)
	e.db.SetMaxIdleConns(opts.MaxConns)
	e.db.SetConnMaxLifetime(0)
	e.db.SetConnMaxIdleTime(0)

	// Open one connection now so a broken driver fails Open, not the first
	// query. Installing the tables is no query: a short QueryTimeout on a
	// loaded host must not fail the engine before it serves anything.
	ctx, cancel := context.WithTimeout(ctx, max(opts.QueryTimeout, openTimeout))
	defer cancel()
	pc, err := e.acquire(ctx)
	if err != nil {
		e.db.Close()
		return nil, fmt.Errorf("sqlengine: %w", err)
	}
	e.release(pc)
	return e, nil
}

// openTimeout bounds Open's first connection and its tables.
const openTimeout = 10 * time.Second

// connector opens in-memory databases through the engine's own driver.
type connector struct{ drv *sqlite.Driver }

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(":memory:") }
func (c connector) Driver() driver.Driver                        { return c.drv }

// Tables returns the tables the engine currently serves, sorted by name.
func (e *Engine) Tables() []sdk.TableSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(e.catalog.tables)
	slices.SortFunc(out, func(a, b sdk.TableSpec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Refresh re-reads the source's tables (a plugin restarted with new or
// changed tables). Connections pick the change up before their next query.
// When the new set is invalid the engine keeps serving the previous one.
func (e *Engine) Refresh() error {
	_, err := e.refresh()
	return err
}

// refresh reports whether the catalog changed.
func (e *Engine) refresh() (bool, error) {
	cat, err := newCatalog(e.src.Tables())
	if err != nil {
		return false, fmt.Errorf("sqlengine: refresh: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if sameCatalog(e.catalog, cat) {
		return false, nil
	}
	e.catalog = cat
	e.refreshes.Add(1)
	return true, nil
}

func sameCatalog(a, b *catalog) bool {
	if len(a.byName) != len(b.byName) {
		return false
	}
	for name, spec := range a.byName {
		other, ok := b.byName[name]
		if !ok || !sameSpec(spec, other) {
			return false
		}
	}
	return true
}

// Query runs reading SQL (see guard.go) and returns the result columns, in
// order, and the rows in osquery's string form: integers in decimal,
// doubles as SQLite prints them, NULL as "".
func (e *Engine) Query(ctx context.Context, query string) ([]string, []map[string]string, error) {
	e.queries.Add(1)
	cols, rows, err := e.query(ctx, query)
	if err != nil && isMissingTable(err) {
		// A plugin may have come back with tables this engine has not seen.
		if changed, _ := e.refresh(); changed {
			cols, rows, err = e.query(ctx, query)
		}
	}
	if err != nil {
		e.failed.Add(1)
	}
	return cols, rows, err
}

func isMissingTable(err error) bool { return strings.Contains(err.Error(), "no such table") }

func (e *Engine) query(parent context.Context, query string) ([]string, []map[string]string, error) {
	ctx, cancel := context.WithTimeout(parent, e.opts.QueryTimeout)
	defer cancel()
	pc, err := e.acquire(ctx)
	if err != nil {
		return nil, nil, e.deadlineError(ctx, err)
	}
	defer e.release(pc)
	pc.state.begin(&ctx)
	defer pc.state.end()
	fail := func(err error) ([]string, []map[string]string, error) {
		return nil, nil, e.deadlineError(ctx, pc.state.explain(e.sqliteError(pc.state, err)))
	}

	if err := e.readingOnly(ctx, pc, splitStatements(query)); err != nil {
		return fail(err)
	}
	rs, err := pc.conn.QueryContext(ctx, query)
	if err != nil {
		return fail(err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return fail(err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var rows []map[string]string
	held := 0 // bytes the result holds, as rowCost counts them
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return fail(err)
		}
		row := make(map[string]string, len(cols))
		held += rowCost(len(cols))
		for i, col := range cols {
			v := formatValue(vals[i])
			row[col] = v
			held += len(v)
		}
		if held > e.opts.MaxResultBytes {
			return fail(&LimitError{What: "query result", Bytes: e.opts.MaxResultBytes,
				How: fmt.Sprintf("%d rows so far; select fewer rows or columns, or aggregate", len(rows)+1)})
		}
		rows = append(rows, row)
	}
	if err := rs.Err(); err != nil {
		return fail(err)
	}
	// database/sql may end the row loop quietly when ctx ends mid-scan.
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	return cols, rows, nil
}

// sqliteError says why SQLite failed a statement when the reason is one of
// the engine's rules: a refused operation, a value over the length limit.
func (e *Engine) sqliteError(s *connState, err error) error {
	return valueLimit(s.refusal(err), e.opts.MaxValueBytes)
}

// deadlineError makes a query that ran out of time say so, whatever layer
// (SQLite interrupt, the scan, database/sql) noticed first.
func (e *Engine) deadlineError(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil {
		return err
	}
	e.timeout.Add(1)
	if errors.Is(cerr, context.DeadlineExceeded) {
		return fmt.Errorf("query exceeded %s: %w (%v)", e.opts.QueryTimeout, cerr, err)
	}
	return fmt.Errorf("query cancelled: %w (%v)", cerr, err)
}

// Explain compiles every statement of query against the served tables
// without running it, so a pack check catches unknown tables and columns,
// syntax errors and statements that are not reading ones.
func (e *Engine) Explain(parent context.Context, query string) error {
	statements := splitStatements(query)
	if len(statements) == 0 {
		return errors.New("empty query")
	}
	ctx, cancel := context.WithTimeout(parent, e.opts.QueryTimeout)
	defer cancel()
	compile := func() error {
		pc, err := e.acquire(ctx)
		if err != nil {
			return e.deadlineError(ctx, err)
		}
		defer e.release(pc)
		pc.state.begin(&ctx)
		defer pc.state.end()
		if err := e.readingOnly(ctx, pc, statements); err != nil {
			return err
		}
		for _, text := range statements {
			stmt, err := pc.conn.PrepareContext(ctx, text)
			if err != nil {
				return e.sqliteError(pc.state, err)
			}
			if err := stmt.Close(); err != nil {
				return err
			}
		}
		return nil
	}
	err := compile()
	if err != nil && isMissingTable(err) {
		if changed, _ := e.refresh(); changed {
			err = compile()
		}
	}
	return err
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Queries:   e.queries.Load(),
		Failures:  e.failed.Load(),
		Timeouts:  e.timeout.Load(),
		Scans:     e.scans.Load(),
		Abandoned: e.lost.Load(),
		BadValues: e.badVals.Load(),
		Refreshes: e.refreshes.Load(),
	}
}

// Close waits for running queries (each bounded by QueryTimeout) and closes
// every connection. Queries after Close fail.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	for range cap(e.slots) {
		e.slots <- struct{}{}
	}
	e.mu.Lock()
	idle := e.idle
	e.idle = nil
	e.mu.Unlock()
	var errs []error
	for _, pc := range idle {
		errs = append(errs, pc.conn.Close())
	}
	errs = append(errs, e.db.Close())
	// Hand the slots back so later calls see errClosed instead of waiting.
	for range cap(e.slots) {
		<-e.slots
	}
	return errors.Join(errs...)
}

// pooledConn is one SQLite connection with the served tables created in its
// temp schema.
type pooledConn struct {
	conn    *sql.Conn
	state   *connState
	catalog *catalog // the catalog its tables were created from
}

// connState is what the module's tables on one connection share: the tables
// installed there and the context of the query running on it.
type connState struct {
	id  int64
	ctx atomic.Pointer[context.Context]
	// scanErr is the first table-scan failure of the running query. When a
	// query runs out of time database/sql reports only the context's error;
	// this keeps the name of the table that was slow.
	scanErr atomic.Pointer[error]

	// trusted is set while the engine changes the connection's schema
	// itself; every other statement runs under the read-only authorizer.
	trusted atomic.Bool
	// refused is the first operation the authorizer refused in the
	// running query.
	refused atomic.Pointer[string]

	mu    sync.Mutex
	specs map[string]sdk.TableSpec
}

func (s *connState) begin(ctx *context.Context) {
	s.scanErr.Store(nil)
	s.refused.Store(nil)
	s.ctx.Store(ctx)
}

func (s *connState) end() { s.ctx.Store(nil) }

func (s *connState) scanFailed(err error) { s.scanErr.CompareAndSwap(nil, &err) }

// explain prefers the scan's error, which names the table, when the error
// SQLite or database/sql reported does not carry it already.
func (s *connState) explain(err error) error {
	p := s.scanErr.Load()
	if p == nil || strings.Contains(err.Error(), (*p).Error()) {
		return err
	}
	return fmt.Errorf("%w (%v)", *p, err)
}

func (s *connState) context() context.Context {
	if p := s.ctx.Load(); p != nil {
		return *p
	}
	// A scan outside Query (never expected) still gets a bound.
	return context.Background()
}

func (s *connState) spec(name string) (sdk.TableSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	spec, ok := s.specs[name]
	return spec, ok
}

var errClosed = errors.New("sqlengine: engine closed")

func (e *Engine) acquire(ctx context.Context) (*pooledConn, error) {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.slots
		return nil, errClosed
	}
	var pc *pooledConn
	if n := len(e.idle); n > 0 {
		pc = e.idle[n-1]
		e.idle = e.idle[:n-1]
	}
	cat := e.catalog
	e.mu.Unlock()

	if pc == nil {
		var err error
		if pc, err = e.newConn(ctx); err != nil {
			<-e.slots
			return nil, err
		}
	}
	if pc.catalog != cat {
		if err := e.install(ctx, pc, cat); err != nil {
			e.discard(pc)
			<-e.slots
			return nil, err
		}
	}
	return pc, nil
}

func (e *Engine) release(pc *pooledConn) {
	e.mu.Lock()
	e.idle = append(e.idle, pc)
	e.mu.Unlock()
	<-e.slots
}

func (e *Engine) discard(pc *pooledConn) {
	e.mu.Lock()
	delete(e.states, pc.state.id)
	e.mu.Unlock()
	pc.conn.Close()
}

func (e *Engine) newConn(ctx context.Context) (*pooledConn, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open connection: %w", err)
	}
	if _, err := sqlite.Limit(conn, sqliteLimitAttached, 0); err != nil {
		conn.Close()
		return nil, fmt.Errorf("limit attach: %w", err)
	}
	if _, err := sqlite.Limit(conn, sqliteLimitLength, e.opts.MaxValueBytes); err != nil {
		conn.Close()
		return nil, fmt.Errorf("limit length: %w", err)
	}
	e.mu.Lock()
	e.nextID++
	state := &connState{id: e.nextID, specs: make(map[string]sdk.TableSpec)}
	e.mu.Unlock()
	err = conn.Raw(func(driverConn any) error {
		ar, ok := driverConn.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("driver connection %T has no authorizer", driverConn)
		}
		return ar.RegisterAuthorizer(state.authorize)
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("install the read-only authorizer: %w", err)
	}
	e.mu.Lock()
	e.states[state.id] = state
	e.mu.Unlock()
	return &pooledConn{conn: conn, state: state}, nil
}

func (e *Engine) connState(id int64) *connState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.states[id]
}

// install makes pc's temp schema match cat: drop what vanished or changed,
// create what is new. Queries run under the read-only authorizer and with
// query_only on, so pack SQL cannot create or change anything; both are
// lifted only here.
func (e *Engine) install(ctx context.Context, pc *pooledConn, cat *catalog) error {
	state := pc.state
	state.trusted.Store(true)
	defer state.trusted.Store(false)
	if _, err := pc.conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return err
	}
	state.mu.Lock()
	installed := make(map[string]sdk.TableSpec, len(state.specs))
	for name, spec := range state.specs {
		installed[name] = spec
	}
	state.mu.Unlock()

	for name, old := range installed {
		if spec, keep := cat.byName[name]; keep && sameSpec(old, spec) {
			continue
		}
		if _, err := pc.conn.ExecContext(ctx, "DROP TABLE temp."+quoteIdent(name)); err != nil {
			return fmt.Errorf("drop table %q: %w", name, err)
		}
		state.mu.Lock()
		delete(state.specs, name)
		state.mu.Unlock()
	}
	for _, spec := range cat.tables {
		if _, ok := state.spec(spec.Name); ok {
			continue
		}
		state.mu.Lock()
		state.specs[spec.Name] = spec
		state.mu.Unlock()
		stmt := fmt.Sprintf("CREATE VIRTUAL TABLE temp.%s USING %s(%d)", quoteIdent(spec.Name), moduleName, state.id)
		if _, err := pc.conn.ExecContext(ctx, stmt); err != nil {
			state.mu.Lock()
			delete(state.specs, spec.Name)
			state.mu.Unlock()
			return fmt.Errorf("create table %q: %w", spec.Name, err)
		}
	}
	if _, err := pc.conn.ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		return err
	}
	pc.catalog = cat
	return nil
}

func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// formatValue renders a result value as osquery's result rows carry it.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatDouble(x)
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return strconv.FormatInt(x.Unix(), 10)
	}
	return fmt.Sprint(v)
}

// formatDouble prints a REAL the way SQLite's text conversion does
// ("%!.15g": 15 significant digits, always a decimal point), so a double
// reads the same here as in osqueryi.
func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', 15, 64)
	if strings.ContainsAny(s, ".nN") { // has a point, or is NaN/Inf
		return s
	}
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		return s[:i] + ".0" + s[i:]
	}
	return s + ".0"
}
