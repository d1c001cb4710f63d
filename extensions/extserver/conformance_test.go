//go:build !windows

package extserver_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osquery/osquery-go/plugin/table"

	"github.com/stagewatch/stagewatch/extensions/extserver"
	"github.com/stagewatch/stagewatch/extensions/osquerytest"
	"github.com/stagewatch/stagewatch/extensions/tablewrap"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestConformance plays osqueryd against the real stagewatch.ext: exact
// autoload arguments, registration, columns, generate with constraint JSON,
// ping, bad requests, and a clean exit when osqueryd goes away.
func TestConformance(t *testing.T) {
	t.Parallel()
	// Default configuration: the faulty analytic serves its default rows.
	e := startExt(t, "", nil)
	wantRows := int(fault.DefaultConfig.Rows)

	if e.reg.Info.Name != "stagewatch" || e.reg.Info.Version == "" {
		t.Errorf("registered as %q version %q, want stagewatch with a version", e.reg.Info.Name, e.reg.Info.Version)
	}
	tables := e.reg.Registry["table"]
	for _, want := range []sdk.TableSpec{schema.DetectionsTable, schema.AnalyticsTable} {
		routes, ok := tables[want.Name]
		if !ok {
			t.Fatalf("table %s not registered; registered: %v", want.Name, keys(tables))
		}
		checkColumns(t, "registration of "+want.Name, want, routes)
	}
	for name := range tables {
		if !strings.HasPrefix(name, "staging_") {
			t.Errorf("registered %s, which lacks the staging_ prefix", name)
		}
	}

	ctx := ctxTimeout(t, 30*time.Second)
	resp, err := e.client.Columns(ctx, schema.Detections)
	rows, err := osquerytest.Check(resp, err)
	if err != nil {
		t.Fatal(err)
	}
	checkColumns(t, "columns call", schema.DetectionsTable, rows)

	// time >= base+10 AND time < base+20: the faulty plugin honours time
	// constraints, and this manager does not re-filter, so exactly ten rows
	// come back only if the extension pushed the constraints down.
	qc := osquerytest.Context("time", "BIGINT",
		osquerytest.Constraint{Op: 32, Expr: strconv.Itoa(fault.BaseTime + 10)},
		osquerytest.Constraint{Op: 16, Expr: strconv.Itoa(fault.BaseTime + 20)})
	rows, err = osquerytest.Check(e.client.Generate(ctx, schema.Detections, qc))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("generate with time in [base+10, base+20) returned %d rows, want 10 (constraints not pushed down?)", len(rows))
	}
	for i, r := range rows {
		want := strconv.Itoa(fault.BaseTime + 10 + i)
		if r["time"] != want || r["analytic_id"] != fault.AnalyticID || r["detection_id"] != schema.DetectionID ||
			r["host"] != "conformance-host" || r["severity"] == "" || r["uid"] == "" {
			t.Errorf("row %d = %v, want time %s from %s on conformance-host", i, r, want, fault.AnalyticID)
		}
	}

	// No constraint: the whole buffer.
	rows, err = osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`))
	if err != nil || len(rows) != wantRows {
		t.Fatalf("unconstrained generate: %d rows, %v; want %d", len(rows), err, wantRows)
	}

	rows, err = osquerytest.Check(e.client.Generate(ctx, schema.Analytics, `{"constraints":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["analytic_id"] != fault.AnalyticID || rows[0]["state"] != "running" {
		t.Errorf("staging_analytics = %v, want one running %s row", rows, fault.AnalyticID)
	}

	status, err := e.client.Ping(ctx)
	if err != nil || status.Code != 0 {
		t.Fatalf("ping: %v %v", status, err)
	}

	// Bad requests get an error status, never a crash or a hang.
	bad := []struct {
		name, table, context, action string
	}{
		{"malformed context JSON", schema.Detections, `{"constraints":[{"name":"time","list":[{"op":`, "generate"},
		{"context not an object", schema.Detections, `[1,2,3]`, "generate"},
		{"operator of the wrong type", schema.Detections, `{"constraints":[{"name":"time","list":[{"op":true,"expr":"1"}],"affinity":"BIGINT"}]}`, "generate"},
		{"unknown table", "staging_nothing", `{"constraints":[]}`, "generate"},
		{"core table name", "processes", `{"constraints":[]}`, "generate"},
		{"unknown action", schema.Detections, "", "delete"},
	}
	for _, b := range bad {
		req := map[string]string{"action": b.action}
		if b.context != "" {
			req["context"] = b.context
		}
		_, err := osquerytest.Check(e.client.Call(ctx, "table", b.table, req))
		if !errors.Is(err, osquerytest.ErrStatus) {
			t.Errorf("%s: got %v, want an error status", b.name, err)
		}
	}
	// A non-time constraint with a non-numeric expression is the SQL
	// engine's business: it must not break generate.
	rows, err = osquerytest.Check(e.client.Generate(ctx, schema.Detections,
		osquerytest.Context("severity", "TEXT", osquerytest.Constraint{Op: 2, Expr: "high"})))
	if err != nil || len(rows) == 0 {
		t.Errorf("generate with a text constraint: %d rows, %v", len(rows), err)
	}
	if status, err := e.client.Ping(ctx); err != nil || status.Code != 0 || !e.alive() {
		t.Fatalf("extension unhealthy after bad requests: %v %v alive=%v", status, err, e.alive())
	}
	if e.manager.Pings() == 0 {
		// interval is 3 s and we have been running for a while; wait one.
		time.Sleep(3500 * time.Millisecond)
		if e.manager.Pings() == 0 {
			t.Error("the extension never pinged osqueryd")
		}
	}

	// osqueryd goes away: the extension notices within --interval plus a
	// ping, exits 0 as osquery's own extensions do, and closes its plugins.
	gone := time.Now()
	e.manager.Close()
	select {
	case <-e.exited:
	case <-time.After(3*time.Second + 3*time.Second + 2*time.Second):
		t.Fatalf("extension still running %s after osqueryd went away; stderr:\n%s", time.Since(gone), e.stderr.String())
	}
	t.Logf("extension exited %s after osqueryd went away", time.Since(gone).Round(time.Millisecond))
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after osqueryd went away, want 0; stderr:\n%s", code, e.stderr.String())
	}
	if !strings.Contains(e.stderr.String(), "osqueryd has gone away") {
		t.Errorf("stderr does not say why the extension stopped:\n%s", e.stderr.String())
	}
	e.checkNoPlugin()
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkColumns compares osquery column routes with a schema table.
func checkColumns(t *testing.T, what string, want sdk.TableSpec, routes []map[string]string) {
	t.Helper()
	if len(routes) != len(want.Columns) {
		t.Errorf("%s: %d columns, want %d", what, len(routes), len(want.Columns))
		return
	}
	for i, c := range want.Columns {
		r := routes[i]
		if r["id"] != "column" || r["name"] != c.Name || r["type"] != string(tablewrap.ColumnType(c.Type)) {
			t.Errorf("%s: column %d = %v, want %s %s", what, i, r, c.Name, tablewrap.ColumnType(c.Type))
		}
	}
	// The mapping itself: every sdk type has a distinct osquery type.
	if tablewrap.ColumnType(sdk.ColumnBigInt) != table.ColumnTypeBigInt || tablewrap.ColumnType(sdk.ColumnInteger) != table.ColumnTypeInteger {
		t.Errorf("column type mapping broken")
	}
}

