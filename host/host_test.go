package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/host/supervisor"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

const faultyPkg = "github.com/stagewatch/stagewatch/internal/testplugins/faulty"

// faultyName is the file name the faulty plugin is installed under, as a
// packager would install a plugin.
const faultyName = "stagewatch-faulty"

func TestMain(m *testing.M) {
	code := m.Run()
	sdktest.RemoveBuilds()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutine leak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// installFaulty puts a fresh build of the faulty plugin into a plugin
// directory and returns the directory.
func installFaulty(t *testing.T) string {
	t.Helper()
	built := sdktest.BuildPlugin(t, faultyPkg)
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(built, filepath.Join(dir, faultyName)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// faultyConfig is a configuration loading only the faulty plugin with the
// given AN9999 section. The section cannot come from YAML (AN9999 is not a
// DET0014 analytic), so it is set directly.
func faultyConfig(t *testing.T, section string) *config.File {
	t.Helper()
	cfg := config.Default()
	cfg.Stagewatch.PluginDir = installFaulty(t)
	cfg.Stagewatch.Plugins = []string{faultyName}
	cfg.Stagewatch.HostIdentifier = "test-host"
	if section != "" {
		cfg.Analytics["AN9999"] = json.RawMessage(section)
	}
	return cfg
}

func testLogger(t *testing.T) (hclog.Logger, *sdktest.LogBuffer) {
	buf := &sdktest.LogBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "stagewatchd", Output: buf, Level: hclog.Info}), buf
}

func collect(ctx context.Context, h *host.Host, table string, constraints []sdk.Constraint) ([]sdk.Row, error) {
	var rows []sdk.Row
	err := h.Generate(ctx, table, constraints, func(batch []sdk.Row) error {
		rows = append(rows, batch...)
		return nil
	})
	return rows, err
}

func TestHandshakeConfigureGenerate(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, `{"Rows": 2500}`)
	logger, _ := testLogger(t)
	ctx := context.Background()
	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeLive, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	infos := h.Analytics()
	if len(infos) != 1 || infos[0].Descriptor.AnalyticID != "AN9999" || infos[0].State != "running" || infos[0].Pid == 0 {
		t.Fatalf("Analytics() = %+v", infos)
	}
	pid := infos[0].Pid

	var names []string
	for _, tbl := range h.Tables() {
		names = append(names, tbl.Name)
	}
	if got := strings.Join(names, ","); got != "staging_analytics,staging_detections" {
		t.Errorf("Tables() = %s", got)
	}

	rows, err := collect(ctx, h, schema.Detections, nil)
	if err != nil || len(rows) != 2500 {
		t.Fatalf("generate: %d rows, %v", len(rows), err)
	}
	if rows[0]["host"] != "test-host" {
		t.Errorf("host_identifier not passed to Configure: host=%q", rows[0]["host"])
	}
	// Constraints reach the plugin: it narrows the rows itself.
	rows, err = collect(ctx, h, schema.Detections, []sdk.Constraint{
		{Column: "time", Op: sdk.OpGreaterThanOrEqual, Expr: "1700000010"},
		{Column: "time", Op: sdk.OpLessThan, Expr: "1700000020"},
	})
	if err != nil || len(rows) != 10 {
		t.Fatalf("constrained generate: %d rows, %v", len(rows), err)
	}
	if _, err := collect(ctx, h, "staging_nonesuch", nil); err == nil || !strings.Contains(err.Error(), "staging_nonesuch") {
		t.Errorf("unknown table: %v", err)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("plugin pid %d still exists after Close", pid)
	}
}

