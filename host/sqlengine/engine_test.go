package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var metricsTable = sdk.TableSpec{
	Name: "staging_metrics",
	Columns: []sdk.ColumnSpec{
		{Name: "time", Type: sdk.ColumnBigInt},
		{Name: "name", Type: sdk.ColumnText},
		{Name: "count", Type: sdk.ColumnInteger},
		{Name: "ratio", Type: sdk.ColumnDouble},
	},
}

func detection(uid string, at int64, analytic, path string, files int) sdk.Row {
	return sdk.Row{
		"time": strconv.FormatInt(at, 10), "detection_id": "DET0014", "analytic_id": analytic,
		"technique_id": "T1074.001", "platform": "linux", "host": "web-1", "actor": "alice pts/0",
		"process": "tar czf /tmp/x.tgz /tmp/stage", "staging_path": path, "archive_path": path + ".tgz",
		"file_count": strconv.Itoa(files), "bytes": "4096", "first_seen": strconv.FormatInt(at-60, 10),
		"last_seen": strconv.FormatInt(at, 10), "severity": "high", "score": "80",
		"reason": "files staged then archived", "evidence": "[]", "uid": uid,
	}
}

func openEngine(t *testing.T, src interface {
	Tables() []sdk.TableSpec
	Generate(context.Context, string, []sdk.Constraint, func([]sdk.Row) error) error
}, opts Options) *Engine {
	t.Helper()
	e, err := Open(t.Context(), src, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func fixture(t *testing.T) (*memSource, *Engine) {
	src := newMemSource(schema.DetectionsTable, metricsTable, schema.FileEventsTable)
	src.setRows(schema.Detections,
		detection("a", 1700000100, "AN0041", "/tmp/stage", 12),
		detection("b", 1700000200, "AN0041", "/var/tmp/loot", 3),
		detection("c", 1700000300, "AN0042", "/Users/bob/Public/drop", 40),
	)
	src.setRows("staging_metrics",
		sdk.Row{"time": "100", "name": "empty-count", "count": "", "ratio": "0.5"},
		sdk.Row{"time": "", "name": "no-time", "count": "7", "ratio": "1"},
		sdk.Row{"time": "300", "name": "garbage", "count": "lots", "ratio": "x"},
		sdk.Row{"time": "400", "name": "big", "count": "9007199254740993", "ratio": "1e20"},
	)
	return src, openEngine(t, src, Options{QueryTimeout: 5 * time.Second})
}

func TestQueryTypesAndValues(t *testing.T) {
	t.Parallel()
	_, e := fixture(t)
	tests := []struct {
		name string
		sql  string
		cols []string
		want []map[string]string
	}{
		{
			name: "empty numeric cell is NULL so range filters stay correct",
			sql:  "SELECT name FROM staging_metrics WHERE time > 50 ORDER BY name",
			cols: []string{"name"},
			want: []map[string]string{{"name": "big"}, {"name": "empty-count"}, {"name": "garbage"}},
		},
		{
			name: "NULL prints as empty string, integers keep full precision",
			sql:  "SELECT name, count, time FROM staging_metrics ORDER BY name",
			cols: []string{"name", "count", "time"},
			want: []map[string]string{
				{"name": "big", "count": "9007199254740993", "time": "400"},
				{"name": "empty-count", "count": "", "time": "100"},
				{"name": "garbage", "count": "", "time": "300"},
				{"name": "no-time", "count": "7", "time": ""},
			},
		},
		{
			name: "doubles print as SQLite prints REAL",
			sql:  "SELECT name, ratio, ratio * 2 AS twice FROM staging_metrics WHERE ratio IS NOT NULL ORDER BY name",
			cols: []string{"name", "ratio", "twice"},
			want: []map[string]string{
				{"name": "big", "ratio": "1.0e+20", "twice": "2.0e+20"},
				{"name": "empty-count", "ratio": "0.5", "twice": "1.0"},
				{"name": "no-time", "ratio": "1.0", "twice": "2.0"},
			},
		},
		{
			name: "typeof follows the declared osquery types",
			sql:  "SELECT typeof(time) AS t, typeof(name) AS n, typeof(count) AS c, typeof(ratio) AS r FROM staging_metrics WHERE name = 'no-time'",
			cols: []string{"t", "n", "c", "r"},
			want: []map[string]string{{"t": "null", "n": "text", "c": "integer", "r": "real"}},
		},
		{
			name: "aggregate over a pack-style detections query",
			sql: `SELECT analytic_id, COUNT(*) AS detections, SUM(file_count) AS files, MAX(time) AS latest
			      FROM staging_detections WHERE time >= 1700000000 AND severity IN ('high','medium')
			      GROUP BY analytic_id ORDER BY analytic_id`,
			cols: []string{"analytic_id", "detections", "files", "latest"},
			want: []map[string]string{
				{"analytic_id": "AN0041", "detections": "2", "files": "15", "latest": "1700000200"},
				{"analytic_id": "AN0042", "detections": "1", "files": "40", "latest": "1700000300"},
			},
		},
		{
			name: "join, LIKE and subquery",
			sql: `SELECT d.uid, m.name FROM staging_detections d
			      JOIN staging_metrics m ON d.time = 1700000000 + m.time
			      WHERE d.staging_path LIKE '/tmp/%' AND d.uid IN (SELECT uid FROM staging_detections WHERE file_count > 10)`,
			cols: []string{"uid", "name"},
			want: []map[string]string{{"uid": "a", "name": "empty-count"}},
		},
		{
			name: "no rows",
			sql:  "SELECT uid FROM staging_detections WHERE time < 0",
			cols: []string{"uid"},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cols, rows, err := e.Query(t.Context(), tc.sql)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if fmt.Sprint(cols) != fmt.Sprint(tc.cols) {
				t.Errorf("columns = %v, want %v", cols, tc.cols)
			}
			if fmt.Sprint(rows) != fmt.Sprint(tc.want) {
				t.Errorf("rows =\n%v\nwant\n%v", rows, tc.want)
			}
		})
	}
}

func TestBadNumericCellsCounted(t *testing.T) {
	t.Parallel()
	_, e := fixture(t)
	if _, _, err := e.Query(t.Context(), "SELECT count, ratio FROM staging_metrics"); err != nil {
		t.Fatal(err)
	}
	// "lots" in count and "x" in ratio.
	if got := e.Stats().BadValues; got != 2 {
		t.Errorf("BadValues = %d, want 2", got)
	}
}

func TestConstraintsPushedDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sql  string
		want []sdk.Constraint
	}{
		{"SELECT * FROM staging_detections WHERE time > 1700000150",
			[]sdk.Constraint{{Column: "time", Op: sdk.OpGreaterThan, Expr: "1700000150"}}},
		{"SELECT * FROM staging_detections WHERE time >= 5 AND time < 9",
			[]sdk.Constraint{{Column: "time", Op: sdk.OpGreaterThanOrEqual, Expr: "5"}, {Column: "time", Op: sdk.OpLessThan, Expr: "9"}}},
		{"SELECT * FROM staging_detections WHERE time <= 7",
			[]sdk.Constraint{{Column: "time", Op: sdk.OpLessThanOrEquals, Expr: "7"}}},
		{"SELECT * FROM staging_detections WHERE uid = 'b'",
			[]sdk.Constraint{{Column: "uid", Op: sdk.OpEquals, Expr: "b"}}},
		// SQLite's LIKE/GLOB prefix optimisation adds a binary range that
		// brackets every match (case-insensitively for LIKE); osquery
		// plugins receive the same terms.
		{"SELECT * FROM staging_detections WHERE staging_path LIKE '/tmp/%'",
			[]sdk.Constraint{{Column: "staging_path", Op: sdk.OpLike, Expr: "/tmp/%"},
				{Column: "staging_path", Op: sdk.OpGreaterThanOrEqual, Expr: "/TMP/"},
				{Column: "staging_path", Op: sdk.OpLessThan, Expr: "/tmp0"}}},
		{"SELECT * FROM staging_detections WHERE staging_path GLOB '/var/*'",
			[]sdk.Constraint{{Column: "staging_path", Op: sdk.OpGlob, Expr: "/var/*"},
				{Column: "staging_path", Op: sdk.OpGreaterThanOrEqual, Expr: "/var/"},
				{Column: "staging_path", Op: sdk.OpLessThan, Expr: "/var0"}}},
		{"SELECT * FROM staging_detections WHERE time > strftime('%s','2023-11-14 22:13:30')",
			[]sdk.Constraint{{Column: "time", Op: sdk.OpGreaterThan, Expr: "1700000010"}}},
		// Not pushed: != and IS NULL stay with SQLite.
		{"SELECT * FROM staging_detections WHERE uid != 'b' AND host IS NULL", nil},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			t.Parallel()
			src, e := fixture(t)
			if _, _, err := e.Query(t.Context(), tc.sql); err != nil {
				t.Fatalf("Query: %v", err)
			}
			seen := src.constraints()
			if len(seen) != 1 {
				t.Fatalf("scans = %d, want 1 (%v)", len(seen), seen)
			}
			if fmt.Sprint(sortConstraints(seen[0])) != fmt.Sprint(sortConstraints(tc.want)) {
				t.Errorf("constraints = %v, want %v", seen[0], tc.want)
			}
		})
	}
}

