package packdef

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/packs/fleetspec"
)

// The generated packs are checked in; regenerating them in memory must give
// the same bytes, and no generated-looking file may be left over.
func TestGeneratedFilesInSync(t *testing.T) {
	t.Parallel()
	const dir = ".."
	want, err := Expected(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v (run go run ./packs/gen)", name, err)
			continue
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s is out of date with packs/source (run go run ./packs/gen)", name)
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		generated := strings.HasSuffix(rel, ".conf") || strings.HasPrefix(rel, "fleet/")
		if generated && want[rel] == nil {
			t.Errorf("%s is not produced by any pack source: remove it or add its source", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	base := `name: p
description: d
platform: linux
queries:
  - name: q
    description: d
    value: v
    query: SELECT 1;
    interval: 60
    logging: snapshot
`
	cases := []struct {
		name, yaml, wantErr string
	}{
		{"zero interval", strings.Replace(base, "interval: 60", "interval: 0", 1), "interval: 0 not in 1..86400"},
		{"interval over a day", strings.Replace(base, "interval: 60", "interval: 86401", 1), "interval: 86401"},
		{"bad platform", strings.Replace(base, "platform: linux", "platform: linux,macos", 1), `"macos" is not an osquery platform`},
		{"bad logging", strings.Replace(base, "logging: snapshot", "logging: event", 1), `logging: "event"`},
		{"bad name", strings.Replace(base, "- name: q", "- name: Bad Name", 1), "name: want lower-case"},
		{"duplicate name", base + `  - name: q
    description: d
    value: v
    query: SELECT 1;
    interval: 60
    logging: snapshot
`, "duplicate"},
		{"missing value", strings.Replace(base, "value: v", "value: ''", 1), "value: empty"},
		{"unknown key", strings.Replace(base, "interval: 60", "interval: 60\n    snapshot: true", 1), "field snapshot not found"},
		{"policy without resolution", base + `policies:
  - name: p1
    description: d
    query: SELECT 1;
`, "description and resolution are both required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("valid base rejected: %v", err)
	}
}

func TestFleetPlatform(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"linux":                 "linux",
		"windows,linux,darwin":  "darwin,linux,windows",
		"posix":                 "darwin,linux",
		"all":                   "",
		"linux, posix , darwin": "darwin,linux",
	}
	for in, want := range cases {
		got, err := FleetPlatform(in)
		if err != nil || got != want {
			t.Errorf("FleetPlatform(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := FleetPlatform("freebsd"); err == nil {
		t.Error("freebsd has no Fleet equivalent but was accepted")
	}
}

// A $ in a query reaches Fleet unchanged both ways: fleetctl apply reads the
// text as is, and the GitOps file carries the escapes fleetctl gitops
// removes. Both files decode strictly as Fleet decodes them.
func TestRenderForFleet(t *testing.T) {
	t.Parallel()
	const query = `SELECT path FROM file WHERE path LIKE '$HOME/%' AND json_extract(x, '$.a') = '${USER}';`
	src, err := Parse([]byte(`name: p
description: d
platform: linux
queries:
  - name: q
    description: costs $5 to read
    value: v
    query: "` + query + `"
    interval: 60
    logging: snapshot
policies:
  - name: pol
    description: d
    resolution: echo $PATH
    query: "` + query + `"
`))
	if err != nil {
		t.Fatal(err)
	}
	files, err := src.Render()
	if err != nil {
		t.Fatal(err)
	}
	gitops := string(files["fleet/gitops/lib/p.reports.yml"])
	if !strings.Contains(gitops, `'\$HOME/%'`) || !strings.Contains(gitops, `'$.a'`) || !strings.Contains(gitops, `'\${USER}'`) {
		t.Errorf("GitOps reports file not escaped as needed:\n%s", gitops)
	}
	reports, err := fleetspec.DecodeGitOpsReports([]byte(gitops))
	if err != nil || len(reports) != 1 || reports[0].Query != query {
		t.Errorf("GitOps reports decode to %+v, %v; want the query %q", reports, err, query)
	}
	policies, err := fleetspec.DecodeGitOpsPolicies(files["fleet/gitops/lib/p.policies.yml"])
	if err != nil || len(policies) != 1 || policies[0].Query != query || policies[0].Resolution != "echo $PATH" {
		t.Errorf("GitOps policies decode to %+v, %v", policies, err)
	}
	apply, err := fleetspec.DecodeApply(files["fleet/p.reports.yml"])
	if err != nil || len(apply.Reports) != 1 || apply.Reports[0].Query != query || apply.Kinds[0] != fleetspec.KindReport {
		t.Errorf("apply reports decode to %+v, %v", apply, err)
	}
	apply, err = fleetspec.DecodeApply(files["fleet/p.policies.yml"])
	if err != nil || len(apply.Policies) != 1 || apply.Policies[0].Query != query {
		t.Errorf("apply policies decode to %+v, %v", apply, err)
	}
}