// A plugin that hangs yields an error status within the wrapper timeout
// (80 % of --timeout), and the extension keeps serving.
func TestHangingPlugin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml string }{
		{"honours cancel", `{"HangGenerate": true}`},
		{"ignores cancel", `{"HangGenerate": true, "IgnoreCancel": true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startInProcess(t, tc.yaml, 3*time.Second)
			ctx := ctxTimeout(t, 30*time.Second)
			start := time.Now()
			_, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`))
			took := time.Since(start)
			if !errors.Is(err, osquerytest.ErrStatus) {
				t.Fatalf("hanging generate: %v, want an error status", err)
			}
			// --timeout 3 → 2.4 s table timeout; osquery would give up at 3 s.
			if took > 3*time.Second {
				t.Errorf("error status after %s, want it before osquery's 3 s timeout", took)
			}
			t.Logf("hang answered in %s: %v", took.Round(time.Millisecond), err)
			// Still serving: the host table and ping answer.
			if _, err := osquerytest.Check(e.client.Generate(ctx, schema.Analytics, `{"constraints":[]}`)); err != nil {
				t.Errorf("staging_analytics after a hang: %v", err)
			}
			if status, err := e.client.Ping(ctx); err != nil || status.Code != 0 || !e.alive() {
				t.Errorf("extension unhealthy after a hang: %v %v alive=%v", status, err, e.alive())
			}
		})
	}
}

