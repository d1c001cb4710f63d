//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

// The tests run the real binary, as an operator or the end-to-end test
// would, against the fault-injecting test plugin (and, when its fixtures
// and package are present, the Linux plugin).
var (
	binDir      string // 0755 all the way, so an unprivileged user can run what is in it
	stagewatchd string
)

const nobodyUID = 65534

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "stagewatchd-cli-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		stagewatchd = filepath.Join(dir, "stagewatchd")
		if out, err := exec.Command("go", "build", "-o", stagewatchd, ".").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build stagewatchd: %v\n%s", err, out)
			return 1
		}
		plugins := filepath.Join(dir, "plugins")
		if err := os.Mkdir(plugins, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(plugins, "stagewatch-faulty"),
			"github.com/stagewatch/stagewatch/internal/testplugins/faulty").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build faulty plugin: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// faultyConfig writes a config loading only the faulty plugin, with the
// control socket and state under dir.
func faultyConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "stagewatch.yaml")
	text := fmt.Sprintf(`stagewatch:
  plugin_dir: %s
  plugins: [stagewatch-faulty]
  host_identifier: cli-test
  socket: %s
  state_dir: %s
  query_timeout: 2s
`, filepath.Join(binDir, "plugins"), filepath.Join(dir, "run", "stagewatchd.sock"), filepath.Join(dir, "state"))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, uid int, args ...string) result {
	t.Helper()
	return runCLIWithin(t, 60*time.Second, uid, args...)
}

// runCLIWithin runs stagewatchd (as uid unless it is -1), killed after limit.
func runCLIWithin(t *testing.T, limit time.Duration, uid int, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, stagewatchd, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "STAGEWATCH_CONFIG=")
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		cmd.Dir = "/"
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "runs the daemon and switches to an unprivileged uid")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"query"}, 2, "exactly one SQL"},
		{[]string{"query", "SELECT 1", "SELECT 2"}, 2, "exactly one SQL"},
		{[]string{"query", "--bogus", "SELECT 1"}, 2, "-bogus"},
		{[]string{"tables", "extra"}, 2, "no arguments"},
		{[]string{"replay", "x.log"}, 2, "--analytic"},
		{[]string{"replay", "--analytic", "linux", "x.log"}, 2, "not an analytic id"},
		{[]string{"replay", "--analytic", "AN0041"}, 2, "at least one FILE"},
		{[]string{"replay", "--analytic", "AN0041", "--format", "json", "--output", "table", "x.log"}, 2, "disagree"},
		{[]string{"replay", "--analytic", "AN0041", "--output", "yaml", "x.log"}, 2, "one of json, table, timeline"},
		{[]string{"run", "extra"}, 2, "no arguments"},
		{[]string{"run", "--results-log"}, 2, "flag needs an argument"},
		{[]string{"version", "x"}, 2, "no arguments"},
		{[]string{"help"}, 0, "stagewatchd replay --analytic"},
		{[]string{"version"}, 0, "stagewatchd "},
		{[]string{"query", "--config", "/nonexistent/sw.yaml", "SELECT 1"}, 1, "/nonexistent/sw.yaml"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, -1, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", tc.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestTablesJSON(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, t.TempDir())
	r := runCLI(t, -1, "tables", "--local", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var tables []struct {
		Name    string `json:"name"`
		Columns []struct {
			Name, Type string
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tables); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if len(tables) != 2 || tables[0].Name != schema.Analytics || tables[1].Name != schema.Detections {
		t.Fatalf("tables: %+v", tables)
	}
	for i, c := range schema.DetectionsTable.Columns {
		got := tables[1].Columns[i]
		if got.Name != c.Name || got.Type != c.Type.String() {
			t.Errorf("column %d: %+v, want %s %s", i, got, c.Name, c.Type)
		}
	}
}

// With no daemon, query and tables fail, on stderr whatever it is, unless
// --local lets the plugins answer: a script must not read a dead daemon as
// "no detections". The socket is absent, or stale (a file nobody listens on).
func TestNoDaemonFailsWithoutLocal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := faultyConfig(t, dir)
	sock := filepath.Join(dir, "run", "stagewatchd.sock")
	check := func(state string) {
		t.Helper()
		for _, args := range [][]string{
			{"query", "--config", cfg, "SELECT uid FROM staging_detections"},
			{"tables", "--config", cfg},
		} {
			r := runCLI(t, -1, args...)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("%s, %s: exit %d, stdout %.120q; want 1 and nothing", state, args[0], r.code, r.stdout)
			}
			for _, want := range []string{"stagewatchd " + args[0] + ": no stagewatchd is serving the control socket", sock, "--local"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("%s, %s: stderr lacks %q:\n%s", state, args[0], want, r.stderr)
				}
			}
			r = runCLI(t, -1, append([]string{args[0], "--local"}, args[1:]...)...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "[") {
				t.Errorf("%s, %s --local: exit %d\n%s%s", state, args[0], r.code, r.stdout, r.stderr)
			}
		}
	}
	check("no socket")

	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	check("stale socket")
}