func sortConstraints(cs []sdk.Constraint) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s %d %s", c.Column, c.Op, c.Expr)
	}
	slices.Sort(out)
	return out
}

// The source ignores every pushed constraint; SQLite's own check must still
// give exact results, including for a join that pushes an equality per row.
func TestResultsDoNotDependOnSourceFiltering(t *testing.T) {
	t.Parallel()
	src, e := fixture(t)
	_, rows, err := e.Query(t.Context(),
		"SELECT a.uid FROM staging_detections a, staging_detections b WHERE b.uid = a.uid AND a.time > 1700000150 ORDER BY a.uid")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[map[uid:b] map[uid:c]]" {
		t.Errorf("rows = %v", rows)
	}
	var eq int
	for _, cs := range src.constraints() {
		for _, c := range cs {
			if c.Column == "uid" && c.Op == sdk.OpEquals {
				eq++
			}
		}
	}
	if eq == 0 {
		t.Errorf("the join pushed no uid equality: %v", src.constraints())
	}
}

func TestQueryTimeout(t *testing.T) {
	t.Parallel()
	for _, honour := range []bool{true, false} {
		t.Run(fmt.Sprintf("honours_ctx=%v", honour), func(t *testing.T) {
			t.Parallel()
			h := &hangingSource{honour: honour, release: make(chan struct{}), started: make(chan struct{})}
			defer close(h.release) // frees the wedged Generate before goleak looks
			e := openEngine(t, h, Options{QueryTimeout: 200 * time.Millisecond, MaxConns: 1})
			start := time.Now()
			_, _, err := e.Query(t.Context(), "SELECT * FROM staging_slow WHERE time > 0")
			took := time.Since(start)
			if err == nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", err)
			}
			if !strings.Contains(err.Error(), "staging_slow") {
				t.Errorf("error does not name the table: %v", err)
			}
			if took > 2*time.Second {
				t.Errorf("query took %s, bound is 200ms", took)
			}
			st := e.Stats()
			if st.Timeouts != 1 || st.Failures != 1 {
				t.Errorf("stats = %+v", st)
			}
			if !honour && st.Abandoned != 1 {
				t.Errorf("Abandoned = %d, want 1", st.Abandoned)
			}
			// The one connection is usable again.
			if _, rows, err := e.Query(t.Context(), "SELECT 1 AS one"); err != nil || rows[0]["one"] != "1" {
				t.Errorf("after timeout: rows=%v err=%v", rows, err)
			}
		})
	}
}

