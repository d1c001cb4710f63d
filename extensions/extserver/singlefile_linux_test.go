//go:build linux

package extserver_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/extensions/extserver"
	"github.com/stagewatch/stagewatch/extensions/osquerytest"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

// Fleet delivers one file. Copied alone into an empty directory, with no
// configuration anywhere, stagewatch.ext started the way osqueryd autoloads
// it registers every table and serves this platform's analytic live, with
// its defaults, from a plugin process of its own executable.
func TestSingleFileExtension(t *testing.T) {
	testenv.RequireRoot(t, "the built-in Linux analytic collects from audit netlink and fanotify")
	if _, err := os.Stat(config.DefaultPath); err == nil {
		testenv.Unavailable(t, "%s exists on this machine: the test needs no configuration anywhere", config.DefaultPath)
	}
	// The default state_dir: leave behind none that was not there (this
	// cleanup runs after the extension's).
	_, rootErr := os.Stat(config.DefaultStateDir)
	_, extErr := os.Stat(filepath.Join(config.DefaultStateDir, extserver.StateName))
	t.Cleanup(func() {
		if os.IsNotExist(rootErr) {
			os.RemoveAll(config.DefaultStateDir)
		} else if os.IsNotExist(extErr) {
			os.RemoveAll(filepath.Join(config.DefaultStateDir, extserver.StateName))
		}
	})
	dir := t.TempDir()
	ext := filepath.Join(dir, "stagewatch.ext")
	copyFile(t, extBinary, ext, 0o755)

	sock := filepath.Join(socketDir(t), "osquery.em")
	m, err := osquerytest.Start(sock)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, manager: m, stderr: &sdktest.LogBuffer{}, exited: make(chan struct{}), plugin: ext}
	// osqueryd's autoload arguments, nothing else: no STAGEWATCH_CONFIG,
	// a working directory holding only the extension.
	e.cmd = exec.Command(ext, "--socket", sock, "--timeout", "3", "--interval", "3")
	e.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, config.EnvVar+"=") })
	e.cmd.Dir = dir
	e.cmd.Stderr = e.stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.cmd.Wait(); close(e.exited) }()
	t.Cleanup(e.stop)
	if e.reg, err = m.WaitRegistration(20 * time.Second); err != nil {
		t.Fatalf("%v; stagewatch.ext stderr:\n%s", err, e.stderr.String())
	}
	e.client = dialRetry(t, m.ExtensionSocket(e.reg.UUID))

	var registered []string
	for name := range e.reg.Registry["table"] {
		registered = append(registered, name)
	}
	var want []string
	for _, spec := range registry.Tables() {
		want = append(want, spec.Name)
	}
	slices.Sort(registered)
	slices.Sort(want)
	if !slices.Equal(registered, want) {
		t.Fatalf("registered tables %v, want %v", registered, want)
	}

	rows, err := osquerytest.Check(e.client.Generate(ctxTimeout(t, 10*time.Second), schema.Analytics, "{}"))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := registry.Local()
	if len(rows) != 1 {
		t.Fatalf("staging_analytics %v, want the one local analytic", rows)
	}
	r := rows[0]
	if r["analytic_id"] != local.ID || r["mode"] != "live" || r["plugin"] != ext || r["state"] != "running" {
		t.Fatalf("staging_analytics row %v: want %s running live from %s", r, local.ID, ext)
	}
	if !strings.Contains(r["config"], `"StagingDirectoryList":["/tmp/","/var/tmp/","/mnt/","/dev/shm/"]`) {
		t.Errorf("config in effect %s, want the defaults", r["config"])
	}
	if !strings.Contains(e.stderr.String(), "every analytic runs with its defaults") {
		t.Errorf("the log does not say no configuration was found:\n%s", e.stderr.String())
	}
	// The analytic runs in a process of the extension's own executable.
	pids := processesOf(ext)
	if len(pids) < 2 {
		t.Fatalf("processes of %s: %v, want the extension and its plugin", ext, pids)
	}
	// Within osquery's watchdog budget, as the extension with an external
	// plugin is.
	ctx := ctxTimeout(t, time.Minute)
	for range 50 {
		for _, table := range []string{schema.Detections, schema.FileEvents, schema.ProcessEvents, schema.Analytics} {
			if _, err := osquerytest.Check(e.client.Generate(ctx, table, `{"constraints":[]}`)); err != nil {
				t.Fatalf("%s: %v", table, err)
			}
		}
	}
	extKB, pluginKB := 0, 0
	for _, pid := range pids {
		if pid == e.cmd.Process.Pid {
			extKB = rssKB(t, pid)
		} else {
			pluginKB += rssKB(t, pid)
		}
	}
	t.Logf("RSS of the single file: stagewatch.ext %.1f MB, its built-in AN0041 plugin %.1f MB", float64(extKB)/1024, float64(pluginKB)/1024)
	if extKB > 60*1024 || pluginKB > 60*1024 {
		t.Errorf("RSS %d kB (extension) and %d kB (plugin): each must stay under 60 MB", extKB, pluginKB)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
