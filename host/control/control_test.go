package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sdktest.RemoveBuilds()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutine leak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// engineOverFaulty runs the real chain the daemon serves: the faulty plugin
// under the host, the SQL engine over the host.
func engineOverFaulty(t *testing.T) *sqlengine.Engine {
	t.Helper()
	built := sdktest.BuildPlugin(t, "github.com/stagewatch/stagewatch/internal/testplugins/faulty")
	cfg := config.Default()
	cfg.Stagewatch.PluginDir = filepath.Dir(built)
	cfg.Stagewatch.Plugins = []string{filepath.Base(built)}
	cfg.Analytics["AN9999"] = json.RawMessage(`{"Rows": 50}`)
	h, err := host.New(context.Background(), host.Options{Config: cfg, Mode: sdk.ModeLive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	engine, err := sqlengine.Open(context.Background(), h, sqlengine.Options{QueryTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return engine
}

func serve(t *testing.T, opts control.ServerOptions, q control.Querier) *control.Server {
	t.Helper()
	s, err := control.Listen(opts, q)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestRoundTripAndModes(t *testing.T) {
	testenv.RequireRoot(t, "the control socket serves root only")
	engine := engineOverFaulty(t)
	dir := filepath.Join(t.TempDir(), "run", "stagewatch")
	path := filepath.Join(dir, "stagewatchd.sock")
	serve(t, control.ServerOptions{Path: path}, engine)

	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600 | os.ModeSocket} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s mode %v, want %v", p, info.Mode(), want)
		}
	}

	c := control.NewClient(path)
	ctx := context.Background()
	resp, err := c.Query(ctx, "SELECT time, score FROM staging_detections WHERE time >= 1700000040 ORDER BY time")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(resp.Columns, ",") != "time,score" || len(resp.Rows) != 10 || resp.Rows[0]["time"] != "1700000040" {
		t.Fatalf("query answer: %+v", resp)
	}
	resp, err = c.Query(ctx, "SELECT * FROM staging_detections WHERE time < 0")
	if err != nil || resp.Rows == nil || len(resp.Rows) != 0 {
		t.Fatalf("empty result should be an empty list: %+v %v", resp, err)
	}
	if _, err := c.Query(ctx, "SELEKT nonsense"); err == nil || !strings.Contains(err.Error(), "syntax") {
		t.Errorf("bad SQL: %v", err)
	}
	tables, err := c.Tables(ctx)
	if err != nil || len(tables) != 2 || tables[1].Name != "staging_detections" || tables[1].Columns[0].Type != "BIGINT" {
		t.Fatalf("tables: %+v %v", tables, err)
	}

	// A second daemon must not steal the socket of a live one.
	if _, err := control.Listen(control.ServerOptions{Path: path}, engine); err == nil || !strings.Contains(err.Error(), "another stagewatchd") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
}

// TestPeerCredentials checks the SO_PEERCRED gate itself: a server that
// admits only another uid refuses this (root) client, whatever the file
// modes allow.
func TestPeerCredentials(t *testing.T) {
	t.Parallel()
	engine := engineOverFaulty(t)
	path := filepath.Join(t.TempDir(), "sw.sock")
	serve(t, control.ServerOptions{Path: path, AllowUIDs: []uint32{54321}}, engine)
	_, err := control.NewClient(path).Query(context.Background(), "SELECT 1")
	if !errors.Is(err, control.ErrNeedRoot) || !strings.Contains(err.Error(), "uid "+strconv.Itoa(os.Geteuid())) {
		t.Fatalf("refused client: %v", err)
	}
}

func TestNoDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	if _, err := control.NewClient(missing).Query(context.Background(), "SELECT 1"); !errors.Is(err, control.ErrNoDaemon) {
		t.Errorf("missing socket: %v", err)
	}
	// A socket file left by a daemon that died: nobody listening.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := control.NewClient(stale).Query(context.Background(), "SELECT 1"); !errors.Is(err, control.ErrNoDaemon) {
		t.Errorf("stale socket: %v", err)
	}
	// Listen replaces the stale file.
	s, err := control.Listen(control.ServerOptions{Path: stale}, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket file: %v", err)
	}
}

// The socket's directory is the daemon's own: one that exists is never
// chmod'ed or chown'ed, and one others can write is refused (a user could
// swap the socket there); nothing but a stale socket is ever removed.
func TestUnsafeSocketPaths(t *testing.T) {
	testenv.RequireRoot(t, "the control socket serves root only")
	t.Parallel()
	engine := engineOverFaulty(t)
	base := t.TempDir()

	tmpBefore, err := os.Stat("/tmp")
	if err != nil {
		t.Fatal(err)
	}
	_, err = control.Listen(control.ServerOptions{Path: "/tmp/stagewatch-test-" + filepath.Base(base) + ".sock"}, engine)
	if err == nil || !strings.Contains(err.Error(), "/tmp: writable by group or others (mode 1777)") {
		t.Fatalf("socket in /tmp: %v", err)
	}
	if after, _ := os.Stat("/tmp"); after.Mode() != tmpBefore.Mode() {
		t.Fatalf("/tmp went from %v to %v", tmpBefore.Mode(), after.Mode())
	}

	wide := filepath.Join(base, "wide")
	os.Mkdir(wide, 0o755)
	os.Chmod(wide, 0o777)
	if _, err := control.Listen(control.ServerOptions{Path: filepath.Join(wide, "s.sock")}, engine); err == nil || !strings.Contains(err.Error(), "mode 0777") {
		t.Fatalf("socket in a 0777 directory: %v", err)
	}
	if info, _ := os.Stat(wide); info.Mode().Perm() != 0o777 {
		t.Fatalf("the 0777 directory became %v", info.Mode())
	}

	own := filepath.Join(base, "own")
	os.Mkdir(own, 0o700)
	file := filepath.Join(own, "not-a-socket")
	if err := os.WriteFile(file, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(control.ServerOptions{Path: file}, engine); err == nil || !strings.Contains(err.Error(), "is not a socket (a regular file)") {
		t.Fatalf("a regular file at the socket path: %v", err)
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != "precious" {
		t.Fatalf("the file at the socket path was touched: %q %v", data, err)
	}

	// A stale socket, left by a daemon killed outright, is replaced.
	stale := filepath.Join(own, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	serve(t, control.ServerOptions{Path: stale}, engine)
}
