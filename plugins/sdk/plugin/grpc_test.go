package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// These tests run the faulty analytic in process, through the real gRPC
// server and client converters.

func connectFaulty(t *testing.T, config string) sdk.Analytic {
	t.Helper()
	a := sdktest.Connect(t, fault.New())
	if config != "" {
		if _, err := a.Configure(t.Context(), sdk.ConfigureRequest{Config: json.RawMessage(config), Mode: sdk.ModeQuery}); err != nil {
			t.Fatalf("configure %s: %v", config, err)
		}
	}
	return a
}

func TestDescribeSurvivesTheWire(t *testing.T) {
	t.Parallel()
	got := connectFaulty(t, "").Describe()
	want := fault.New().Describe()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Describe over gRPC:\n got %+v\nwant %+v", got, want)
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		config  string
		wantKey string // empty: success
		want    string // in the effective JSON
	}{
		{name: "defaults", config: "", want: `"Rows":100`},
		{name: "null", config: "null", want: `"Rows":100`},
		{name: "rows", config: `{"Rows": 5, "CrashAfterStart": "2s"}`, want: `"Rows":5`},
		{name: "unknown key", config: `{"Rows": 5, "Bogus": true}`, wantKey: "Bogus"},
		{name: "wrong type", config: `{"Rows": "many"}`, wantKey: "Rows"},
		{name: "out of range", config: `{"Rows": -1}`, wantKey: "Rows"},
		{name: "bad duration", config: `{"CrashAfterStart": "soon"}`, wantKey: "CrashAfterStart"},
		{name: "not an object", config: `[1, 2]`, wantKey: fault.AnalyticID},
	}
	a := connectFaulty(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			effective, err := a.Configure(t.Context(), sdk.ConfigureRequest{Config: json.RawMessage(tt.config), Mode: sdk.ModeReplay})
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				if !strings.Contains(string(effective), tt.want) {
					t.Fatalf("effective %s lacks %s", effective, tt.want)
				}
				return
			}
			var configErr *sdk.ConfigError
			if !errors.As(err, &configErr) {
				t.Fatalf("Configure error %v (%T), want *sdk.ConfigError", err, err)
			}
			if configErr.Key != tt.wantKey || configErr.Reason == "" {
				t.Fatalf("ConfigError %+v, want key %s with a reason", configErr, tt.wantKey)
			}
		})
	}
}

func timeConstraint(op sdk.Operator, offset int64) sdk.Constraint {
	return sdk.Constraint{Column: "time", Op: op, Expr: strconv.FormatInt(fault.BaseTime+offset, 10)}
}

// generateAll collects every row and the size of every batch.
func generateAll(ctx context.Context, a sdk.Analytic, constraints []sdk.Constraint) ([]sdk.Row, []int, error) {
	var rows []sdk.Row
	var batches []int
	err := a.Generate(ctx, schema.Detections, constraints, func(batch []sdk.Row) error {
		rows = append(rows, batch...)
		batches = append(batches, len(batch))
		return nil
	})
	return rows, batches, err
}

// checkRows checks rows are complete detections with consecutive times
// from fault.BaseTime+first, count of them.
func checkRows(t *testing.T, rows []sdk.Row, first, count int64) {
	t.Helper()
	if int64(len(rows)) != count {
		t.Fatalf("got %d rows, want %d", len(rows), count)
	}
	columns := schema.DetectionsTable.ColumnNames()
	for i, row := range rows {
		if len(row) != len(columns) {
			t.Fatalf("row %d has %d columns, want %d", i, len(row), len(columns))
		}
		want := strconv.FormatInt(fault.BaseTime+first+int64(i), 10)
		if row["time"] != want || row["analytic_id"] != fault.AnalyticID || row["detection_id"] != schema.DetectionID {
			t.Fatalf("row %d = time %s analytic %s detection %s, want time %s", i, row["time"], row["analytic_id"], row["detection_id"], want)
		}
		var evidence []map[string]any
		if err := json.Unmarshal([]byte(row["evidence"]), &evidence); err != nil || len(evidence) == 0 {
			t.Fatalf("row %d evidence %q: %v", i, row["evidence"], err)
		}
	}
}

