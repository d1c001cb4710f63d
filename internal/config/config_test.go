package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fullConfig = `
stagewatch:
  plugin_dir: /opt/stagewatch/plugins
  checksums:
    stagewatch-linux: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
  plugins: [stagewatch-linux]
  remote_analytics: [AN0043]
  host_identifier: web-01
  socket: /run/sw/sw.sock
  query_timeout: 3s
  results_log: /var/log/stagewatch/results.log
  results_log_max_size: 100MB
  results_log_max_files: 3
  state_dir: /var/lib/sw
  state:
    events_expiry: 12h
    events_max: 50000
    detections_max: 2000
  packs: [/etc/stagewatch/packs/det0014.conf]
  decorations:
    env: prod
AN0041:
  StagingDirectoryList: [/tmp/, /srv/drop/]
  TimeWindow: 20m
  UserContext: [interactive]
AN0043:
  ObjectWriteThreshold: 50
  InstanceTag:
    isolated: "true"
AN0044:
`

func TestParseFull(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(fullConfig), "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := f.Stagewatch
	if h.PluginDir != "/opt/stagewatch/plugins" || h.HostIdentifier != "web-01" || h.Socket != "/run/sw/sw.sock" ||
		h.QueryTimeout != 3*time.Second || h.ResultsLog != "/var/log/stagewatch/results.log" || h.StateDir != "/var/lib/sw" {
		t.Errorf("host section decoded wrong: %+v", h)
	}
	if st := h.State; st.EventsExpiry != 12*time.Hour || st.EventsMax != 50000 || st.DetectionsMax != 2000 || st.DetectionsExpiry != DefaultDetectionsExpiry {
		t.Errorf("state bounds decoded wrong: %+v", st)
	}
	if h.ResultsLogMaxSize != 100<<20 || h.ResultsLogMaxFiles != 3 {
		t.Errorf("results log cap decoded wrong: %d bytes, %d files", h.ResultsLogMaxSize, h.ResultsLogMaxFiles)
	}
	if got := h.Checksums["stagewatch-linux"]; got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("checksum not normalised to lower case: %q", got)
	}
	if !f.RemoteEnabled("AN0043") || f.RemoteEnabled("AN0044") {
		t.Errorf("remote_analytics: %v", h.RemoteAnalytics)
	}
	if h.Decorations["env"] != "prod" || len(h.Packs) != 1 || len(h.Plugins) != 1 {
		t.Errorf("lists/maps: %+v", h)
	}
	var an41 map[string]any
	if err := json.Unmarshal(f.AnalyticConfig("AN0041"), &an41); err != nil {
		t.Fatal(err)
	}
	if an41["TimeWindow"] != "20m" || len(an41["StagingDirectoryList"].([]any)) != 2 {
		t.Errorf("AN0041 section: %s", f.AnalyticConfig("AN0041"))
	}
	var an43 map[string]any
	if err := json.Unmarshal(f.AnalyticConfig("AN0043"), &an43); err != nil {
		t.Fatal(err)
	}
	if an43["ObjectWriteThreshold"] != float64(50) {
		t.Errorf("AN0043 number not kept as a number: %s", f.AnalyticConfig("AN0043"))
	}
	if f.AnalyticConfig("AN0044") != nil || f.AnalyticConfig("AN0040") != nil {
		t.Errorf("empty or absent section should be nil")
	}
	if got := strings.Join(f.SectionIDs(), ","); got != "AN0041,AN0043" {
		t.Errorf("SectionIDs = %s", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	for _, src := range []string{"", "# only a comment\n", "stagewatch:\n", "stagewatch: {}\n"} {
		f, err := Parse([]byte(src), "d.yaml")
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		h := f.Stagewatch
		if h.Socket != DefaultSocket || h.QueryTimeout != DefaultQueryTimeout || h.StateDir != DefaultStateDir || h.HostIdentifier != host ||
			h.ResultsLogMaxSize != 0 || h.ResultsLogMaxFiles != DefaultResultsLogMaxFiles ||
			h.State != (State{DefaultEventsExpiry, DefaultEventsMax, DefaultDetectionsExpiry, DefaultDetectionsMax}) {
			t.Errorf("%q: defaults not applied: %+v", src, h)
		}
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown top-level", "stagewatch: {}\nAN0099:\n  X: 1\n", []string{`"AN0099"`, "line 2"}},
		{"unknown host key", "stagewatch:\n  socket: /x.sock\n  plugindir: /x\n", []string{`stagewatch.plugindir`, "line 3", "plugin_dir"}},
		{"bad duration", "stagewatch:\n  query_timeout: soon\n", []string{"stagewatch.query_timeout"}},
		{"duration as number", "stagewatch:\n  query_timeout: 10\n", []string{"stagewatch.query_timeout"}},
		{"negative timeout", "stagewatch:\n  query_timeout: -1s\n", []string{"stagewatch.query_timeout"}},
		{"nanosecond timeout", "stagewatch:\n  query_timeout: 1ns\n", []string{"stagewatch.query_timeout", "1ns", "at least 1s"}},
		{"timeout below the floor", "stagewatch:\n  query_timeout: 999ms\n", []string{"stagewatch.query_timeout", "999ms", "at least 1s"}},
		{"bad checksum", "stagewatch:\n  checksums:\n    stagewatch-linux: abc\n", []string{"stagewatch.checksums.stagewatch-linux"}},
		{"checksum by path", "stagewatch:\n  checksums:\n    /x/stagewatch-linux: " + strings.Repeat("a", 64) + "\n", []string{"stagewatch.checksums"}},
		{"plugin path", "stagewatch:\n  plugins: [../evil]\n", []string{"stagewatch.plugins"}},
		{"remote not remote", "stagewatch:\n  remote_analytics: [AN0041]\n", []string{"stagewatch.remote_analytics", "AN0041"}},
		{"size without a number", "stagewatch:\n  results_log_max_size: big\n", []string{"stagewatch.results_log_max_size", "line 2", `"big" is not a size`}},
		{"size with an unknown unit", "stagewatch:\n  results_log_max_size: 100 MO\n", []string{"stagewatch.results_log_max_size", "not a size"}},
		{"fractional size", "stagewatch:\n  results_log_max_size: 1.5GB\n", []string{"stagewatch.results_log_max_size", "not a size"}},
		{"size as a list", "stagewatch:\n  results_log_max_size: [1]\n", []string{"stagewatch.results_log_max_size"}},
		{"negative size", "stagewatch:\n  results_log_max_size: -1MB\n", []string{"stagewatch.results_log_max_size", "negative"}},
		{"size overflowing", "stagewatch:\n  results_log_max_size: 9999999999999TB\n", []string{"stagewatch.results_log_max_size", "too large"}},
		{"size in megabytes meant", "stagewatch:\n  results_log_max_size: 100\n", []string{"stagewatch.results_log_max_size", "too small", "at least 65536"}},
		{"state expiry too short", "stagewatch:\n  state:\n    events_expiry: 10s\n", []string{"stagewatch.state.events_expiry", "at least 1m"}},
		{"state expiry not a duration", "stagewatch:\n  state:\n    detections_expiry: forever\n", []string{"stagewatch.state.detections_expiry"}},
		{"state max too small", "stagewatch:\n  state:\n    events_max: 5\n", []string{"stagewatch.state.events_max", "100 to 10000000"}},
		{"state max too large", "stagewatch:\n  state:\n    detections_max: 99999999999\n", []string{"stagewatch.state.detections_max"}},
		{"unknown state key", "stagewatch:\n  state:\n    event_max: 5000\n", []string{"event_max"}},
		{"no rotated files", "stagewatch:\n  results_log_max_size: 1MB\n  results_log_max_files: 0\n", []string{"stagewatch.results_log_max_files", "line 3", "1 to 1000"}},
		{"negative files", "stagewatch:\n  results_log_max_files: -2\n", []string{"stagewatch.results_log_max_files", "outside 1..1000"}},
		{"too many files", "stagewatch:\n  results_log_max_files: 1001\n", []string{"stagewatch.results_log_max_files", "outside 1..1000"}},
		{"files not a number", "stagewatch:\n  results_log_max_files: five\n", []string{"stagewatch.results_log_max_files", "number of files"}},
		{"relative socket", "stagewatch:\n  socket: sw.sock\n", []string{"stagewatch.socket"}},
		{"plugins not a list", "stagewatch:\n  plugins: {a: b}\n", []string{"stagewatch.plugins"}},
		{"analytic not a mapping", "AN0041: [a, b]\n", []string{"AN0041"}},
		{"top level list", "- a\n- b\n", []string{"top level"}},
		{"duplicate section", "AN0041: {}\nAN0041: {}\n", []string{"AN0041"}},
		{"syntax", "stagewatch:\n  socket: [\n", []string{"bad.yaml"}},
		{"non-string key in analytic", "AN0041:\n  StagingDirectoryList:\n    1: x\n", []string{"AN0041"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.src), "bad.yaml")
			if err == nil {
				t.Fatalf("no error for %q", tc.src)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoadSources covers the order explicit path > $STAGEWATCH_CONFIG >
// DefaultPath. It sets the environment, so it does not run in parallel.
func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "sw.yaml")
	if err := os.WriteFile(good, []byte("stagewatch:\n  host_identifier: from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	f, err := Load(good)
	if err != nil || f.Stagewatch.HostIdentifier != "from-file" || f.Path != good {
		t.Fatalf("explicit file: %v %+v", err, f)
	}
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing explicit file: want an error naming it, got %v", err)
	}

	t.Setenv(EnvVar, good)
	if f, err := Load(""); err != nil || f.Stagewatch.HostIdentifier != "from-file" {
		t.Fatalf("from %s: %v %+v", EnvVar, err, f)
	}
	t.Setenv(EnvVar, missing)
	if _, err := Load(""); err == nil {
		t.Fatalf("missing file named by %s must be an error", EnvVar)
	}

	t.Setenv(EnvVar, "")
	f, err = Load("")
	if _, statErr := os.Stat(DefaultPath); os.IsNotExist(statErr) {
		if err != nil || f.Path != "" || f.Stagewatch.Socket != DefaultSocket {
			t.Fatalf("missing default file must mean defaults: %v %+v", err, f)
		}
	}

	unreadable := filepath.Join(dir, "dir.yaml")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(unreadable); err == nil {
		t.Fatal("a directory as config must be an error")
	}
}

// The floor itself is accepted; an absent query_timeout is the default.
func TestQueryTimeoutFloor(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]time.Duration{
		"stagewatch:\n  query_timeout: 1s\n":  MinQueryTimeout,
		"stagewatch:\n  query_timeout: 30s\n": 30 * time.Second,
		"stagewatch:\n  socket: /x.sock\n":    DefaultQueryTimeout,
	} {
		f, err := Parse([]byte(src), "sw.yaml")
		if err != nil || f.Stagewatch.QueryTimeout != want {
			t.Errorf("%q: %v, %v; want %v", src, f, err, want)
		}
	}
}

// Sizes are bytes or a whole number with a unit, in powers of 1024.
func TestResultsLogMaxSize(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]ByteSize{
		"65536":    64 << 10,
		"64KB":     64 << 10,
		"64kib":    64 << 10,
		"100MB":    100 << 20,
		"100 M":    100 << 20,
		"\"2GiB\"": 2 << 30,
		"1g":       1 << 30,
		"0":        0,
		"1TB":      1 << 40,
	} {
		f, err := Parse([]byte("stagewatch:\n  results_log_max_size: "+text+"\n"), "sw.yaml")
		if err != nil || f.Stagewatch.ResultsLogMaxSize != want {
			t.Errorf("%s: %v, %v; want %d", text, f, err, want)
		}
	}
}
