package tablewrap

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/plugin/table"
	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// analyticSource serves one real analytic in process.
type analyticSource struct{ analytic sdk.Analytic }

func (s analyticSource) Tables() []sdk.TableSpec { return s.analytic.Describe().Tables }

func (s analyticSource) Generate(ctx context.Context, table string, c []sdk.Constraint, emit func([]sdk.Row) error) error {
	return s.analytic.Generate(ctx, table, c, emit)
}

func faulty(t *testing.T, config string) analyticSource {
	t.Helper()
	a := fault.New()
	if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(config)}); err != nil {
		t.Fatal(err)
	}
	return analyticSource{a}
}

// panicSource panics in Generate: what a bug in a table path looks like.
type panicSource struct{}

func (panicSource) Tables() []sdk.TableSpec { return []sdk.TableSpec{schema.DetectionsTable} }

func (panicSource) Generate(context.Context, string, []sdk.Constraint, func([]sdk.Row) error) error {
	var m map[string]int
	m["boom"]++ // nil map write: a real runtime panic
	return nil
}

func generate(tbl *Table, queryContext string) osquery.ExtensionResponse {
	return tbl.Call(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": queryContext})
}

func TestConstraintsTranslation(t *testing.T) {
	t.Parallel()
	qc := table.QueryContext{Constraints: map[string]table.ConstraintList{
		"time": {Affinity: table.ColumnTypeBigInt, Constraints: []table.Constraint{
			{Operator: table.OperatorGreaterThan, Expression: "10"},
			{Operator: table.OperatorLessThanOrEquals, Expression: "20"},
		}},
		"path":     {Constraints: []table.Constraint{{Operator: table.OperatorLike, Expression: "/tmp/%"}}},
		"severity": {Constraints: []table.Constraint{{Operator: table.OperatorUnique, Expression: ""}}},
	}}
	got := Constraints(qc)
	want := []sdk.Constraint{
		{Column: "path", Op: sdk.OpLike, Expr: "/tmp/%"},
		{Column: "time", Op: sdk.OpGreaterThan, Expr: "10"},
		{Column: "time", Op: sdk.OpLessThanOrEquals, Expr: "20"},
	}
	if len(got) != len(want) {
		t.Fatalf("Constraints = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("constraint %d = %v, want %v", i, got[i], want[i])
		}
	}
	// Every sdk operator has the osquery code the SDK documents.
	for osq, op := range pushable {
		if int(osq) != int(op) {
			t.Errorf("operator %d maps to %d", osq, op)
		}
	}
}

func TestGeneratePushesTimeDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := New(faulty(t, `{"Rows": 1000}`), Options{})
	tbl := w.Plugins()[0]
	qc := `{"constraints":[{"name":"time","list":[{"op":32,"expr":"` + strconv.Itoa(fault.BaseTime+990) + `"}],"affinity":"BIGINT"}]}`
	resp := generate(tbl, qc)
	if resp.Status.Code != 0 || len(resp.Response) != 10 {
		t.Fatalf("status %v, %d rows; want 10 rows", resp.Status, len(resp.Response))
	}
	if s := waitIdle(w); s.Calls != 1 || s.Errors != 0 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPanicBecomesErrorStatus(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := New(panicSource{}, Options{})
	resp := generate(w.Plugins()[0], `{"constraints":[]}`)
	if resp.Status.Code == 0 || !strings.Contains(resp.Status.Message, "internal error") {
		t.Fatalf("status %v, want an internal error status", resp.Status)
	}
	if s := waitIdle(w); s.Panics != 1 || s.Errors != 1 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

// countingSource records how many Generate calls run at once.
type countingSource struct {
	analyticSource
	mu        sync.Mutex
	now, peak int
}

func (c *countingSource) Generate(ctx context.Context, table string, cons []sdk.Constraint, emit func([]sdk.Row) error) error {
	c.mu.Lock()
	c.now++
	c.peak = max(c.peak, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	return c.analyticSource.Generate(ctx, table, cons, emit)
}

func TestTimeoutAndConcurrencyLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	src := &countingSource{analyticSource: faulty(t, `{"HangGenerate": true}`)}
	w := New(src, Options{Timeout: 200 * time.Millisecond, MaxConcurrent: 2})
	tbl := w.Plugins()[0]
	var wg sync.WaitGroup
	results := make([]osquery.ExtensionResponse, 5)
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = generate(tbl, `{"constraints":[]}`)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, r := range results {
		if r.Status.Code == 0 {
			t.Errorf("call %d succeeded against a hanging plugin", i)
		}
	}
	// Two run into the timeout; the three others wait for a slot, which
	// frees only when the first two return, and time out waiting.
	if took > 2*time.Second {
		t.Errorf("5 calls took %s with a 200ms timeout", took)
	}
	s := w.Stats()
	if s.Calls != 5 || s.Errors != 5 || s.Timeouts+s.Busy != 5 {
		t.Errorf("stats %+v: want 5 errors, each a timeout or busy", s)
	}
	src.mu.Lock()
	peak := src.peak
	src.mu.Unlock()
	if peak > 2 {
		t.Errorf("%d generate calls ran at once, limit 2", peak)
	}
	// The hanging plugin honours cancellation, so nothing stays in flight.
	if s := waitIdle(w); s.InFlight != 0 || s.Abandoned != 0 {
		t.Errorf("after the plugin returned: %+v", s)
	}
}

func TestBadRequests(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := New(faulty(t, `{}`), Options{})
	tbl := w.Plugins()[0]
	for _, qc := range []string{`{"constraints":[`, `"x"`, `{"constraints":[{"name":"time","list":[{"op":"x","expr":"1"}]}]}`} {
		if resp := generate(tbl, qc); resp.Status.Code == 0 {
			t.Errorf("context %q accepted", qc)
		}
	}
	resp := tbl.Call(context.Background(), osquery.ExtensionPluginRequest{"action": "columns"})
	if resp.Status.Code != 0 || len(resp.Response) != len(schema.DetectionsTable.Columns) {
		t.Errorf("columns: %v", resp)
	}
}

func TestMaxRows(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := New(faulty(t, `{"Rows": 5000}`), Options{MaxRows: 1000})
	resp := generate(w.Plugins()[0], `{"constraints":[]}`)
	if resp.Status.Code == 0 || !strings.Contains(resp.Status.Message, "more than 1000 rows") {
		t.Errorf("status %v, want the row cap named", resp.Status)
	}
}

func TestColumnTypesAndPrefix(t *testing.T) {
	t.Parallel()
	cases := map[sdk.ColumnType]table.ColumnType{
		sdk.ColumnText: table.ColumnTypeText, sdk.ColumnInteger: table.ColumnTypeInteger,
		sdk.ColumnBigInt: table.ColumnTypeBigInt, sdk.ColumnDouble: table.ColumnTypeDouble,
	}
	for in, want := range cases {
		if got := ColumnType(in); got != want {
			t.Errorf("ColumnType(%v) = %s, want %s", in, got, want)
		}
	}
	src := SchemaTables{schema.DetectionsTable, {Name: "processes", Columns: []sdk.ColumnSpec{{Name: "pid", Type: sdk.ColumnBigInt}}}}
	plugins := New(src, Options{}).Plugins()
	if len(plugins) != 1 || plugins[0].Name() != schema.Detections {
		t.Errorf("registered %d plugins; a table without the staging_ prefix must be skipped", len(plugins))
	}
}

// SchemaTables lists tables without rows (only Tables is used here).
type SchemaTables []sdk.TableSpec

func (s SchemaTables) Tables() []sdk.TableSpec { return s }

func (s SchemaTables) Generate(context.Context, string, []sdk.Constraint, func([]sdk.Row) error) error {
	return nil
}

// waitIdle waits (up to 2 s) for calls to release their slots: a call's
// goroutine gives its slot back just after its answer is delivered.
func waitIdle(w *Wrapper) Stats {
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := w.Stats()
		if (s.InFlight == 0 && s.Abandoned == 0) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}
