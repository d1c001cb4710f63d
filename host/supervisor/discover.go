package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/safepath"
	"github.com/stagewatch/stagewatch/plugins/registry"
)

// SystemPluginDir is where packages install plugins when they are not next
// to the executable.
const SystemPluginDir = "/usr/local/lib/stagewatch/plugins"

// source is where one plugin process comes from: an external plugin binary
// found in a plugin directory, or this executable run in its built-in
// plugin mode (BuiltinCommand), as Nomad runs its built-in drivers.
type source struct {
	name     string   // plugin file name, or "<exe> plugin ANxxxx"
	path     string   // the binary, as staging_analytics shows it
	exec     string   // what to run: path, or this very executable (/proc/self/exe) for a built-in
	args     []string // its arguments
	checksum string   // configured digest; empty means not verified
	builtin  bool
	id       string // the analytic expected; empty when only Describe will tell
}

// logName names the plugin in the host's log: its file, or the analytic a
// built-in serves.
func (s source) logName() string {
	if s.builtin {
		return s.id
	}
	return s.name
}

// sources lists what to launch for goos under cfg:
//   - stagewatch.plugins, when set: those plugin files, as they are;
//   - with only set (replay of one analytic): that analytic;
//   - otherwise this platform's endpoint analytic and the remote analytics
//     that remote_analytics enables.
//
// An analytic runs from its external plugin binary when a plugin directory
// holds one (that is how a platform's plugin is swapped without a new
// extension), else built in.
func sources(cfg *config.File, goos, only string) ([]source, error) {
	dirs := PluginDirs(cfg)
	if len(cfg.Stagewatch.Plugins) > 0 {
		var out []source
		for _, name := range cfg.Stagewatch.Plugins {
			path, err := findPlugin(dirs, name)
			if err != nil {
				return nil, err
			}
			out = append(out, source{name: name, path: path, exec: path, checksum: cfg.Stagewatch.Checksums[name]})
		}
		return out, nil
	}
	var ids []string
	switch {
	case only != "":
		ids = []string{only}
	default:
		if local, ok := registry.LocalFor(goos); ok {
			ids = append(ids, local.ID)
		}
		for _, id := range registry.RemoteIDs() {
			if cfg.RemoteEnabled(id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no analytic runs on %s: enable remote analytics (stagewatch.remote_analytics) or list plugins (stagewatch.plugins)", goos)
	}
	out := make([]source, 0, len(ids))
	for _, id := range ids {
		s, err := sourceOf(cfg, dirs, id)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// sourceOf finds analytic id's external plugin, else its built-in one.
func sourceOf(cfg *config.File, dirs []string, id string) (source, error) {
	a, ok := registry.Lookup(id)
	if !ok {
		return source{}, fmt.Errorf("no analytic %s (known: %v; a test or third-party analytic is loaded by listing its plugin in stagewatch.plugins)", id, registry.IDs())
	}
	path, err := findPlugin(dirs, a.Plugin)
	switch {
	case err == nil:
		return source{name: a.Plugin, path: path, exec: path, checksum: cfg.Stagewatch.Checksums[a.Plugin], id: id}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return source{}, err
	case !a.BuiltIn():
		return source{}, fmt.Errorf("analytic %s is not built into this binary and no plugin %s is in %v (set stagewatch.plugin_dir)", id, a.Plugin, dirs)
	}
	self, exec, err := selfExecutable()
	if err != nil {
		return source{}, fmt.Errorf("analytic %s: running it built in: %w", id, err)
	}
	return source{name: filepath.Base(self) + " " + BuiltinCommand + " " + id, path: self, exec: exec,
		args: []string{BuiltinCommand, id}, builtin: true, id: id}, nil
}

// selfExecutable is this executable, as shown and as re-executed. On Linux
// it is re-executed through /proc/self/exe, the very file running now, so
// that a file put in its place on disk (an upgrade, or another user's
// binary where the directory lets them) never runs as this analytic's
// plugin; elsewhere the path must pass the same checks as a plugin's.
func selfExecutable() (shown, exec string, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	if runtime.GOOS == "linux" {
		return self, "/proc/self/exe", nil
	}
	if err := safepath.Trusted(self); err != nil {
		return "", "", fmt.Errorf("%w (the executable and every directory above it must be owned by root and writable by no one else)", err)
	}
	return self, self, nil
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

// errPluginNotFound matches fs.ErrNotExist: a plugin no directory holds.
type errPluginNotFound struct {
	name string
	dirs []string
}

func (e errPluginNotFound) Error() string {
	return fmt.Sprintf("plugin %s not found in %v (set stagewatch.plugin_dir)", e.name, e.dirs)
}

func (e errPluginNotFound) Is(target error) bool { return target == fs.ErrNotExist }

// findPlugin returns the path of name in the first directory that has it.
// A plugin must be a regular executable file, and it and every directory
// above it owned by root and writable by no one else, as osquery requires
// of an extension: anything else is refused, by path, rather than run as
// root.
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
		if err := safepath.Trusted(path); err != nil {
			return "", fmt.Errorf("plugin %s refused: %w (a plugin and every directory above it must be owned by root and writable by no one else)", name, err)
		}
		return path, nil
	}
	return "", errPluginNotFound{name: name, dirs: dirs}
}