func TestAnalyticsTable(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, `{"Rows": 7}`)
	ctx := context.Background()
	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeQuery})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := collect(ctx, h, schema.Detections, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := collect(ctx, h, schema.Analytics, nil)
	if err != nil || len(rows) != 1 {
		t.Fatalf("staging_analytics: %v %v", rows, err)
	}
	row := rows[0]
	for _, col := range schema.AnalyticsTable.ColumnNames() {
		if _, ok := row[col]; !ok {
			t.Errorf("column %s missing", col)
		}
	}
	wantSum, err := plugin.FileSHA256(filepath.Join(cfg.Stagewatch.PluginDir, faultyName))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"analytic_id":  "AN9999",
		"detection_id": "DET0014",
		"version":      "1.0.0",
		"plugin":       filepath.Join(cfg.Stagewatch.PluginDir, faultyName),
		"sha256":       wantSum,
		"state":        "running",
		"mode":         "query",
		"restarts":     "0",
		"detections":   "7",
	}
	for col, v := range want {
		if row[col] != v {
			t.Errorf("%s = %q, want %q", col, row[col], v)
		}
	}
	var effective map[string]any
	if err := json.Unmarshal([]byte(row["config"]), &effective); err != nil || effective["Rows"] != float64(7) {
		t.Errorf("config column %q: %v", row["config"], err)
	}
	var counters map[string]uint64
	if err := json.Unmarshal([]byte(row["counters"]), &counters); err != nil || counters["generate_calls"] != 1 {
		t.Errorf("counters column %q: %v", row["counters"], err)
	}
	if started, _ := strconv.ParseInt(row["started"], 10, 64); time.Since(time.Unix(started, 0)) > time.Minute {
		t.Errorf("started = %s", row["started"])
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*config.File)
		want   []string
	}{
		{"configure error names the key", func(c *config.File) {
			c.Analytics["AN9999"] = json.RawMessage(`{"Rows": "many"}`)
		}, []string{"AN9999.Rows: want an integer"}},
		{"unknown element", func(c *config.File) {
			c.Analytics["AN9999"] = json.RawMessage(`{"Rowz": 1}`)
		}, []string{"AN9999.Rowz", "unknown key"}},
		{"checksum mismatch refused", func(c *config.File) {
			c.Stagewatch.Checksums = map[string]string{faultyName: strings.Repeat("ab", 32)}
		}, []string{faultyName, "refused", "checksum", strings.Repeat("ab", 32)}},
		{"missing plugin", func(c *config.File) {
			c.Stagewatch.Plugins = []string{"stagewatch-nonesuch"}
		}, []string{"stagewatch-nonesuch", "not found"}},
		{"replay of an analytic not there", nil, []string{"AN0042"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := faultyConfig(t, "")
			opts := host.Options{Config: cfg, Mode: sdk.ModeLive}
			if tc.mutate != nil {
				tc.mutate(cfg)
			} else {
				opts.Only, opts.Mode = "AN0042", sdk.ModeReplay
			}
			h, err := host.New(context.Background(), opts)
			if err == nil {
				h.Close()
				t.Fatal("host.New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var configErr *sdk.ConfigError
			if strings.HasPrefix(tc.name, "configure") && !errors.As(err, &configErr) {
				t.Errorf("configure failure is %T, want *sdk.ConfigError", err)
			}
		})
	}
}

// TestCrashRestartBackoff runs a plugin that exits shortly after every
// start and checks the restarts, their logged delays (doubling, capped) and
// that each restart is a new, configured and started process.
func TestCrashRestartBackoff(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, `{"CrashAfterStart": "200ms", "Rows": 3}`)
	logger, logs := testLogger(t)
	backoff := supervisor.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, ResetAfter: time.Minute}
	h, err := host.New(context.Background(), host.Options{Config: cfg, Logger: logger, Backoff: backoff})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	pids := map[int]bool{h.Analytics()[0].Pid: true}
	deadline := time.Now().Add(20 * time.Second)
	for h.Analytics()[0].Restarts < 4 && time.Now().Before(deadline) {
		if info := h.Analytics()[0]; info.Pid != 0 {
			pids[info.Pid] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.Analytics()[0].Restarts; n < 4 {
		t.Fatalf("restarts = %d after 20s\n%s", n, logs)
	}
	if len(pids) < 3 {
		t.Errorf("saw pids %v: restarts should be new processes", pids)
	}
	text := logs.String()
	for i, delay := range []string{"100ms", "200ms", "400ms", "400ms"} {
		want := regexp.MustCompile(`plugin stagewatch-faulty \(AN9999\) exited: [^;]+; restart ` + strconv.Itoa(i+1) + ` in ` + delay)
		if !want.MatchString(text) {
			t.Errorf("log lacks restart %d in %s:\n%s", i+1, delay, text)
		}
	}
	if !strings.Contains(text, "restarted, pid") {
		t.Errorf("log does not say the plugin came back:\n%s", text)
	}
}

// TestCrashInGenerate checks that a plugin dying mid-query fails that query
// with an error naming it, is restarted, and serves again.
func TestCrashInGenerate(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, `{"CrashOnGenerate": true}`)
	logger, logs := testLogger(t)
	backoff := supervisor.Backoff{Initial: 50 * time.Millisecond}
	h, err := host.New(context.Background(), host.Options{Config: cfg, Logger: logger, Backoff: backoff})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	firstPid := h.Analytics()[0].Pid

	_, err = collect(context.Background(), h, schema.Detections, nil)
	if err == nil || !strings.Contains(err.Error(), "stagewatch-faulty (AN9999)") {
		t.Fatalf("crash in generate: err = %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		info := h.Analytics()[0]
		if info.Restarts >= 1 && info.State == "running" && info.Pid != firstPid {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	info := h.Analytics()[0]
	if info.Restarts < 1 || info.State != "running" || info.Pid == firstPid {
		t.Fatalf("not restarted: %+v\n%s", info, logs)
	}
	// The restarted plugin answers (staging_analytics calls its Health).
	rows, err := collect(context.Background(), h, schema.Analytics, nil)
	if err != nil || len(rows) != 1 || rows[0]["state"] != "running" || rows[0]["restarts"] == "0" {
		t.Fatalf("after restart: %v %v", rows, err)
	}
}

// TestHungGenerate checks the query bound: a plugin that never answers
// costs the query an error within query_timeout (plus a second's grace),
// and the host answers the next query.
func TestHungGenerate(t *testing.T) {
	t.Parallel()
	for _, section := range []string{`{"HangGenerate": true}`, `{"HangGenerate": true, "IgnoreCancel": true}`} {
		t.Run(section, func(t *testing.T) {
			t.Parallel()
			cfg := faultyConfig(t, section)
			cfg.Stagewatch.QueryTimeout = 500 * time.Millisecond
			h, err := host.New(context.Background(), host.Options{Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			for i := range 2 {
				start := time.Now()
				_, err := collect(context.Background(), h, schema.Detections, nil)
				took := time.Since(start)
				if err == nil || !strings.Contains(err.Error(), "stagewatch-faulty (AN9999)") || !strings.Contains(err.Error(), "500ms") {
					t.Fatalf("query %d: err = %v", i, err)
				}
				if took > 2*time.Second {
					t.Errorf("query %d took %s, bound is 500ms + 1s grace", i, took)
				}
			}
			rows, err := collect(context.Background(), h, schema.Analytics, nil)
			if err != nil || len(rows) != 1 || rows[0]["state"] != "running" {
				t.Fatalf("host not answering after hung queries: %v %v", rows, err)
			}
		})
	}
}

// TestCallerCancel checks that Generate returns the caller's error promptly
// when the caller gives up before the query timeout.
func TestCallerCancel(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, `{"HangGenerate": true}`)
	h, err := host.New(context.Background(), host.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = collect(ctx, h, schema.Detections, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestReplayIngest(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, "")
	h, err := host.New(context.Background(), host.Options{Config: cfg, Mode: sdk.ModeReplay, Only: "AN9999"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a, err := h.Analytic("AN9999")
	if err != nil {
		t.Fatal(err)
	}
	stats, err := a.Ingest(context.Background(), "x.log", "", strings.NewReader("a\nb\nc\n"))
	if err != nil || stats.Records != 3 || stats.Bytes != 6 {
		t.Fatalf("ingest: %+v %v", stats, err)
	}
	if _, err := h.Analytic("AN0041"); err == nil {
		t.Error("Analytic(AN0041) should fail: not loaded")
	}
}
