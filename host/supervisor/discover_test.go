package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/config"
)

func TestPluginNames(t *testing.T) {
	t.Parallel()
	withRemote := config.Default()
	withRemote.Stagewatch.RemoteAnalytics = []string{"AN0044", "AN0043"}
	explicit := config.Default()
	explicit.Stagewatch.Plugins = []string{"stagewatch-faulty", "stagewatch-linux"}
	cases := []struct {
		name string
		cfg  *config.File
		goos string
		only string
		want string
	}{
		{"linux default", config.Default(), "linux", "", "stagewatch-linux"},
		{"windows default", config.Default(), "windows", "", "stagewatch-windows.exe"},
		{"darwin default", config.Default(), "darwin", "", "stagewatch-macos"},
		{"remote enabled", withRemote, "linux", "", "stagewatch-linux,stagewatch-aws,stagewatch-esxi"},
		{"unsupported OS, remote only", withRemote, "freebsd", "", "stagewatch-aws,stagewatch-esxi"},
		{"explicit list wins", explicit, "linux", "", "stagewatch-faulty,stagewatch-linux"},
		{"replay one analytic", config.Default(), "linux", "AN0043", "stagewatch-aws"},
		{"replay another platform's analytic", config.Default(), "linux", "AN0040", "stagewatch-windows.exe"},
		{"replay with explicit list", explicit, "linux", "AN9999", "stagewatch-faulty,stagewatch-linux"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := strings.Join(PluginNames(tc.cfg, tc.goos, tc.only), ","); got != tc.want {
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
