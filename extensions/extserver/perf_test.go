//go:build !windows

package extserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	osquerygen "github.com/osquery/osquery-go/gen/osquery"

	"github.com/stagewatch/stagewatch/extensions/extserver"
	"github.com/stagewatch/stagewatch/extensions/osquerytest"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

var oneRowContext = osquerytest.Context("time", "BIGINT", osquerytest.Constraint{Op: 2, Expr: strconv.Itoa(fault.BaseTime + 7)})

// stableQueries is how many queries the goroutine check runs; the race
// detector makes each one several times slower.
func stableQueries() int {
	if raceEnabled || testing.Short() {
		return 1000
	}
	return 10000
}

// The extension's goroutine count does not grow with the queries it serves,
// over one long-lived connection or a fresh connection per query (osqueryd
// does both).
func TestGoroutinesStableAcrossQueries(t *testing.T) {
	e := startInProcess(t, `{"Rows": 1000}`, time.Hour)
	ctx := ctxTimeout(t, 5*time.Minute)
	served := 0
	query := func(c *osquerytest.Client) {
		rows, err := osquerytest.Check(c.Generate(ctx, schema.Detections, oneRowContext))
		if err != nil || len(rows) != 1 {
			t.Fatalf("1-row query after %d served: %d rows, %v\nlog:\n%s", served, len(rows), err, e.stderr.String())
		}
		served++
	}
	run := func(n int) {
		for i := 0; i < n; i++ {
			if i%10 == 0 {
				c := dialRetry(t, e.manager.ExtensionSocket(e.reg.UUID))
				query(c)
				c.Close()
				continue
			}
			query(e.client)
		}
	}
	run(200) // warm up: pools, gRPC streams, first connections
	before := settledGoroutines(0)
	n := stableQueries()
	start := time.Now()
	run(n)
	took := time.Since(start)
	after := settledGoroutines(before)
	t.Logf("%d queries in %s (%s each); goroutines %d before, %d after", n, took.Round(time.Millisecond), (took / time.Duration(n)).Round(time.Microsecond), before, after)
	if after > before+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines grew from %d to %d over %d queries:\n%s", before, after, n, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits for connection goroutines to wind down, up to a
// second, and returns the count (at most target when it gets there).
func settledGoroutines(target int) int {
	deadline := time.Now().Add(time.Second)
	n := runtime.NumGoroutine()
	for target > 0 && n > target && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// BenchmarkGenerate10kRows: osqueryd asking for 10,000 detection rows over
// Thrift (buffered transport), through the wrapper, host and plugin.
// "received" reads the answer without building it (see GenerateCount).
func BenchmarkGenerate10kRows(b *testing.B) {
	benchAnswers(b, startInProcess(b, `{"Rows": 10000}`, time.Hour))
}

// benchAnswers times e's answer to a query for 10,000 detection rows:
// "decoded" has a Go client build the rows (as the osquery-go client does),
// "received" reads the answer to its last byte without building it.
func benchAnswers(b *testing.B, e *env) {
	ctx := context.Background()
	b.Run("decoded", func(b *testing.B) {
		for b.Loop() {
			rows, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`))
			if err != nil || len(rows) != 10000 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("received", func(b *testing.B) {
		for b.Loop() {
			rows, err := e.client.GenerateCount(ctx, schema.Detections, `{"constraints":[]}`)
			if err != nil || rows != 10000 {
				b.Fatalf("%d rows, %v", rows, err)
			}
		}
	})
}

// BenchmarkGenerate10kRowsProcess: the deployed shape. The real
// stagewatch.ext process and its plugin process answer 10,000 detection
// rows ("received" is the extension's cost to osqueryd, whose C++ client
// decodes), and a one-row query.
func BenchmarkGenerate10kRowsProcess(b *testing.B) {
	e := startExt(b, `{"Rows": 10000}`, nil)
	benchAnswers(b, e)
	ctx := context.Background()
	b.Run("1row", func(b *testing.B) {
		for b.Loop() {
			rows, err := e.client.GenerateCount(ctx, schema.Detections, oneRowContext)
			if err != nil || rows != 1 {
				b.Fatalf("%d rows, %v", rows, err)
			}
		}
	})
}

// analyticSource serves one analytic's tables in process, without the
// host's plugin boundary, so a benchmark can time the Thrift leg alone.
type analyticSource struct{ analytic sdk.Analytic }

func (s analyticSource) Tables() []sdk.TableSpec { return s.analytic.Describe().Tables }

func (s analyticSource) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return s.analytic.Generate(ctx, table, constraints, emit)
}

// BenchmarkThrift10kRows: the extension's side alone (wrapper, osquery-go
// server, buffered Thrift, unix socket) for 10,000 detection rows, with the
// faulty analytic running in process instead of behind go-plugin.
func BenchmarkThrift10kRows(b *testing.B) {
	analytic := fault.New()
	if _, err := analytic.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(`{"Rows": 10000}`)}); err != nil {
		b.Fatal(err)
	}
	e := startRunner(b, "", time.Hour, func(ctx context.Context, opts extserver.Options) error {
		return extserver.Serve(ctx, analyticSource{analytic}, opts)
	})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rows, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`))
		if err != nil || len(rows) != 10000 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// BenchmarkGenerate1Row: a query whose time constraint selects one row.
func BenchmarkGenerate1Row(b *testing.B) {
	e := startInProcess(b, `{"Rows": 10000}`, time.Hour)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rows, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, oneRowContext))
		if err != nil || len(rows) != 1 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}

// TestExtensionRSS reports the resident memory of the real stagewatch.ext
// process serving queries, and of its plugin. osqueryd's watchdog limits
// extensions too; the target is < 60 MB for the extension.
func TestExtensionRSS(t *testing.T) {
	t.Parallel()
	e := startExt(t, "", nil)
	ctx := ctxTimeout(t, time.Minute)
	for i := 0; i < 50; i++ {
		if _, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`)); err != nil {
			t.Fatal(err)
		}
	}
	ext := rssKB(t, e.cmd.Process.Pid)
	var plugin int
	for _, pid := range processesOf(e.plugin) {
		plugin += rssKB(t, pid)
	}
	t.Logf("RSS: stagewatch.ext %.1f MB, plugin %.1f MB", float64(ext)/1024, float64(plugin)/1024)
	if ext > 60*1024 {
		t.Errorf("stagewatch.ext RSS %d kB exceeds 60 MB", ext)
	}
}

// TestExtensionRSSWithLinuxPlugin loads the real AN0041 plugin (needs root
// for audit and fanotify) and reports the extension's and plugin's RSS.
func TestExtensionRSSWithLinuxPlugin(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t, "the Linux analytic collects from audit netlink and fanotify")
	plugin := sdktest.BuildPlugin(t, "github.com/stagewatch/stagewatch/plugins/linux")
	e := startExtWith(t, plugin, "", nil)
	ctx := ctxTimeout(t, time.Minute)
	for i := 0; i < 50; i++ {
		for _, table := range []string{schema.Detections, schema.FileEvents, schema.ProcessEvents, schema.Analytics} {
			if _, err := osquerytest.Check(e.client.Generate(ctx, table, `{"constraints":[]}`)); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
	}
	ext := rssKB(t, e.cmd.Process.Pid)
	var pluginKB int
	for _, pid := range processesOf(e.plugin) {
		pluginKB += rssKB(t, pid)
	}
	t.Logf("RSS with the Linux plugin: stagewatch.ext %.1f MB, stagewatch-linux %.1f MB", float64(ext)/1024, float64(pluginKB)/1024)
	if ext > 60*1024 {
		t.Errorf("stagewatch.ext RSS %d kB exceeds 60 MB", ext)
	}
}

func rssKB(t testing.TB, pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range splitLines(string(data)) {
		var kb int
		if n, _ := sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			return kb
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// BenchmarkEncode10kRows: the extension's own share of a 10,000-row answer —
// the Thrift binary encoding osquery-go does for a table's rows — without
// generating the rows or decoding them (osqueryd decodes in C++).
func BenchmarkEncode10kRows(b *testing.B) {
	analytic := fault.New()
	if _, err := analytic.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(`{"Rows": 10000}`)}); err != nil {
		b.Fatal(err)
	}
	var rows []map[string]string
	err := analytic.Generate(context.Background(), schema.Detections, nil, func(batch []sdk.Row) error {
		for _, r := range batch {
			rows = append(rows, r)
		}
		return nil
	})
	if err != nil || len(rows) != 10000 {
		b.Fatalf("%d rows, %v", len(rows), err)
	}
	resp := &osquerygen.ExtensionResponse{Status: &osquerygen.ExtensionStatus{Code: 0, Message: "OK"}, Response: rows}
	buf := thrift.NewTMemoryBufferLen(16 << 20)
	proto := thrift.NewTBinaryProtocolConf(buf, nil)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		buf.Reset()
		if err := resp.Write(ctx, proto); err != nil {
			b.Fatal(err)
		}
		if err := proto.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/(1<<20), "MB/answer")
}

// GenerateCount, which the benchmarks use to time an answer without
// decoding it, walks the same answer a decoding client builds.
func TestGenerateCountAgreesWithDecoding(t *testing.T) {
	e := startInProcess(t, `{"Rows": 1500}`, time.Hour)
	ctx := ctxTimeout(t, time.Minute)
	for _, qc := range []string{`{"constraints":[]}`, oneRowContext} {
		rows, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, qc))
		if err != nil {
			t.Fatal(err)
		}
		n, err := e.client.GenerateCount(ctx, schema.Detections, qc)
		if err != nil || n != len(rows) || n == 0 {
			t.Errorf("%s: counted %d rows (%v), decoded %d", qc, n, err, len(rows))
		}
	}
	if _, err := e.client.GenerateCount(ctx, "staging_nonexistent", `{"constraints":[]}`); !errors.Is(err, osquerytest.ErrStatus) {
		t.Errorf("unknown table: %v, want an error status", err)
	}
	// The connection is still in step after an error answer.
	if n, err := e.client.GenerateCount(ctx, schema.Detections, oneRowContext); err != nil || n != 1 {
		t.Errorf("after an error: %d rows, %v", n, err)
	}
}