func TestGenerateHonoursTimeConstraints(t *testing.T) {
	t.Parallel()
	a := connectFaulty(t, `{"Rows": 3000}`)
	tests := []struct {
		name        string
		constraints []sdk.Constraint
		first, n    int64
	}{
		{"none", nil, 0, 3000},
		{">=", []sdk.Constraint{timeConstraint(sdk.OpGreaterThanOrEqual, 1000)}, 1000, 2000},
		{">", []sdk.Constraint{timeConstraint(sdk.OpGreaterThan, 1000)}, 1001, 1999},
		{"<", []sdk.Constraint{timeConstraint(sdk.OpLessThan, 10)}, 0, 10},
		{"<=", []sdk.Constraint{timeConstraint(sdk.OpLessThanOrEquals, 10)}, 0, 11},
		{"=", []sdk.Constraint{timeConstraint(sdk.OpEquals, 42)}, 42, 1},
		{"between", []sdk.Constraint{timeConstraint(sdk.OpGreaterThan, 100), timeConstraint(sdk.OpLessThanOrEquals, 200)}, 101, 100},
		{"empty", []sdk.Constraint{timeConstraint(sdk.OpGreaterThan, 5000)}, 0, 0},
		{"before all", []sdk.Constraint{{Column: "time", Op: sdk.OpLessThan, Expr: "-9223372036854775808"}}, 0, 0},
		{"other column left to SQL", []sdk.Constraint{{Column: "severity", Op: sdk.OpEquals, Expr: "high"}}, 0, 3000},
		{"non-integer left to SQL", []sdk.Constraint{{Column: "time", Op: sdk.OpEquals, Expr: "soon"}}, 0, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, batches, err := generateAll(t.Context(), a, tt.constraints)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			checkRows(t, rows, tt.first, tt.n)
			for _, size := range batches {
				if size == 0 || size > plugin.DefaultBatchRows {
					t.Fatalf("batch of %d rows; want 1..%d", size, plugin.DefaultBatchRows)
				}
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	t.Run("analytic error keeps message and code", func(t *testing.T) {
		t.Parallel()
		a := connectFaulty(t, `{"FailGenerate": "disk on fire"}`)
		_, _, err := generateAll(t.Context(), a, nil)
		if err == nil || err.Error() != "disk on fire" || status.Code(err) != codes.Unknown {
			t.Fatalf("err %v (code %v), want \"disk on fire\" (Unknown)", err, status.Code(err))
		}
		if sdk.IsPluginGone(err) {
			t.Fatalf("an analytic error must not read as the plugin being gone")
		}
	})
	t.Run("unknown table", func(t *testing.T) {
		t.Parallel()
		a := connectFaulty(t, "")
		err := a.Generate(t.Context(), "staging_nothing", nil, func([]sdk.Row) error { return nil })
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "staging_nothing") {
			t.Fatalf("err %v, want NotFound naming the table", err)
		}
	})
	t.Run("emit error stops generation", func(t *testing.T) {
		t.Parallel()
		a := connectFaulty(t, `{"Rows": 100000}`)
		stop := errors.New("enough")
		batches := 0
		err := a.Generate(t.Context(), schema.Detections, nil, func([]sdk.Row) error {
			batches++
			return stop
		})
		if !errors.Is(err, stop) || batches != 1 {
			t.Fatalf("err %v after %d batches, want %v after 1", err, batches, stop)
		}
	})
	t.Run("row with a column the table lacks", func(t *testing.T) {
		t.Parallel()
		a := sdktest.Connect(t, extraColumnAnalytic{fault.New()})
		_, _, err := generateAll(t.Context(), a, nil)
		if err == nil || !strings.Contains(err.Error(), `"color"`) {
			t.Fatalf("err %v, want one naming the column", err)
		}
	})
	t.Run("hang ends with the caller's deadline", func(t *testing.T) {
		t.Parallel()
		a := connectFaulty(t, `{"HangGenerate": true}`)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, _, err := generateAll(ctx, a, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want context.DeadlineExceeded", err)
		}
	})
}

// extraColumnAnalytic is the faulty analytic with a bug: its rows carry a
// column its table does not declare.
type extraColumnAnalytic struct{ *fault.Analytic }

func (a extraColumnAnalytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return a.Analytic.Generate(ctx, table, constraints, func(rows []sdk.Row) error {
		rows[len(rows)-1]["color"] = "red"
		return emit(rows)
	})
}

func TestIngestSizes(t *testing.T) {
	t.Parallel()
	a := connectFaulty(t, "")
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := linesOfSize(size)
			stats, err := a.Ingest(t.Context(), "test.log", "lines", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			if stats.Bytes != uint64(size) || stats.Records != countLines(data) {
				t.Fatalf("stats %+v, want %d bytes and %d records", stats, size, countLines(data))
			}
		})
	}
	t.Run("analytic error", func(t *testing.T) {
		_, err := a.Ingest(t.Context(), "test.evtx", "evtx", bytes.NewReader(linesOfSize(200<<10)))
		if err == nil || !strings.Contains(err.Error(), "evtx") {
			t.Fatalf("err %v, want the analytic's refusal of the format", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := a.Ingest(ctx, "test.log", "lines", bytes.NewReader(linesOfSize(1<<20)))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

// linesOfSize returns size bytes of numbered log lines, the last one
// possibly cut short.
func linesOfSize(size int) []byte {
	var buf bytes.Buffer
	for i := 0; buf.Len() < size; i++ {
		fmt.Fprintf(&buf, "type=SYSCALL msg=audit(1700000000.%03d:%d): syscall=59 success=yes\n", i%1000, i)
	}
	return buf.Bytes()[:size]
}

func countLines(data []byte) uint64 {
	n := uint64(bytes.Count(data, []byte("\n")))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

func TestHealthAndStart(t *testing.T) {
	t.Parallel()
	a := connectFaulty(t, "")
	if h := a.Health(t.Context()); h.State != sdk.StateConfigured || !h.Started.IsZero() {
		t.Fatalf("before Start: %+v", h)
	}
	before := time.Now().Truncate(time.Second)
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, _, err := generateAll(t.Context(), a, nil); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	h := a.Health(t.Context())
	if h.State != sdk.StateRunning || h.Started.Before(before) || h.Detections != 100 || h.Extra["generate_calls"] != 1 {
		t.Fatalf("after Start and one Generate: %+v", h)
	}
}
