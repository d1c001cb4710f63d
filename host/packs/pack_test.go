package packs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A pack in the shape osquery's own packs (incident-response.conf,
// osquery-monitoring.conf) use: comment lines, discovery, per-query
// platforms, string intervals, the old "blacklist" spelling.
const det0014Pack = `// DET0014 data staging, stagewatch tables.
# osquery strips whole-line comments of both styles.
{
  "platform": "linux,darwin,windows",
  "version": "4.0.0",
  "discovery": [
    "SELECT 1 FROM staging_analytics WHERE state = 'running';"
  ],
  "queries": {
    "detections": {
      "query": "SELECT * FROM staging_detections WHERE time > strftime('%s','now') - 86400;",
      "interval": 60,
      "description": "Data staging detections of the last day (T1074).",
      "value": "An archive of freshly gathered files is the step before exfiltration."
    },
    "staging_volume": {
      "query" : "SELECT staging_path, COUNT(*) AS files FROM staging_file_events GROUP BY staging_path;",
      "interval" : "300",
      "snapshot": true,
      "platform": "posix",
      "shard": 50,
      "blacklist": false
    },
    "analytics_health": {
      "query": "SELECT analytic_id, state, events_seen FROM staging_analytics;",
      "interval": 3600,
      "removed": false,
      "platform": "linux"
    }
  }
}
`

func TestParsePack(t *testing.T) {
	t.Parallel()
	p, err := ParsePack("det0014", []byte(det0014Pack))
	if err != nil {
		t.Fatalf("ParsePack: %v", err)
	}
	if p.Platform != "linux,darwin,windows" || p.Version != "4.0.0" || len(p.Discovery) != 1 {
		t.Errorf("pack fields: %+v", p)
	}
	if len(p.Queries) != 3 {
		t.Fatalf("queries = %d", len(p.Queries))
	}
	byName := map[string]Query{}
	for _, q := range p.Queries {
		byName[q.Name] = q
	}
	if q := byName["detections"]; q.Interval != 60 || !q.Removed || q.Snapshot || !q.Denylist ||
		!strings.HasPrefix(q.Description, "Data staging") || q.Value == "" || q.Platform != "" {
		t.Errorf("detections = %+v", q)
	}
	if q := byName["staging_volume"]; q.Interval != 300 || !q.Snapshot || q.Platform != "posix" || q.Shard != 50 || q.Denylist {
		t.Errorf("staging_volume = %+v", q)
	}
	if q := byName["analytics_health"]; q.Removed || q.Platform != "linux" {
		t.Errorf("analytics_health = %+v", q)
	}
	if got := p.ScheduledName(byName["detections"]); got != "pack_det0014_detections" {
		t.Errorf("ScheduledName = %q", got)
	}
	if p.Queries[0].Name != "analytics_health" {
		t.Errorf("queries not sorted: %v", p.Queries[0].Name)
	}
}

func TestParsePackDefaults(t *testing.T) {
	t.Parallel()
	p, err := ParsePack("min", []byte(`{"queries":{"q":{"query":"SELECT 1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	q := p.Queries[0]
	if q.Interval != DefaultInterval || !q.Removed || q.Snapshot || !q.Denylist {
		t.Errorf("defaults = %+v", q)
	}
}

func TestParsePackErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json string
		want       []string // every fragment must appear in the error
	}{
		{"zero interval", `{"queries":{"q1":{"query":"SELECT 1","interval":0}}}`, []string{`pack "p"`, `query "q1"`, "interval", "out of range"}},
		{"interval over a week", `{"queries":{"q1":{"query":"SELECT 1","interval":604801}}}`, []string{`query "q1"`, "604801"}},
		{"fractional interval", `{"queries":{"q1":{"query":"SELECT 1","interval":1.5}}}`, []string{`query "q1"`, "whole number"}},
		{"missing query", `{"queries":{"q2":{"interval":10}}}`, []string{`query "q2"`, "missing or empty"}},
		{"misspelt key", `{"queries":{"q3":{"query":"SELECT 1","intervl":10}}}`, []string{`query "q3"`, "intervl", "unknown key"}},
		{"unknown platform", `{"queries":{"q4":{"query":"SELECT 1","platform":"macos"}}}`, []string{`query "q4"`, `"macos"`}},
		{"bad bool", `{"queries":{"q5":{"query":"SELECT 1","snapshot":"yes"}}}`, []string{`query "q5"`, "snapshot", "true or false"}},
		{"shard over 100", `{"shard":101,"queries":{}}`, []string{`pack "p"`, "shard", "0..100"}},
		{"unknown pack key", `{"querys":{}}`, []string{`pack "p"`, "querys", "unknown key"}},
		{"bad version", `{"version":"five","queries":{}}`, []string{`pack "p"`, "version"}},
		{"not json", `{"queries": {`, []string{`pack "p"`}},
		{"trailing data", `{"queries":{}} {}`, []string{"trailing data"}},
		{"array", `[]`, []string{`pack "p"`}},
		{"query not an object", `{"queries":{"q6":"SELECT 1"}}`, []string{`pack "p"`, "queries"}},
		{"two bad queries both named", `{"queries":{"a":{"interval":5},"b":{"query":"x","interval":-1}}}`, []string{`query "a"`, `query "b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePack("p", []byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			for _, frag := range tc.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q lacks %q", err, frag)
				}
			}
		})
	}
}

