package packcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/extensions/packaging"
	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/packs/fleetspec"
)

const packsDir = "../"

// TestPacks is `make packs-check`: every generated pack file parses as its
// consumer reads it, validates, and every query compiles in the built-in
// engine against the real table schemas.
func TestPacks(t *testing.T) {
	defer goleak.VerifyNone(t)
	var queries []Query
	check := func(paths []string, fn func(string) ([]Query, error)) {
		t.Helper()
		if len(paths) == 0 {
			t.Fatal("no generated pack files found (run go run ./packs/gen)")
		}
		for _, p := range paths {
			qs, err := fn(p)
			if err != nil {
				t.Error(err)
			}
			queries = append(queries, qs...)
		}
	}
	glob := func(pattern string) []string {
		paths, err := filepath.Glob(filepath.Join(packsDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	check(glob("*.conf"), CheckOsqueryPack)
	check(glob("fleet/*.yml"), CheckFleetApply)
	check(glob("fleet/gitops/lib/*.yml"), CheckFleetGitOps)

	ctx := context.Background()
	engine, err := sqlengine.Open(ctx, Tables(), sqlengine.Options{QueryTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	for _, q := range queries {
		if err := engine.Explain(ctx, q.SQL); err != nil {
			t.Errorf("%s: %s: %v\n  %s", q.File, q.Name, err, q.SQL)
		}
		// Explain compiles; running catches what only execution finds
		// (functions with bad arguments, type errors in expressions).
		if _, _, err := engine.Query(ctx, q.SQL); err != nil {
			t.Errorf("%s: %s: running against empty tables: %v", q.File, q.Name, err)
		}
	}
	if len(queries) < 10 {
		t.Errorf("only %d queries checked; expected the DET0014 pack's queries and policies in every format", len(queries))
	}
}

// The checks must catch what they claim to: a query on a missing column or
// table fails Explain.
func TestExplainCatchesBadSQL(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	engine, err := sqlengine.Open(ctx, Tables(), sqlengine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	for _, sql := range []string{
		"SELECT no_such_column FROM staging_detections;",
		"SELECT * FROM staging_nothing;",
		"SELEC 1;",
	} {
		if err := engine.Explain(ctx, sql); err == nil {
			t.Errorf("Explain(%q) succeeded", sql)
		}
	}
	if err := engine.Explain(ctx, "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM staging_detections WHERE time > (strftime('%s','now') - 86400));"); err != nil {
		t.Errorf("the 24 h policy shape does not compile: %v", err)
	}
}

func TestCheckersRejectBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, file, content, want string
		fn                        func(string) ([]Query, error)
	}{
		{"pack zero interval", "a.conf", `{"queries":{"q":{"query":"SELECT 1","interval":0,"description":"d","value":"v","snapshot":true,"removed":false}}}`, "interval 0", CheckOsqueryPack},
		{"pack bad platform", "b.conf", `{"platform":"macos","queries":{"q":{"query":"SELECT 1","interval":60,"description":"d","value":"v","snapshot":true,"removed":false}}}`, `"macos" is not an osquery platform`, CheckOsqueryPack},
		{"pack unknown key", "c.conf", `{"queries":{"q":{"query":"SELECT 1","interval":60,"description":"d","value":"v","snapshot":true,"removed":false,"color":"red"}}}`, "unknown field", CheckOsqueryPack},
		{"fleet bad logging", "d.yml", "apiVersion: v1\nkind: report\nspec:\n  name: q\n  description: d\n  query: SELECT 1\n  interval: 60\n  platform: linux\n  logging: stream\n  observer_can_run: true\n  automations_enabled: true\n", "logging", CheckFleetApply},
		{"fleet too slow", "e.yml", "apiVersion: v1\nkind: report\nspec:\n  name: q\n  description: d\n  query: SELECT 1\n  interval: 90000\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n", "interval 90000", CheckFleetApply},
		{"fleet bad platform", "f.yml", "apiVersion: v1\nkind: policy\nspec:\n  name: p\n  description: d\n  resolution: r\n  query: SELECT 1\n  platform: posix\n  critical: false\n", `platform "posix"`, CheckFleetApply},
		{"fleet deprecated kind", "h.yml", "apiVersion: v1\nkind: query\nspec:\n  name: q\n  description: d\n  query: SELECT 1\n  interval: 60\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n", `kind "query" is deprecated`, CheckFleetApply},
		{"fleet comment before first separator", "i.yml", "# generated\n---\napiVersion: v1\nkind: policy\nspec:\n  name: p\n  description: d\n  resolution: r\n  query: SELECT 1\n  platform: linux\n  critical: false\n", `Missing required fields ("spec", "kind")`, CheckFleetApply},
		{"fleet mixed kinds", "j.yml", "apiVersion: v1\nkind: policy\nspec:\n  name: p\n  description: d\n  resolution: r\n  query: SELECT 1\n  platform: linux\n  critical: false\n---\napiVersion: v1\nkind: report\nspec:\n  name: q\n  description: d\n  query: SELECT 1\n  interval: 60\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n", "want only report or only policy", CheckFleetApply},
		{"gitops unknown key", "g.reports.yml", "- name: q\n  query: SELECT 1\n  interval: 60\n  logging: snapshot\n  team_id: 3\n", "team_id", CheckFleetGitOps},
		{"gitops old file name", "g.queries.yml", "- name: q\n  query: SELECT 1\n  interval: 60\n  logging: snapshot\n", "want a .reports.yml or .policies.yml file", CheckFleetGitOps},
		{"gitops unescaped $", "k.reports.yml", "- name: q\n  description: d\n  query: SELECT * FROM file WHERE path LIKE '$HOME/%';\n  interval: 60\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n", "would replace $HOME", CheckFleetGitOps},
		{"gitops unescaped ${} in a policy", "l.policies.yml", "- name: p\n  description: d\n  resolution: r\n  query: SELECT 1 WHERE '${USER}' != '';\n  platform: linux\n  critical: false\n", "would replace $USER", CheckFleetGitOps},
	}
	for _, tc := range cases {
		_, err := tc.fn(write(tc.file, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// The agent_options snippet the package ships is a fleetctl apply config
// document Fleet accepts, and its text is the same with or without fleetctl
// gitops' environment expansion (admins paste its agent_options into GitOps
// files too).
func TestFleetAgentOptions(t *testing.T) {
	t.Parallel()
	text := packaging.FleetAgentOptions()
	f, err := fleetspec.DecodeApply([]byte(text))
	if err != nil {
		t.Fatalf("Fleet would refuse the agent options snippet: %v\n%s", err, text)
	}
	if len(f.Kinds) != 1 || len(f.AgentOptions) != 1 {
		t.Fatalf("snippet holds %v, want one config document", f.Kinds)
	}
	if expanded, err := fleetspec.ExpandGitOps(text); err != nil || expanded != text {
		t.Errorf("snippet changes under fleetctl gitops expansion: %v", err)
	}
}