func TestCallerCancellation(t *testing.T) {
	t.Parallel()
	h := &hangingSource{honour: true, release: make(chan struct{}), started: make(chan struct{})}
	defer close(h.release)
	e := openEngine(t, h, Options{QueryTimeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-h.started; cancel() }()
	_, _, err := e.Query(ctx, "SELECT * FROM staging_slow")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want cancelled", err)
	}
}

func TestRefreshPicksUpNewTables(t *testing.T) {
	t.Parallel()
	src := newMemSource(metricsTable)
	src.setRows("staging_metrics", sdk.Row{"time": "1", "name": "m"})
	e := openEngine(t, src, Options{MaxConns: 2})
	if _, _, err := e.Query(t.Context(), "SELECT * FROM staging_detections"); err == nil {
		t.Fatal("query of a table not yet served succeeded")
	}

	// A plugin comes back with a new table: the next query finds it.
	src.setSpecs(metricsTable, schema.DetectionsTable)
	src.setRows(schema.Detections, detection("z", 5, "AN0041", "/tmp/s", 1))
	_, rows, err := e.Query(t.Context(), "SELECT uid FROM staging_detections")
	if err != nil || fmt.Sprint(rows) != "[map[uid:z]]" {
		t.Fatalf("after new table: rows=%v err=%v", rows, err)
	}

	// A table changes shape: an explicit Refresh re-declares it on every connection.
	wider := metricsTable
	wider.Columns = append(append([]sdk.ColumnSpec(nil), metricsTable.Columns...), sdk.ColumnSpec{Name: "extra", Type: sdk.ColumnText})
	src.setSpecs(wider)
	src.setRows("staging_metrics", sdk.Row{"time": "1", "name": "m", "extra": "yes"})
	if err := e.Refresh(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 { // exercise both pooled connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, rows, err := e.Query(t.Context(), "SELECT extra FROM staging_metrics")
			if err != nil || fmt.Sprint(rows) != "[map[extra:yes]]" {
				t.Errorf("after reshape: rows=%v err=%v", rows, err)
			}
		}()
	}
	wg.Wait()
	if _, _, err := e.Query(t.Context(), "SELECT uid FROM staging_detections"); err == nil {
		t.Error("a table the source dropped is still served")
	}
	if names := e.Tables(); len(names) != 1 || names[0].Name != "staging_metrics" {
		t.Errorf("Tables = %v", names)
	}

	// An invalid new set is refused and the old one kept.
	src.setSpecs(wider, sdk.TableSpec{Name: "staging_broken"})
	if err := e.Refresh(); err == nil || !strings.Contains(err.Error(), "staging_broken") {
		t.Errorf("Refresh with a column-less table: %v", err)
	}
	if _, _, err := e.Query(t.Context(), "SELECT extra FROM staging_metrics"); err != nil {
		t.Errorf("old catalog lost: %v", err)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	src, e := fixture(t)
	tests := []struct {
		sql     string
		wantErr string
	}{
		{"SELECT uid, time FROM staging_detections WHERE time > strftime('%s','now') - 86400", ""},
		{"SELECT COUNT(*) FROM staging_file_events f JOIN staging_detections d ON d.staging_path = f.staging_path", ""},
		{"SELECT * FROM staging_nope", "no such table"},
		{"SELECT nope FROM staging_detections", "no such column"},
		{"SELEC uid FROM staging_detections", "syntax error"},
		{"SELECT uid FROM staging_detections;\n", ""},
		{"SELECT 1; SELECT nope FROM staging_nope;", "no such table"},
		{"SELECT ';' AS semi; /* ; */ SELECT [a;b] FROM staging_detections -- ;\n", "no such column: a;b"},
		{"  -- nothing\n", "empty query"},
	}
	for _, tc := range tests {
		err := e.Explain(t.Context(), tc.sql)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Explain(%q) = %v", tc.sql, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Explain(%q) = %v, want %q", tc.sql, err, tc.wantErr)
		}
	}
	if n := len(src.constraints()); n != 0 {
		t.Errorf("Explain generated rows (%d scans)", n)
	}
}

