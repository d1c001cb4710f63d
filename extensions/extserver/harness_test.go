//go:build !windows

package extserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/extensions/extserver"
	"github.com/stagewatch/stagewatch/extensions/osquerytest"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

const faultyPkg = "github.com/stagewatch/stagewatch/internal/testplugins/faulty"

// extBinary is stagewatch.ext built once for the whole test binary.
var extBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stagewatch-ext-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	extBinary = filepath.Join(dir, "stagewatch.ext")
	build := exec.Command("go", "build", "-o", extBinary, "github.com/stagewatch/stagewatch/extensions/stagewatch-ext")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stagewatch.ext:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	sdktest.RemoveBuilds()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one osqueryd stand-in with a stagewatch.ext running against it.
type env struct {
	t       testing.TB
	manager *osquerytest.Manager
	cmd     *exec.Cmd
	stderr  *sdktest.LogBuffer
	exited  chan struct{}
	plugin  string // path of the plugin binary the host launches
	reg     osquerytest.Registration
	client  *osquerytest.Client
	// In-process runs (extserver.Run in this test binary) have these
	// instead of cmd.
	cancel context.CancelFunc
	runErr error
}

// socketDir returns a short directory: unix socket paths are limited to ~100
// bytes and osquery-go refuses paths over 97.
func socketDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "swx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// writeConfig writes a stagewatch configuration that loads only the given
// plugin.
func writeConfig(t testing.TB, pluginPath string) string {
	dir := t.TempDir()
	cfg := fmt.Sprintf("stagewatch:\n  plugin_dir: %s\n  plugins: [%s]\n  host_identifier: conformance-host\n",
		filepath.Dir(pluginPath), filepath.Base(pluginPath))
	path := filepath.Join(dir, "stagewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startExt starts a manager and stagewatch.ext with osqueryd's exact
// argument order, and waits for the registration.
// argsFor, when not nil, builds the arguments from the socket path.
func startExt(t testing.TB, faultyJSON string, argsFor func(sock string) []string) *env {
	t.Helper()
	return startExtWith(t, sdktest.BuildPlugin(t, faultyPkg), faultyJSON, argsFor)
}

// startExtWith is startExt with a given plugin binary.
func startExtWith(t testing.TB, plugin, faultyJSON string, argsFor func(sock string) []string) *env {
	t.Helper()
	cfg := writeConfig(t, plugin)
	sock := filepath.Join(socketDir(t), "osquery.em")
	m, err := osquerytest.Start(sock)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--socket", sock, "--timeout", "3", "--interval", "3", "--verbose"}
	if argsFor != nil {
		args = argsFor(sock)
	}
	e := &env{t: t, manager: m, stderr: &sdktest.LogBuffer{}, exited: make(chan struct{}), plugin: plugin}
	e.cmd = exec.Command(extBinary, args...)
	e.cmd.Env = append(os.Environ(), "STAGEWATCH_CONFIG="+cfg)
	if faultyJSON != "" {
		// The extension's environment reaches its plugins.
		e.cmd.Env = append(e.cmd.Env, "STAGEWATCH_FAULTY_CONFIG="+faultyJSON)
	}
	e.cmd.Stderr = e.stderr
	if err := e.cmd.Start(); err != nil {
		m.Close()
		t.Fatal(err)
	}
	go func() { e.cmd.Wait(); close(e.exited) }()
	t.Cleanup(e.stop)
	registered := make(chan error, 1)
	go func() {
		var err error
		e.reg, err = m.WaitRegistration(15 * time.Second)
		registered <- err
	}()
	select {
	case err = <-registered:
	case <-e.exited:
		err = <-registered
		if err == nil {
			err = fmt.Errorf("extension exited right after registering")
		}
	}
	if err != nil {
		t.Fatalf("%v; stagewatch.ext stderr:\n%s", err, e.stderr.String())
	}
	// osquery-go listens right after registering; give it the moment.
	e.client = dialRetry(t, m.ExtensionSocket(e.reg.UUID))
	return e
}

func dialRetry(t testing.TB, path string) *osquerytest.Client {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := osquerytest.Dial(path, time.Second)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("extension socket %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) alive() bool {
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

// startInProcess runs extserver.Run inside the test binary against a
// manager, with the faulty plugin configured by analyticJSON (its AN9999
// section). The Thrift server, host and plugin are the real ones; only the
// process boundary of stagewatch.ext is missing, which lets a test look at
// the extension's goroutines.
func startInProcess(t testing.TB, analyticJSON string, interval time.Duration) *env {
	t.Helper()
	plugin := sdktest.BuildPlugin(t, faultyPkg)
	cfg := config.Default()
	cfg.Path = "(test)"
	cfg.Stagewatch.PluginDir = filepath.Dir(plugin)
	cfg.Stagewatch.Plugins = []string{filepath.Base(plugin)}
	cfg.Stagewatch.HostIdentifier = "conformance-host"
	if analyticJSON != "" {
		cfg.Analytics[fault.AnalyticID] = json.RawMessage(analyticJSON)
	}
	return startRunner(t, plugin, interval, func(ctx context.Context, opts extserver.Options) error {
		opts.Config = cfg
		return extserver.Run(ctx, opts)
	})
}

// startRunner starts a manager and run (extserver.Run or Serve) against it
// in this process, and waits for the registration.
func startRunner(t testing.TB, plugin string, interval time.Duration, run func(context.Context, extserver.Options) error) *env {
	t.Helper()
	sock := filepath.Join(socketDir(t), "osquery.em")
	m, err := osquerytest.Start(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, manager: m, stderr: &sdktest.LogBuffer{}, exited: make(chan struct{}), plugin: plugin, cancel: cancel}
	log := hclog.New(&hclog.LoggerOptions{Output: e.stderr, Level: hclog.Debug})
	go func() {
		defer close(e.exited)
		e.runErr = run(ctx, extserver.Options{
			Flags:  extserver.Flags{Socket: sock, Timeout: 3 * time.Second, Interval: interval},
			Logger: log,
		})
	}()
	t.Cleanup(e.stop)
	select {
	case <-e.exited:
		t.Fatalf("extserver.Run returned %v before registering; log:\n%s", e.runErr, e.stderr.String())
	default:
	}
	if e.reg, err = m.WaitRegistration(15 * time.Second); err != nil {
		t.Fatalf("%v; log:\n%s", err, e.stderr.String())
	}
	e.client = dialRetry(t, m.ExtensionSocket(e.reg.UUID))
	return e
}

// stop ends the extension and the manager, and checks nothing is left.
func (e *env) stop() {
	if e.client != nil {
		e.client.Close()
	}
	e.manager.Close()
	if e.cmd == nil {
		e.cancel()
		select {
		case <-e.exited:
		case <-time.After(15 * time.Second):
			e.t.Errorf("extserver.Run did not return after cancel; log:\n%s", e.stderr.String())
		}
		e.checkNoPlugin()
		return
	}
	if e.alive() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
			// Either SIGTERM or the manager closing ended it: both are
			// clean stops.
			if code := e.cmd.ProcessState.ExitCode(); code != 0 {
				e.t.Errorf("stagewatch.ext exited %d on SIGTERM; stderr:\n%s", code, e.stderr.String())
			}
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			<-e.exited
			e.t.Errorf("stagewatch.ext ignored SIGTERM; stderr:\n%s", e.stderr.String())
		}
	}
	e.checkNoPlugin()
}

// checkNoPlugin fails the test if a process of the plugin binary is still
// running: the extension must close its plugins however it stops.
func (e *env) checkNoPlugin() {
	if e.plugin == "" {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := processesOf(e.plugin)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("plugin %s still running as %v after the extension stopped", e.plugin, pids)
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func processesOf(exe string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range entries {
		var pid int
		if _, err := fmt.Sscanf(ent.Name(), "%d", &pid); err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err == nil && strings.TrimSuffix(target, " (deleted)") == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