// TestQueryWithoutDaemon runs the plugins for one query (no daemon, --local).
func TestQueryWithoutDaemon(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, t.TempDir())
	r := runCLI(t, -1, "query", "--local", "SELECT time, severity FROM staging_detections WHERE time BETWEEN 1700000010 AND 1700000012", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("not a JSON array of objects: %v\n%s", err, r.stdout)
	}
	if len(rows) != 3 || rows[0]["time"] != "1700000010" || rows[0]["severity"] == "" {
		t.Fatalf("rows: %v", rows)
	}
	// Keys keep the column order of the SELECT.
	if !strings.HasPrefix(strings.TrimSpace(strings.Split(r.stdout, "\n")[1]), `{"time":`) {
		t.Errorf("column order lost: %s", r.stdout)
	}
	r = runCLI(t, -1, "query", "--local", "--config", cfg, "SELECT mode, state FROM staging_analytics")
	if r.code != 0 || !strings.Contains(r.stdout, `"mode":"query"`) {
		t.Fatalf("staging_analytics without daemon: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, -1, "query", "--local", "--config", cfg, "SELECT * FROM staging_nonesuch")
	if r.code != 1 || !strings.Contains(r.stderr, "staging_nonesuch") {
		t.Fatalf("unknown table: %d %s", r.code, r.stderr)
	}
	r = runCLI(t, -1, "query", "--local", "--config", cfg, "PRAGMA query_only=0; DROP TABLE temp.staging_detections")
	if r.code != 1 || !strings.Contains(r.stderr, "statement refused: only reading statements run (SELECT, WITH, EXPLAIN, VALUES)") {
		t.Fatalf("writing statement: %d %s", r.code, r.stderr)
	}
}

// openPTY opens a pseudo-terminal without output processing, so what the
// program writes reaches the master byte for byte.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Unavailable(t, "no pseudo-terminals: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		testenv.Unavailable(t, "pseudo-terminal slave: %v", err)
	}
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// hostileSQL selects the names an attacker gives files, as SQLite builds
// them: ESC and BEL (retitle, clear), a C1 CSI, DEL, invalid UTF-8, a tab
// and a newline, and the same escapes typed as plain characters.
const hostileSQL = `SELECT char(27) || ']0;owned' || char(7) || char(27) || '[2J' AS esc,
	'\x1b]0;owned\a\x1b[2J' AS typed,
	'a' || char(155) || '31m' AS c1,
	'del' || char(127) AS del,
	CAST(x'2f746d702fff' AS TEXT) AS invalid,
	'/tmp/\xff' AS typed_invalid,
	'tab' || char(9) || 'nl' || char(10) AS ws`