func TestLoadPacks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "det0014.conf"), det0014Pack)
	write(filepath.Join(dir, "hunting.conf"), `{"queries":{"archives":{"query":"SELECT 1","interval":120}}}`)
	write(filepath.Join(dir, "README.md"), "not a pack")

	packs, err := LoadPacks([]string{dir})
	if err != nil {
		t.Fatalf("LoadPacks: %v", err)
	}
	if len(packs) != 2 || packs[0].Name != "det0014" || packs[1].Name != "hunting" || packs[1].Path != filepath.Join(dir, "hunting.conf") {
		t.Fatalf("packs = %+v", packs)
	}

	other := t.TempDir()
	write(filepath.Join(other, "hunting.json"), `{"queries":{}}`)
	write(filepath.Join(other, "broken.conf"), `{"queries":{"q":{"query":"SELECT 1","interval":0}}}`)
	_, err = LoadPacks([]string{dir, filepath.Join(other, "hunting.json"), filepath.Join(other, "broken.conf"), filepath.Join(other, "missing.conf")})
	for _, frag := range []string{`pack "hunting": defined by both`, `pack "broken"`, `query "q"`, "missing.conf"} {
		if err == nil || !strings.Contains(err.Error(), frag) {
			t.Errorf("error %v lacks %q", err, frag)
		}
	}
}

func TestPlatformMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		restriction, platform string
		want                  bool
	}{
		{"", "linux", true},
		{"null", "windows", true},
		{"any", "windows", true},
		{"all", "darwin", true},
		{"linux", "linux", true},
		{"ubuntu", "linux", true},
		{"linux", "darwin", false},
		{"posix", "darwin", true},
		{"posix", "linux", true},
		{"posix", "windows", false},
		{"darwin,windows", "windows", true},
		{"darwin,windows", "linux", false},
		{"windows", "linux", false},
	}
	for _, tc := range tests {
		if got := PlatformMatches(tc.restriction, tc.platform); got != tc.want {
			t.Errorf("PlatformMatches(%q, %q) = %v, want %v", tc.restriction, tc.platform, got, tc.want)
		}
	}
}

func TestMachineShard(t *testing.T) {
	t.Parallel()
	// Expected values: first byte of SHA-1(name) * 100 / 255, computed
	// outside Go (python hashlib).
	for name, want := range map[string]int{"localhost": 20, "web-1": 72, "host-c": 4, "host-b": 52} {
		if got := MachineShard(name); got != want {
			t.Errorf("MachineShard(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		want, have string
		ok         bool
	}{
		{"", "1.0.0", true},
		{"4.0.0", "5.12.1", true},
		{"5.12.1", "5.12.1", true},
		{"5.13", "5.12.1", false},
		{"5.2.0", "5.12.1-14-gabc", true},
	}
	for _, tc := range tests {
		if got := versionAtLeast(tc.want, tc.have); got != tc.ok {
			t.Errorf("versionAtLeast(%q, %q) = %v", tc.want, tc.have, got)
		}
	}
}

func TestSplayValue(t *testing.T) {
	t.Parallel()
	for range 200 {
		if v := splayValue(3600, 10); v < 3240 || v > 3960 {
			t.Fatalf("splay of 3600 = %d, outside ±10%%", v)
		}
	}
	if v := splayValue(5, 10); v != 5 {
		t.Errorf("splay of 5 s at 10%% = %d (no room to splay)", v)
	}
	if v := splayValue(600, -1); v != 600 {
		t.Errorf("disabled splay = %d", v)
	}
}
