package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// These tests start the faulty analytic as a real plugin process.

const faultyPackage = "github.com/stagewatch/stagewatch/internal/testplugins/faulty"

// launchFaulty starts a private copy of the faulty plugin, configured with
// config, and kills it when the test ends. The plugin's log is shown if the
// test fails.
func launchFaulty(t testing.TB, config string) *plugin.Plugin {
	t.Helper()
	return launch(t, plugin.LaunchConfig{Path: sdktest.BuildPlugin(t, faultyPackage)}, config)
}

func launch(t testing.TB, cfg plugin.LaunchConfig, config string) *plugin.Plugin {
	t.Helper()
	log := &sdktest.LogBuffer{}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: log})
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second // loaded CI machines, -race
	}
	p, err := plugin.Launch(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Launch: %v\nplugin log:\n%s", err, log)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("plugin log:\n%s", log)
		}
	})
	if config != "" {
		if _, err := p.Analytic().Configure(t.Context(), sdk.ConfigureRequest{Config: json.RawMessage(config), Mode: sdk.ModeQuery}); err != nil {
			t.Fatalf("Configure %s: %v", config, err)
		}
	}
	return p
}

func waitExited(t *testing.T, p *plugin.Plugin) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !p.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d has not exited", p.Pid())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLaunchHandshake(t *testing.T) {
	t.Parallel()
	path := sdktest.BuildPlugin(t, faultyPackage)
	sum, err := plugin.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	p := launch(t, plugin.LaunchConfig{Path: path, SHA256: strings.ToUpper(sum)}, "")
	if p.Protocol() != plugin.ProtocolVersion || p.Pid() <= 0 || p.Path() != path || p.Exited() {
		t.Fatalf("protocol %d pid %d path %s exited %v; want protocol %d, a pid, path %s, running",
			p.Protocol(), p.Pid(), p.Path(), p.Exited(), plugin.ProtocolVersion, path)
	}
	d := p.Analytic().Describe()
	if d.AnalyticID != fault.AnalyticID || d.Platform != fault.Platform || len(d.Tables) != 1 ||
		d.Tables[0].Name != schema.Detections || len(d.MutableElements) != len(fault.Elements) {
		t.Fatalf("Describe = %+v", d)
	}
	p.Kill()
	if !p.Exited() {
		t.Fatalf("Exited is false after Kill")
	}
	if _, err := p.Analytic().Configure(t.Context(), sdk.ConfigureRequest{}); !sdk.IsPluginGone(err) {
		t.Fatalf("call after Kill: %v; want an error IsPluginGone recognises", err)
	}
}

func TestLaunchConfigureOverProcess(t *testing.T) {
	t.Parallel()
	p := launchFaulty(t, "")
	effective, err := p.Analytic().Configure(t.Context(), sdk.ConfigureRequest{Config: json.RawMessage(`{"Rows": 7}`)})
	if err != nil || !strings.Contains(string(effective), `"Rows":7`) {
		t.Fatalf("Configure: %s, %v", effective, err)
	}
	_, err = p.Analytic().Configure(t.Context(), sdk.ConfigureRequest{Config: json.RawMessage(`{"Rowz": 7}`)})
	var configErr *sdk.ConfigError
	if !errors.As(err, &configErr) || configErr.Key != "Rowz" || sdk.IsPluginGone(err) {
		t.Fatalf("Configure with a bad key: %v (%T); want *sdk.ConfigError for Rowz", err, err)
	}
}

func TestLaunchGenerateTenThousandRows(t *testing.T) {
	t.Parallel()
	p := launchFaulty(t, `{"Rows": 12500, "Description": "over the wire"}`)
	rows, batches, err := generateAll(t.Context(), p.Analytic(), []sdk.Constraint{timeConstraint(sdk.OpGreaterThanOrEqual, 2500)})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	checkRows(t, rows, 2500, 10000)
	if rows[0]["reason"] != "over the wire" {
		t.Fatalf("reason %q: the configuration did not reach the rows", rows[0]["reason"])
	}
	if len(batches) < 10000/plugin.DefaultBatchRows {
		t.Fatalf("%d batches for 10000 rows; want batches of at most %d", len(batches), plugin.DefaultBatchRows)
	}
}