// On a terminal, query renders every control character and invalid byte
// as a visible escape, and a typed backslash doubled so the two differ;
// JSON, for a program, stays exact.
func TestQueryOnTerminalShowsEscapes(t *testing.T) {
	t.Parallel()
	cfg := faultyConfig(t, t.TempDir())
	master, slave := openPTY(t)
	cmd := exec.Command(stagewatchd, "query", "--local", "--config", cfg, hostileSQL)
	cmd.Env = append(os.Environ(), "STAGEWATCH_CONFIG=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it; reads on the master end when it exits
	out := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the child closed the terminal
		out <- b.Bytes()
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("query: %v\n%s", err, stderr.String())
	}
	var shown string
	select {
	case b := <-out:
		shown = string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end")
	}
	if !utf8.ValidString(shown) {
		t.Errorf("terminal output is not UTF-8: %q", shown)
	}
	for _, r := range shown {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) {
			t.Fatalf("raw control %U reached the terminal:\n%q", r, shown)
		}
	}
	for _, want := range []string{
		`| \x1b]0;owned\a\x1b[2J |`, `| \\x1b]0;owned\\a\\x1b[2J |`,
		`| a\u009b31m |`, `| del\x7f |`, `| /tmp/\xff |`, `| /tmp/\\xff `, `| tab\tnl\n |`,
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("terminal output lacks %s:\n%s", want, shown)
		}
	}

	r := runCLI(t, -1, "query", "--local", "--config", cfg, hostileSQL)
	var rows []map[string]string
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 {
		t.Fatalf("JSON: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	for k, want := range map[string]string{
		"esc": "\x1b]0;owned\a\x1b[2J", "typed": `\x1b]0;owned\a\x1b[2J`, "c1": "a\u009b31m",
		"del": "del\x7f", "typed_invalid": `/tmp/\xff`, "ws": "tab\tnl\n",
	} {
		if rows[0][k] != want {
			t.Errorf("JSON %s = %q, want %q exactly", k, rows[0][k], want)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := faultyConfig(t, dir)
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.log")
	os.WriteFile(a, []byte("one\ntwo\nthree\n"), 0o644)
	os.WriteFile(b, []byte("four\n"), 0o644)

	r := runCLI(t, -1, "replay", "--analytic", "AN9999", "--config", cfg, a, b)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, a+": 14 bytes, 3 records") || !strings.Contains(r.stderr, b+": 5 bytes, 1 records") {
		t.Errorf("per-file stats missing:\n%s", r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 100 {
		t.Fatalf("%d detections, want the plugin's 100", len(lines))
	}
	var first map[string]any
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.UseNumber()
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if len(first) != len(schema.DetectionsTable.Columns) {
		t.Errorf("keys %v, want the staging_detections columns", first)
	}
	for _, c := range schema.DetectionsTable.Columns {
		v, ok := first[c.Name]
		if !ok {
			t.Errorf("key %s missing", c.Name)
			continue
		}
		_, isNumber := v.(json.Number)
		if wantNumber := c.Type.String() != "TEXT"; isNumber != wantNumber {
			t.Errorf("%s = %#v: number %v, want %v", c.Name, v, isNumber, wantNumber)
		}
	}

	missing := filepath.Join(dir, "missing.log")
	r = runCLI(t, -1, "replay", "--analytic", "AN9999", "--config", cfg, missing, a)
	if r.code != 1 || !strings.Contains(r.stderr, "could not read "+missing) || !strings.Contains(r.stderr, a+": 14 bytes") {
		t.Fatalf("unreadable file: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, -1, "replay", "--analytic", "AN9999", "--config", cfg, dir)
	if r.code != 1 || !strings.Contains(r.stderr, "is a directory") {
		t.Fatalf("directory: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, -1, "replay", "--analytic", "AN0042", "--config", cfg, a)
	if r.code != 1 || !strings.Contains(r.stderr, "AN0042") {
		t.Fatalf("analytic not loaded: exit %d\n%s", r.code, r.stderr)
	}

	// A log named to attack the terminal (a glob over a directory the
	// attacker writes to) is named visibly, read or not.
	evil := filepath.Join(dir, "audit\x1b]0;owned\a\x1b[2J\u009b.log")
	os.WriteFile(evil, []byte("one\n"), 0o644)
	r = runCLI(t, -1, "replay", "--analytic", "AN9999", "--config", cfg, evil, evil+"\x07gone")
	if r.code != 1 {
		t.Fatalf("hostile names: exit %d\n%s", r.code, r.stderr)
	}
	shown := filepath.Join(dir, `audit\x1b]0;owned\a\x1b[2J\u009b.log`)
	for _, want := range []string{shown + ": 4 bytes, 1 records", shown + `\a` + "gone: not read"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, c := range r.stderr {
		if (c < 0x20 && c != '\n') || (c >= 0x7f && c <= 0x9f) {
			t.Fatalf("raw control %U on stderr:\n%q", c, r.stderr)
		}
	}
}

// replay refuses a FIFO, a device and a socket by name, without opening
// them (a FIFO with no writer would block the open), and reads the regular
// files given with them.
func TestReplayRefusesWhatIsNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := faultyConfig(t, dir)
	log := filepath.Join(dir, "a.log")
	os.WriteFile(log, []byte("one\n"), 0o644)
	fifo := filepath.Join(dir, "no-writer.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "fifo-link.log")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	start := time.Now()
	r := runCLIWithin(t, 20*time.Second, -1, "replay", "--analytic", "AN9999", "--config", cfg, fifo, link, "/dev/null", sock, log)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("replay took %s", took)
	}
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		fifo + ": not read: is a named pipe (FIFO): replay reads regular files, or - for standard input",
		link + ": not read: is a named pipe (FIFO)",
		"/dev/null: not read: is a character device",
		sock + ": not read: is a socket",
		log + ": 4 bytes, 1 records",
		"could not read " + strings.Join([]string{fifo, link, "/dev/null", sock}, ", "),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// A replay reading stdin that never ends (here a FIFO the test holds open
// and never writes) stops on SIGINT and on SIGTERM, with a non-zero status.
func TestReplayStopsOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := faultyConfig(t, dir)
			fifo := filepath.Join(dir, "stdin.fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			// Read and write: the open does not wait, and the replay's read
			// sees no end of file while the test holds it.
			stdin, err := os.OpenFile(fifo, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdin.Write([]byte("one\ntwo\n"))

			cmd := exec.Command(stagewatchd, "replay", "--analytic", "AN9999", "--config", cfg, "-")
			cmd.Env = append(os.Environ(), "STAGEWATCH_CONFIG=")
			var stdout, stderr bytes.Buffer
			cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-done
			}()
			waitReading(t, cmd.Process.Pid, done)
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				done <- err
				var exitErr *exec.ExitError
				if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
					t.Fatalf("after %s: %v, want exit status 1\n%s", sig, err, stderr.String())
				}
				if !strings.Contains(stderr.String(), "stagewatchd replay: interrupted while reading -") {
					t.Errorf("stderr lacks the interruption:\n%s", stderr.String())
				}
				t.Logf("exited %s after %s", time.Since(sent).Round(time.Millisecond), sig)
			case <-time.After(10 * time.Second):
				t.Fatalf("replay still running 10s after %s\n%s", sig, stderr.String())
			}
		})
	}
}

// waitReading waits until a thread of pid blocks reading a pipe (the
// replay's read of stdin), or gives up after 15 s and lets the test go on.
func waitReading(t *testing.T, pid int, done chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("replay exited before the signal: %v", err)
		default:
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, task := range tasks {
			if w, _ := os.ReadFile(task); strings.Contains(string(w), "pipe_read") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("no thread of %d seen blocked in a pipe read; signalling anyway", pid)
}

// TestReplayLinuxFixtures replays the recorded auditd logs through the real
// Linux plugin: the staging scenario yields detections, the benign one none.
func TestReplayLinuxFixtures(t *testing.T) {
	t.Parallel()
	fixtures := filepath.Join("..", "..", "..", "plugins", "linux", "testdata", "audit")
	staging := filepath.Join(fixtures, "staging.log")
	benign := filepath.Join(fixtures, "benign.log")
	if _, err := os.Stat(staging); err != nil {
		testenv.Unavailable(t, "audit fixtures not present: %v", err)
	}
	pluginDir := filepath.Join(t.TempDir(), "plugins")
	os.Mkdir(pluginDir, 0o755)
	if out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "stagewatch-linux"),
		"github.com/stagewatch/stagewatch/plugins/linux").CombinedOutput(); err != nil {
		t.Fatalf("the Linux plugin does not build: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "sw.yaml")
	os.WriteFile(cfg, []byte("stagewatch:\n  plugin_dir: "+pluginDir+"\n"), 0o644)

	r := runCLI(t, -1, "replay", "--analytic", "AN0041", "--config", cfg, staging)
	if r.code != 0 {
		t.Fatalf("staging replay: exit %d\n%s", r.code, r.stderr)
	}
	var detections []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("line not JSON: %v: %s", err, sc.Text())
		}
		detections = append(detections, d)
	}
	if len(detections) == 0 {
		t.Fatalf("no detections from %s\nstderr: %s", staging, r.stderr)
	}
	for _, d := range detections {
		if d["analytic_id"] != "AN0041" || d["detection_id"] != "DET0014" {
			t.Errorf("detection %v", d)
		}
		if _, ok := d["file_count"].(float64); !ok {
			t.Errorf("file_count not a number: %#v", d["file_count"])
		}
	}
	r = runCLI(t, -1, "replay", "--analytic", "AN0041", "--config", cfg, benign)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("benign replay: exit %d, stdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

// daemon is a running `stagewatchd run`.
type daemon struct {
	cmd    *exec.Cmd
	socket string
	stderr *sdktest.LogBuffer
	done   chan error
}

// earlyPack logs three rows at its first run, then nothing.
const earlyPack = `{"queries": {"early": {"query": "SELECT time, uid FROM staging_detections WHERE time < 1700000003", "interval": 1}}}`

func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	return startDaemonWith(t, dir, earlyPack, "", extra...)
}

// startDaemonWith starts `stagewatchd run` on the faulty plugin with the
// pack given (JSON) and configText added to the stagewatch section.
func startDaemonWith(t *testing.T, dir, packText, configText string, extra ...string) *daemon {
	t.Helper()
	cfg := faultyConfig(t, dir)
	if configText != "" {
		f, err := os.OpenFile(cfg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(configText)
		f.Close()
	}
	pack := filepath.Join(dir, "test.conf")
	os.WriteFile(pack, []byte(packText), 0o644)
	args := append([]string{"run", "--config", cfg, "--pack", pack}, extra...)
	cmd := exec.Command(stagewatchd, args...)
	stderr := &sdktest.LogBuffer{}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, socket: filepath.Join(dir, "run", "stagewatchd.sock"), stderr: stderr, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(d.socket); err == nil {
			break
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("daemon exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no control socket after 30s\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

func TestDaemon(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	results := filepath.Join(dir, "log", "results.log")
	d := startDaemon(t, dir, "--results-log", results)
	cfg := filepath.Join(dir, "stagewatch.yaml")

	// The daemon answers: its plugin runs in live mode.
	r := runCLI(t, -1, "query", "--config", cfg, "SELECT mode, restarts FROM staging_analytics")
	if r.code != 0 || !strings.Contains(r.stdout, `"mode":"live"`) {
		t.Fatalf("query via daemon: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, -1, "tables", "--socket", d.socket)
	if r.code != 0 || !strings.Contains(r.stdout, `"staging_detections"`) {
		t.Fatalf("tables via daemon: %d %s", r.code, r.stderr)
	}

	// SQL that would drop a table is refused, and every later query, on
	// whichever of the daemon's connections, still sees the table.
	for range 4 {
		r = runCLI(t, -1, "query", "--socket", d.socket, "PRAGMA query_only=0; DROP TABLE temp.staging_detections")
		if r.code != 1 || !strings.Contains(r.stderr, "statement refused: only reading statements run") {
			t.Fatalf("dropping a table via the daemon: %d %s %s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, -1, "query", "--socket", d.socket, "WITH c AS (SELECT 1) DELETE FROM staging_detections")
		if r.code != 1 || !strings.Contains(r.stderr, "statement refused: only reading statements run") {
			t.Fatalf("deleting via the daemon: %d %s %s", r.code, r.stdout, r.stderr)
		}
	}
	for range 4 {
		r = runCLI(t, -1, "query", "--socket", d.socket, "SELECT COUNT(*) AS n FROM staging_detections")
		if r.code != 0 || !strings.Contains(r.stdout, `"n":"100"`) {
			t.Fatalf("staging_detections after the refused statements: %d %s %s", r.code, r.stdout, r.stderr)
		}
	}

	// An unprivileged user is kept out by the file modes, and told why.
	r = runCLI(t, nobodyUID, "query", "--socket", d.socket, "SELECT 1")
	if r.code != 1 || !strings.Contains(r.stderr, "needs root") {
		t.Fatalf("nobody via closed socket: %d %s", r.code, r.stderr)
	}
	// With the modes loosened by hand, the kernel-reported uid still keeps
	// them out.
	os.Chmod(filepath.Dir(d.socket), 0o755)
	os.Chmod(d.socket, 0o666)
	r = runCLI(t, nobodyUID, "query", "--socket", d.socket, "SELECT 1")
	if r.code != 1 || !strings.Contains(r.stderr, "uid 65534 may not query stagewatchd (root only)") {
		t.Fatalf("nobody via loosened socket: %d %s", r.code, r.stderr)
	}

	// The pack's results reach the results log in osquery's format.
	deadline := time.Now().Add(15 * time.Second)
	var lines []map[string]any
	for time.Now().Before(deadline) && len(lines) < 3 {
		lines = nil
		data, _ := os.ReadFile(results)
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				lines = append(lines, m)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(lines) != 3 {
		t.Fatalf("results log has %d lines, want 3 added rows", len(lines))
	}
	if lines[0]["name"] != "pack_test_early" || lines[0]["action"] != "added" || lines[0]["hostIdentifier"] != "cli-test" {
		t.Errorf("result line: %v", lines[0])
	}

	pids := pluginPids(t, d.cmd.Process.Pid)
	if len(pids) != 1 {
		t.Errorf("daemon has children %v, want its one plugin", pids)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("daemon still running 15s after SIGTERM")
	}
	if _, err := os.Stat(d.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("plugin pid %d still running after shutdown", pid)
		}
	}
}

// pluginPids lists the plugin processes the daemon started (its children).
func pluginPids(t *testing.T, daemonPid int) []int {
	t.Helper()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == daemonPid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRunNeedsPrivilege(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	cfg := faultyConfig(t, dir)
	r := runCLI(t, nobodyUID, "run", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "live collection needs root") || !strings.Contains(r.stderr, "CAP_AUDIT_CONTROL") {
		t.Fatalf("run as nobody: exit %d\n%s", r.code, r.stderr)
	}
}

// openTempDir is a t.TempDir that an unprivileged user may traverse (the
// test switches to one to check the privilege errors).
func openTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