// A plugin that crashes yields an error status; the supervisor restarts it
// and the extension serves the table again.
func TestCrashingPlugin(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, `{"CrashOnGenerate": true}`, 3*time.Second)
	ctx := ctxTimeout(t, 60*time.Second)
	if _, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`)); !errors.Is(err, osquerytest.ErrStatus) {
		t.Fatalf("generate on a crashing plugin: %v, want an error status", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := osquerytest.Check(e.client.Generate(ctx, schema.Analytics, `{"constraints":[]}`))
		if err != nil {
			t.Fatalf("staging_analytics after a crash: %v", err)
		}
		if len(rows) == 1 && rows[0]["state"] == "running" && rows[0]["restarts"] != "0" && rows[0]["restarts"] != "" {
			t.Logf("restarted: %v", rows[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not restarted within 20 s: %v", rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Served again: the restarted plugin answers (and, configured to crash
	// on generate, crashes again) with an error status, not a hang.
	start := time.Now()
	if _, err := osquerytest.Check(e.client.Generate(ctx, schema.Detections, `{"constraints":[]}`)); !errors.Is(err, osquerytest.ErrStatus) {
		t.Fatalf("generate after restart: %v, want the crash reported again", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer after restart took %s", took)
	}
	if !e.alive() {
		t.Fatal("extension died with its plugin")
	}
}

// The arguments osqueryd passes, in both flag forms; anything else is refused
// before touching the socket.
func TestArguments(t *testing.T) {
	t.Parallel()
	t.Run("equals form and bare verbose", func(t *testing.T) {
		t.Parallel()
		e := startExt(t, "", func(sock string) []string {
			return []string{"--socket=" + sock, "--timeout=3", "-interval", "1", "--verbose"}
		})
		if e.reg.Info.Name != "stagewatch" {
			t.Errorf("registered as %q", e.reg.Info.Name)
		}
	})
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--socket", "/nonexistent", "--color"}, "flag provided but not defined"},
		{"no socket", []string{"--timeout", "3"}, "--socket is required"},
		{"bad timeout", []string{"--socket", "/nonexistent", "--timeout", "soon"}, "want seconds"},
		{"stray argument", []string{"--socket", "/nonexistent", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(extBinary, tc.args...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %v, output %q; want status 2 and %q", err, out, tc.want)
			}
		})
	}
}

// A missing or invalid configuration is named in the log and exits non-zero.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	writeFile(t, invalid, "stagewatch:\n  plugin_dirr: /x\n")
	notYAML := filepath.Join(dir, "broken.yaml")
	writeFile(t, notYAML, "stagewatch: [\n")
	cases := []struct {
		name, config, want string
	}{
		{"missing", filepath.Join(dir, "absent.yaml"), "absent.yaml does not exist"},
		{"unknown key", invalid, "plugin_dirr"},
		{"not YAML", notYAML, "broken.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(socketDir(t), "osquery.em")
			m, err := osquerytest.Start(sock)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cmd := exec.Command(extBinary, "--socket", sock, "--timeout", "3", "--interval", "3")
			cmd.Env = append(cmd.Environ(), "STAGEWATCH_CONFIG="+tc.config)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %v, output %q; want status 1 naming %q", err, out, tc.want)
			}
			if _, err := m.WaitRegistration(10 * time.Millisecond); err == nil {
				t.Error("extension registered despite a bad configuration")
			}
		})
	}
}

// An osqueryd that answers pings with a failure status is alive but refuses
// the extension: the extension stops with an error (non-zero exit), as
// osquery's own extensions do.
func TestCoreRefusesExtension(t *testing.T) {
	t.Parallel()
	e := startInProcess(t, "", 200*time.Millisecond)
	e.manager.PingStatus.Store(1)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("extension kept running after osqueryd refused it")
	}
	if !errors.Is(e.runErr, extserver.ErrCoreUnhealthy) {
		t.Errorf("Run returned %v, want ErrCoreUnhealthy", e.runErr)
	}
	e.checkNoPlugin()
}

// osqueryd's shutdown call stops the extension cleanly: it deregisters,
// closes its plugins and exits 0.
func TestShutdownCall(t *testing.T) {
	t.Parallel()
	e := startExt(t, "", nil)
	if err := e.client.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after the shutdown call; log:\n%s", e.stderr.String())
	}
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after the shutdown call; log:\n%s", code, e.stderr.String())
	}
	if !slices.Contains(e.manager.Deregistered(), e.reg.UUID) {
		t.Errorf("did not deregister %d: %v", e.reg.UUID, e.manager.Deregistered())
	}
	e.checkNoPlugin()
}