func TestQueriesCannotWrite(t *testing.T) {
	t.Parallel()
	_, e := fixture(t)
	for _, sql := range []string{
		"CREATE TABLE temp.t(x)",
		"DROP TABLE temp.staging_detections",
		"ATTACH DATABASE '" + t.TempDir() + "/x.db' AS other",
		"INSERT INTO staging_detections(uid) VALUES ('x')",
	} {
		if _, _, err := e.Query(t.Context(), sql); err == nil {
			t.Errorf("%q succeeded", sql)
		}
	}
	if _, rows, err := e.Query(t.Context(), "SELECT COUNT(*) AS n FROM staging_detections"); err != nil || rows[0]["n"] != "3" {
		t.Errorf("tables damaged: %v %v", rows, err)
	}
}

func TestSourceErrors(t *testing.T) {
	t.Parallel()
	src, e := fixture(t)
	src.mu.Lock()
	src.panics = true
	src.mu.Unlock()
	_, _, err := e.Query(t.Context(), "SELECT * FROM staging_detections")
	if err == nil || !strings.Contains(err.Error(), "panicked") || !strings.Contains(err.Error(), "staging_detections") {
		t.Errorf("panicking source: %v", err)
	}

	capped := newMemSource(metricsTable)
	rows := make([]sdk.Row, 20)
	for i := range rows {
		rows[i] = sdk.Row{"time": strconv.Itoa(i)}
	}
	capped.setRows("staging_metrics", rows...)
	ce := openEngine(t, capped, Options{MaxRowsPerScan: 10})
	if _, _, err := ce.Query(t.Context(), "SELECT * FROM staging_metrics"); err == nil || !strings.Contains(err.Error(), "more than 10 rows") {
		t.Errorf("row cap: %v", err)
	}
}

