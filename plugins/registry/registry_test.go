package registry

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/schema"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	if ids := IDs(); !slices.Equal(ids, []string{"AN0040", "AN0041", "AN0042", "AN0043", "AN0044"}) {
		t.Fatalf("ids %v", ids)
	}
	if ids := RemoteIDs(); !slices.Equal(ids, []string{"AN0043", "AN0044"}) {
		t.Fatalf("remote ids %v", ids)
	}
	for _, a := range All() {
		// Every built-in analytic says who it is as the registry does.
		if a.BuiltIn() {
			d := a.New().Describe()
			if d.AnalyticID != a.ID || d.Platform != a.Platform || d.Remote != a.Remote || d.DetectionID != schema.DetectionID {
				t.Errorf("%s describes itself as %+v", a.ID, d)
			}
		}
		// An external plugin is plugins/<dir>/main.go built as stagewatch-<dir>.
		dir := strings.TrimSuffix(strings.TrimPrefix(a.Plugin, "stagewatch-"), ".exe")
		if a.BuiltIn() {
			if _, err := os.Stat(filepath.Join("..", dir, "main.go")); err != nil {
				t.Errorf("%s: plugin %s has no plugins/%s/main.go", a.ID, a.Plugin, dir)
			}
		}
		if got, ok := Lookup(a.ID); !ok || got.ID != a.ID {
			t.Errorf("Lookup(%s) = %+v, %v", a.ID, got, ok)
		}
	}
	if _, ok := Lookup("AN9999"); ok {
		t.Error("Lookup of an unknown id succeeded")
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	local, ok := Local()
	switch runtime.GOOS {
	case "linux", "windows", "darwin":
		if !ok || local.Platform != runtime.GOOS || local.Remote || LocalPlatform() != runtime.GOOS {
			t.Fatalf("Local() = %+v, %v on %s", local, ok, runtime.GOOS)
		}
	default:
		if ok {
			t.Fatalf("Local() = %+v on %s, which has no endpoint analytic", local, runtime.GOOS)
		}
	}
	for platform, id := range map[string]string{"windows": "AN0040", "linux": "AN0041", "darwin": "AN0042"} {
		if a, ok := LocalFor(platform); !ok || a.ID != id {
			t.Errorf("LocalFor(%s) = %+v", platform, a)
		}
	}
	if _, ok := LocalFor("aws"); ok {
		t.Error("a remote analytic passed for a platform's own")
	}
}

func TestTables(t *testing.T) {
	t.Parallel()
	var names []string
	for _, tb := range Tables() {
		names = append(names, tb.Name)
	}
	want := []string{schema.Detections, schema.FileEvents, schema.ProcessEvents, schema.CloudEvents, schema.ESXiEvents, schema.Analytics}
	if !slices.Equal(names, want) {
		t.Fatalf("tables %v, want %v", names, want)
	}
}
