package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/stagewatch/stagewatch/internal/config"
)

// SystemPluginDir is where packages install plugins when they are not next
// to the executable.
const SystemPluginDir = "/usr/local/lib/stagewatch/plugins"

// pluginForAnalytic maps each DET0014 analytic to its plugin file name. The
// names are the contract between packaging and the host: "plugins swapped per
// platform" is this table.
var pluginForAnalytic = map[string]string{
	"AN0040": "stagewatch-windows.exe",
	"AN0041": "stagewatch-linux",
	"AN0042": "stagewatch-macos",
	"AN0043": "stagewatch-aws",
	"AN0044": "stagewatch-esxi",
}

// localAnalytic is the endpoint analytic of each GOOS.
var localAnalytic = map[string]string{
	"windows": "AN0040",
	"linux":   "AN0041",
	"darwin":  "AN0042",
}

// PluginFile returns the plugin file name of an analytic id, and whether the
// id is known.
func PluginFile(analyticID string) (string, bool) {
	name, ok := pluginForAnalytic[analyticID]
	return name, ok
}

// PluginNames lists the plugin file names to load for goos under cfg:
// stagewatch.plugins when set, else this platform's endpoint plugin plus the
// remote plugins that remote_analytics enables. With only set, the list is
// that analytic's plugin (or, for ids outside DET0014's five, the configured
// list, to be filtered by Describe).
func PluginNames(cfg *config.File, goos, only string) []string {
	if only != "" && len(cfg.Stagewatch.Plugins) == 0 {
		if name, ok := pluginForAnalytic[only]; ok {
			return []string{name}
		}
	}
	if len(cfg.Stagewatch.Plugins) > 0 {
		return slices.Clone(cfg.Stagewatch.Plugins)
	}
	var names []string
	if id, ok := localAnalytic[goos]; ok {
		names = append(names, pluginForAnalytic[id])
	}
	for _, id := range config.RemoteAnalytics {
		if cfg.RemoteEnabled(id) {
			names = append(names, pluginForAnalytic[id])
		}
	}
	return names
}

// PluginDirs lists the directories searched for plugins, in order:
// stagewatch.plugin_dir alone when set; otherwise `plugins` next to the
// executable, then SystemPluginDir.
func PluginDirs(cfg *config.File) []string {
	if cfg.Stagewatch.PluginDir != "" {
		return []string{cfg.Stagewatch.PluginDir}
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	return append(dirs, SystemPluginDir)
}

// findPlugin returns the path of name in the first directory that has it.
// A plugin must be a regular executable file: anything else in a plugin
// directory is refused rather than run.
func findPlugin(dirs []string, name string) (string, error) {
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("plugin %s: %w", name, err)
		}
		if !info.Mode().IsRegular() {
			return "", fmt.Errorf("plugin %s: %s is not a regular file", name, path)
		}
		if runtime.GOOS != "windows" && info.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("plugin %s: %s is not executable", name, path)
		}
		return path, nil
	}
	return "", fmt.Errorf("plugin %s not found in %v (set stagewatch.plugin_dir)", name, dirs)
}