func TestLaunchIngestFile(t *testing.T) {
	t.Parallel()
	p := launchFaulty(t, "")
	path := filepath.Join(t.TempDir(), "audit.log")
	data := linesOfSize(5<<20 + 17)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats, err := p.Analytic().Ingest(t.Context(), path, "", f)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if stats.Bytes != uint64(len(data)) || stats.Records != countLines(data) {
		t.Fatalf("stats %+v; want %d bytes, %d records", stats, len(data), countLines(data))
	}
	if h := p.Analytic().Health(t.Context()); h.EventsSeen != stats.Records {
		t.Fatalf("health %+v; want %d events seen", h, stats.Records)
	}
}

func TestLaunchHangingGenerate(t *testing.T) {
	t.Parallel()
	for _, ignoreCancel := range []bool{false, true} {
		t.Run("IgnoreCancel="+strconv.FormatBool(ignoreCancel), func(t *testing.T) {
			t.Parallel()
			p := launchFaulty(t, `{"HangGenerate": true, "IgnoreCancel": `+strconv.FormatBool(ignoreCancel)+`}`)
			const timeout = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			_, _, err := generateAll(ctx, p.Analytic(), nil)
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || sdk.IsPluginGone(err) {
				t.Fatalf("err %v; want context.DeadlineExceeded", err)
			}
			// Generous slack: the test machine may be heavily loaded; a
			// plugin that held the call would take far longer.
			if elapsed > timeout+2*time.Second {
				t.Fatalf("Generate returned after %v; want about %v", elapsed, timeout)
			}
			// A hung query must not take the plugin's other calls with it.
			if h := p.Analytic().Health(t.Context()); h.State == sdk.StateFailed {
				t.Fatalf("health after a hung query: %+v", h)
			}
		})
	}
}

func TestLaunchCrashes(t *testing.T) {
	t.Parallel()
	t.Run("CrashOnGenerate", func(t *testing.T) {
		t.Parallel()
		p := launchFaulty(t, `{"CrashOnGenerate": true}`)
		_, _, err := generateAll(t.Context(), p.Analytic(), nil)
		if !sdk.IsPluginGone(err) || !errors.Is(err, sdk.ErrPluginGone) {
			t.Fatalf("err %v; want one IsPluginGone recognises", err)
		}
		t.Logf("crashed: %v", err)
		waitExited(t, p)
		if h := p.Analytic().Health(t.Context()); h.State != sdk.StateFailed || h.Message == "" {
			t.Fatalf("health of a dead plugin: %+v", h)
		}
	})
	t.Run("CrashAfterStart", func(t *testing.T) {
		t.Parallel()
		p := launchFaulty(t, `{"CrashAfterStart": "200ms"}`)
		if err := p.Analytic().Start(t.Context()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		waitExited(t, p)
		if _, err := p.Analytic().Configure(t.Context(), sdk.ConfigureRequest{}); !sdk.IsPluginGone(err) {
			t.Fatalf("call to a crashed plugin: %v; want one IsPluginGone recognises", err)
		}
	})
}

func TestLaunchRefusals(t *testing.T) {
	t.Parallel()
	path := sdktest.BuildPlugin(t, faultyPackage)
	notAPlugin := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(notAPlugin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  plugin.LaunchConfig
		want []string
		is   error
	}{
		{
			name: "wrong sha256",
			cfg:  plugin.LaunchConfig{Path: path, SHA256: strings.Repeat("ab", 32)},
			want: []string{path, strings.Repeat("ab", 32)},
			is:   plugin.ErrChecksumMismatch,
		},
		{
			name: "sha256 not hex",
			cfg:  plugin.LaunchConfig{Path: path, SHA256: "not-a-digest"},
			want: []string{path, "not-a-digest"},
		},
		{
			name: "missing binary",
			cfg:  plugin.LaunchConfig{Path: filepath.Join(t.TempDir(), "absent")},
			want: []string{"absent"},
		},
		{
			name: "not a plugin",
			cfg:  plugin.LaunchConfig{Path: notAPlugin, StartTimeout: 5 * time.Second},
			want: []string{notAPlugin, "hello"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Logger = hclog.NewNullLogger()
			p, err := plugin.Launch(t.Context(), tt.cfg)
			if err == nil {
				p.Kill()
				t.Fatalf("Launch succeeded; want a refusal")
			}
			t.Logf("refused: %v", err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestPluginRunByHand(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(sdktest.BuildPlugin(t, faultyPackage))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, plugin.Handshake.MagicCookieKey+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("run by hand: %v; want exit status 1", err)
	}
	for _, want := range []string{fault.AnalyticID, fault.Platform, fault.Version, "stagewatch.v1", "stagewatchd", "stagewatch.ext"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("message %q does not mention %q", stderr.String(), want)
		}
	}
}
