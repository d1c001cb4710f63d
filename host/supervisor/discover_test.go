package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/config"
)

func TestSources(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	swapped := t.TempDir()
	for _, name := range []string{"stagewatch-linux", "stagewatch-aws", "stagewatch-esxi"} {
		if err := os.WriteFile(filepath.Join(swapped, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgIn := func(dir string, remote ...string) *config.File {
		c := config.Default()
		c.Stagewatch.PluginDir = dir
		c.Stagewatch.RemoteAnalytics = remote
		return c
	}
	explicit := cfgIn(swapped)
	explicit.Stagewatch.Plugins = []string{"stagewatch-aws", "stagewatch-linux"}
	self, _ := os.Executable()
	builtin := filepath.Base(self) + " plugin "
	cases := []struct {
		name    string
		cfg     *config.File
		goos    string
		only    string
		want    string // source names, comma-separated
		wantErr string
	}{
		{"linux: built in", cfgIn(empty), "linux", "", builtin + "AN0041", ""},
		{"a plugin in plugin_dir replaces the built-in", cfgIn(swapped), "linux", "", "stagewatch-linux", ""},
		{"remote analytics run only when enabled", cfgIn(swapped, "AN0044", "AN0043"), "linux", "", "stagewatch-linux,stagewatch-aws,stagewatch-esxi", ""},
		{"macos: built in", cfgIn(empty), "darwin", "", builtin + "AN0042", ""},
		{"remote analytics built in", cfgIn(empty, "AN0043", "AN0044"), "linux", "", builtin + "AN0041," + builtin + "AN0043," + builtin + "AN0044", ""},
		{"windows: built in", cfgIn(empty), "windows", "", builtin + "AN0040", ""},
		{"no endpoint analytic, remote only", cfgIn(swapped, "AN0043", "AN0044"), "freebsd", "", "stagewatch-aws,stagewatch-esxi", ""},
		{"no endpoint analytic, nothing enabled", cfgIn(empty), "freebsd", "", "", "no analytic runs on freebsd"},
		{"explicit list wins", explicit, "linux", "", "stagewatch-aws,stagewatch-linux", ""},
		{"replay one analytic", cfgIn(empty), "linux", "AN0041", builtin + "AN0041", ""},
		{"replay another platform's analytic", cfgIn(empty), "windows", "AN0041", builtin + "AN0041", ""},
		{"replay a remote analytic not enabled", cfgIn(swapped), "linux", "AN0043", "stagewatch-aws", ""},
		{"replay an unknown analytic", cfgIn(empty), "linux", "AN9999", "", "no analytic AN9999"},
		{"replay with explicit list", explicit, "linux", "AN9999", "stagewatch-aws,stagewatch-linux", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srcs, err := sources(tc.cfg, tc.goos, tc.only)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range srcs {
				names = append(names, s.name)
				if s.builtin != strings.HasPrefix(s.name, builtin) || (s.builtin && (s.path != self || len(s.args) != 2 || s.args[0] != BuiltinCommand)) {
					t.Errorf("source %+v", s)
				}
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPluginDirs(t *testing.T) {
	t.Parallel()
	dirs := PluginDirs(config.Default())
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if len(dirs) != 2 || dirs[0] != filepath.Join(filepath.Dir(exe), "plugins") || dirs[1] != SystemPluginDir {
		t.Errorf("default dirs %v", dirs)
	}
	cfg := config.Default()
	cfg.Stagewatch.PluginDir = "/opt/sw/plugins"
	if dirs := PluginDirs(cfg); len(dirs) != 1 || dirs[0] != "/opt/sw/plugins" {
		t.Errorf("configured dirs %v", dirs)
	}
}

func TestFindPlugin(t *testing.T) {
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(first, "only-in-first", 0o755)
	write(second, "only-in-second", 0o755)
	write(first, "in-both", 0o755)
	write(second, "in-both", 0o755)
	write(first, "not-executable", 0o644)
	if err := os.Mkdir(filepath.Join(first, "a-directory"), 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []string{first, filepath.Join(first, "missing"), second}
	cases := []struct {
		name, want, wantErr string
	}{
		{"only-in-first", filepath.Join(first, "only-in-first"), ""},
		{"only-in-second", filepath.Join(second, "only-in-second"), ""},
		{"in-both", filepath.Join(first, "in-both"), ""},
		{"not-executable", "", "not executable"},
		{"a-directory", "", "not a regular file"},
		{"nowhere", "", "plugin nowhere not found"},
	}
	for _, tc := range cases {
		got, err := findPlugin(dirs, tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestBackoffDefaults(t *testing.T) {
	t.Parallel()
	if got := (Backoff{}).withDefaults(); got != DefaultBackoff {
		t.Errorf("zero backoff: %+v", got)
	}
	b := Backoff{Initial: 5 * DefaultBackoff.Max}.withDefaults()
	if b.Max != b.Initial {
		t.Errorf("Max below Initial not raised: %+v", b)
	}
}