func TestOpenRejectsBadTables(t *testing.T) {
	t.Parallel()
	for _, spec := range []sdk.TableSpec{
		{Name: "staging_empty"},
		{Name: "staging_dup", Columns: []sdk.ColumnSpec{{Name: "a"}, {Name: "A"}}},
	} {
		_, err := Open(t.Context(), newMemSource(spec), Options{})
		if err == nil || !strings.Contains(err.Error(), spec.Name) {
			t.Errorf("Open(%s) = %v", spec.Name, err)
		}
	}
	if _, err := Open(t.Context(), nil, Options{}); err == nil {
		t.Error("Open(nil) succeeded")
	}
}

func TestConcurrentQueries(t *testing.T) {
	t.Parallel()
	src := newMemSource(schema.DetectionsTable)
	var rows []sdk.Row
	for i := range 200 {
		rows = append(rows, detection(fmt.Sprint(i), int64(1700000000+i), "AN0041", "/tmp/s", i))
	}
	src.setRows(schema.Detections, rows...)
	e := openEngine(t, src, Options{MaxConns: 2})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				lo := 1700000000 + (g*25+i)%150
				_, got, err := e.Query(t.Context(), fmt.Sprintf("SELECT COUNT(*) AS n FROM staging_detections WHERE time >= %d", lo))
				if err != nil {
					t.Error(err)
					return
				}
				if want := strconv.Itoa(1700000200 - lo); got[0]["n"] != want {
					t.Errorf("count from %d = %s, want %s", lo, got[0]["n"], want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClosedEngine(t *testing.T) {
	t.Parallel()
	src := newMemSource(metricsTable)
	e, err := Open(t.Context(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := e.Query(t.Context(), "SELECT 1"); !errors.Is(err, errClosed) {
		t.Errorf("Query after Close: %v", err)
	}
}

func TestHelperFunctions(t *testing.T) {
	t.Parallel()
	_, e := fixture(t)
	tests := []struct{ expr, want string }{
		{"split('a, b,,c', ',', 1)", "b"},
		{"split('a,b', ',', 5)", ""},
		{"regex_split('x1y22z', '[0-9]+', 2)", "z"},
		{"regex_match('tar czf /tmp/a.tgz', '(/tmp/[^ ]+)', 1)", "/tmp/a.tgz"},
		{"regex_match('zip', 'tar', 0)", ""},
		{"'7z a -pSecret x.7z' REGEXP '-p[^ ]+'", "1"},
		{"to_base64('staging')", "c3RhZ2luZw=="},
		{"from_base64('c3RhZ2luZw==')", "staging"},
		{"conditional_to_base64('plain')", "plain"},
		{"conditional_to_base64(char(1,2))", "AQI="},
		{"concat_ws('/', 'tmp', 'stage')", "tmp/stage"},
	}
	for _, tc := range tests {
		_, rows, err := e.Query(t.Context(), "SELECT "+tc.expr+" AS v")
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if rows[0]["v"] != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, rows[0]["v"], tc.want)
		}
	}
	if _, _, err := e.Query(t.Context(), "SELECT regex_match('x', '(', 0)"); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1;", []string{"SELECT 1;"}},
		{"SELECT 1; SELECT 2", []string{"SELECT 1;", " SELECT 2"}},
		{"SELECT 'a;b'; SELECT [x;y] FROM t", []string{"SELECT 'a;b';", " SELECT [x;y] FROM t"}},
		{"SELECT 'it''s;'; -- c;\n", []string{"SELECT 'it''s;';"}},
		{"/* ; */ ;; ", nil},
	}
	for _, tc := range tests {
		if got := splitStatements(tc.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitStatements(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatDouble(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{1: "1.0", 0.1: "0.1", 1e20: "1.0e+20", -2.5: "-2.5", 123456789.125: "123456789.125", 1e-7: "1.0e-07"} {
		if got := formatDouble(in); got != want {
			t.Errorf("formatDouble(%v) = %q, want %q", in, got, want)
		}
	}
}
