//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A script an unprivileged user drops where a plugin is looked up must
// never run as root: a plugin and every directory above it are owned by
// root and writable by no one else, or the plugin is refused by path.
func TestPluginInAnUnsafePlaceIsRefused(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	marker := filepath.Join(dir, "ran-as-root")
	script := fmt.Sprintf("#!/bin/sh\ntouch %s\n", marker)
	cases := []struct {
		name   string
		setup  func(pluginDir, plugin string)
		reason string
	}{
		{"a 0777 plugin_dir", func(d, p string) { os.Chmod(d, 0o777) }, "writable by group or others (mode 0777)"},
		{"a plugin another user owns", func(d, p string) { os.Chown(p, nobodyUID, nobodyUID) }, "owned by uid 65534"},
		{"a group-writable plugin", func(d, p string) { os.Chmod(p, 0o775) }, "writable by group or others (mode 0775)"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pluginDir := filepath.Join(dir, fmt.Sprint("plugins", i))
			os.Mkdir(pluginDir, 0o755)
			plugin := filepath.Join(pluginDir, "stagewatch-linux")
			if err := os.WriteFile(plugin, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(pluginDir, plugin)
			cfg := filepath.Join(dir, fmt.Sprint("cfg", i, ".yaml"))
			os.WriteFile(cfg, []byte("stagewatch:\n  plugin_dir: "+pluginDir+"\n"), 0o644)
			r := runCLI(t, -1, "replay", "--config", cfg, "--analytic", "AN0041", "/dev/null")
			if r.code != 1 || !strings.Contains(r.stderr, "plugin stagewatch-linux refused") || !strings.Contains(r.stderr, tc.reason) {
				t.Fatalf("exit %d, stderr %q; want the plugin refused: %s", r.code, r.stderr, tc.reason)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the planted plugin ran")
			}
		})
	}
}

// `--socket /tmp/x.sock` must not make /tmp 0700, and a file at the socket
// path must not be deleted; a results log that is a link is not followed.
func TestRunRefusesUnsafePaths(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	cfg := faultyConfig(t, dir)
	tmpBefore, _ := os.Stat("/tmp")

	sock := "/tmp/stagewatch-test-" + filepath.Base(dir) + ".sock"
	r := runCLI(t, -1, "run", "--config", cfg, "--socket", sock)
	if r.code != 1 || !strings.Contains(r.stderr, "its directory /tmp: writable by group or others (mode 1777)") {
		t.Fatalf("run --socket %s: exit %d\n%s", sock, r.code, r.stderr)
	}
	if after, _ := os.Stat("/tmp"); after.Mode() != tmpBefore.Mode() {
		t.Fatalf("/tmp went from %v to %v", tmpBefore.Mode(), after.Mode())
	}

	precious := filepath.Join(dir, "precious.txt")
	os.WriteFile(precious, []byte("keep me"), 0o600)
	r = runCLI(t, -1, "run", "--config", cfg, "--socket", precious)
	if r.code != 1 || !strings.Contains(r.stderr, "is not a socket (a regular file)") {
		t.Fatalf("run --socket on a file: exit %d\n%s", r.code, r.stderr)
	}
	if data, err := os.ReadFile(precious); err != nil || string(data) != "keep me" {
		t.Fatalf("the file at the socket path was deleted or changed: %q %v", data, err)
	}

	target := filepath.Join(dir, "not-a-log")
	os.WriteFile(target, []byte("untouched\n"), 0o600)
	link := filepath.Join(dir, "results.log")
	os.Symlink(target, link)
	r = runCLI(t, -1, "run", "--config", cfg, "--results-log", link)
	if r.code != 1 || !strings.Contains(r.stderr, "results log") {
		t.Fatalf("run --results-log through a link: exit %d\n%s", r.code, r.stderr)
	}
	if data, _ := os.ReadFile(target); string(data) != "untouched\n" {
		t.Fatalf("the link's target was written: %q", data)
	}
}

// A staging directory given as a link to / is refused by the daemon as /
// itself is, naming the key.
func TestRunRefusesStagingLinkToRoot(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	link := filepath.Join(dir, "l")
	if err := os.Symlink("/", link); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "stagewatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("stagewatch:\n  socket: %s\n  state_dir: %s\nAN0041:\n  StagingDirectoryList: [%s/]\n",
		filepath.Join(dir, "run", "s.sock"), filepath.Join(dir, "state"), link)), 0o644)
	r := runCLI(t, -1, "run", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "AN0041.StagingDirectoryList") || !strings.Contains(r.stderr, `resolves to "/"`) {
		t.Fatalf("run with a staging link to /: exit %d\n%s", r.code, r.stderr)
	}
}
