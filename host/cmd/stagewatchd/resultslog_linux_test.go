//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/testenv"
)

// tickPack logs the faulty plugin's 100 rows as added at every run, once a
// second: the now column changes each run, so every run logs and its
// counter is one more than the last.
const tickPack = `{"queries": {"tick": {"query": "SELECT time, uid, strftime('%s','now') AS now FROM staging_detections", "interval": 1, "removed": false}}}`

const tickRows = 100

// floodPack logs 1,000 rows (about 250 KB) at every run.
const floodPack = `{"queries": {"flood": {"query": "WITH k(n) AS (VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10)) SELECT d.time, d.uid, k.n, strftime('%s','now') AS now FROM staging_detections d, k", "interval": 1, "removed": false}}}`

// resultLine is what the tests read of an osquery result line.
type resultLine struct {
	Name    string `json:"name"`
	Counter uint64 `json:"counter"`
	Action  string `json:"action"`
}

// readResults reads result logs, failing on a line that is not JSON or a
// NUL byte, and returns each file's lines.
func readResults(t *testing.T, paths ...string) map[string][]resultLine {
	t.Helper()
	out := map[string][]resultLine{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if i := bytes.IndexByte(data, 0); i >= 0 {
			t.Fatalf("%s has a NUL byte at offset %d", p, i)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Errorf("%s does not end on a whole line: …%q", p, data[max(0, len(data)-80):])
		}
		lines := bytes.Split(data, []byte("\n"))
		for i, l := range lines {
			if len(l) == 0 && i == len(lines)-1 {
				break
			}
			var r resultLine
			if err := json.Unmarshal(l, &r); err != nil || r.Name == "" {
				t.Fatalf("%s line %d is not a result line (%v): %q", p, i+1, err, l)
			}
			out[p] = append(out[p], r)
		}
	}
	return out
}

// checkRuns checks that the files, oldest first, hold whole runs of rows
// lines each, every run in one file, and that the runs' counters follow on
// from each other with none missing; it returns the counters in each file.
func checkRuns(t *testing.T, rows int, paths ...string) map[string][]uint64 {
	t.Helper()
	files := readResults(t, paths...)
	counters := map[string][]uint64{}
	var all []uint64
	seen := map[uint64]string{}
	for _, p := range paths {
		n := map[uint64]int{}
		for _, l := range files[p] {
			if other, ok := seen[l.Counter]; ok && other != p {
				t.Fatalf("run %d is split between %s and %s", l.Counter, other, p)
			}
			seen[l.Counter] = p
			if n[l.Counter] == 0 {
				counters[p] = append(counters[p], l.Counter)
				all = append(all, l.Counter)
			}
			n[l.Counter]++
		}
		for c, k := range n {
			if k != rows {
				t.Errorf("%s: run %d has %d lines, want %d", p, c, k, rows)
			}
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i] != all[i-1]+1 {
			t.Fatalf("runs %v: run %d follows run %d (lost or out of order)\nper file: %v", all, all[i], all[i-1], counters)
		}
	}
	return counters
}

// lineCount counts the lines of a file (0 when missing).
func lineCount(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

// waitFor polls cond until it holds, failing after limit or when the
// daemon exits.
func waitFor(t *testing.T, d *daemon, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("daemon exited (%v) waiting for %s\n%s", err, what, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v\n%s", what, limit, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopDaemon stops it with SIGTERM and wants a clean exit.
func stopDaemon(t *testing.T, d *daemon) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v (the daemon is gone)\n%s", err, d.stderr)
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
}

// A daemon killed with SIGKILL while it writes runs of 1,000 lines leaves
// no torn line, restart after restart: each run reaches the file in one
// write, never half through a buffer.
func TestResultsLogSurvivesSIGKILL(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	results := filepath.Join(dir, "log", "results.log")
	socket := filepath.Join(dir, "run", "stagewatchd.sock")
	const rounds = 5
	for round := range rounds + 1 {
		os.Remove(socket) // left by the kill; startDaemon waits for a new one
		before := lineCount(results)
		d := startDaemonWith(t, dir, floodPack, "", "--results-log", results)
		waitFor(t, d, 20*time.Second, "new result lines", func() bool { return lineCount(results) > before })
		if round == rounds {
			stopDaemon(t, d)
			break
		}
		// Anywhere in the next second: in or between runs.
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		d.cmd.Process.Signal(syscall.SIGKILL)
		err := <-d.done
		d.done <- err
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: daemon ended with %v, not by SIGKILL", round, err)
		}
	}
	lines := readResults(t, results)[results]
	t.Logf("%d whole result lines after %d kills", len(lines), rounds)
	if len(lines) < rounds*1000 {
		t.Fatalf("%d result lines after %d runs of 1,000", len(lines), rounds)
	}
}

// logrotate, in create and in copytruncate mode, with and without SIGHUP
// in postrotate, against a running daemon writing a run a second: no run
// is lost or split, no line torn, and the runs after the rotation are in
// the new file.
func TestResultsLogLogrotate(t *testing.T) {
	requireRoot(t)
	testenv.RequireTool(t, "logrotate")
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mode   string
		hangup bool
	}{
		{"create", "create 0640 root root", false},
		{"create-sighup", "create 0640 root root", true},
		{"nocreate", "nocreate", false},
		{"copytruncate", "copytruncate", false},
		{"copytruncate-sighup", "copytruncate", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := openTempDir(t)
			results := filepath.Join(dir, "log", "results.log")
			d := startDaemonWith(t, dir, tickPack, "", "--results-log", results)
			waitFor(t, d, 20*time.Second, "two runs in the log", func() bool { return lineCount(results) >= 2*tickRows })

			postrotate := ""
			if tc.hangup {
				postrotate = fmt.Sprintf("    postrotate\n        kill -HUP %d\n    endscript\n", d.cmd.Process.Pid)
			}
			conf := filepath.Join(dir, "logrotate.conf")
			text := fmt.Sprintf("%s {\n    %s\n    rotate 3\n    missingok\n    nocompress\n%s}\n", results, tc.mode, postrotate)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("logrotate", "-f", "-s", filepath.Join(dir, "logrotate.state"), conf).CombinedOutput()
			if err != nil {
				t.Fatalf("logrotate: %v\n%s", err, out)
			}
			rotated := results + ".1"
			if _, err := os.Stat(rotated); err != nil {
				t.Fatalf("logrotate made no %s: %v\n%s", rotated, err, out)
			}
			// Two more runs, in the new file.
			waitFor(t, d, 20*time.Second, "two runs in the new log", func() bool { return lineCount(results) >= 2*tickRows })
			stopDaemon(t, d)

			counters := checkRuns(t, tickRows, rotated, results)
			t.Logf("runs per file: %v", counters)
			if len(counters[rotated]) < 2 || len(counters[results]) < 2 {
				t.Fatalf("runs per file %v: want the runs before the rotation in %s and those after in %s", counters, rotated, results)
			}
			if tc.hangup && !strings.Contains(d.stderr.String(), "SIGHUP: results log "+results+" reopened") {
				t.Errorf("no reopen logged for SIGHUP\n%s", d.stderr)
			}
		})
	}
}

// SIGHUP reopens the results log at once, with no write needed, and the
// daemon goes on: here no run logs anything after the first. Sent to the
// plugins too, as `systemctl kill -s HUP` does, it does not end them.
func TestSIGHUPReopensResultsLog(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	results := filepath.Join(dir, "log", "results.log")
	d := startDaemon(t, dir, "--results-log", results)
	waitFor(t, d, 20*time.Second, "the first run's lines", func() bool { return lineCount(results) == 3 })
	if err := os.Rename(results, results+".old"); err != nil {
		t.Fatal(err)
	}
	plugins := pluginPids(t, d.cmd.Process.Pid)
	if len(plugins) != 1 {
		t.Fatalf("daemon has children %v, want its one plugin", plugins)
	}
	for range 2 {
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for _, pid := range plugins {
			syscall.Kill(pid, syscall.SIGHUP)
		}
		waitFor(t, d, 5*time.Second, "results log reopened", func() bool {
			_, err := os.Stat(results)
			return err == nil
		})
		time.Sleep(200 * time.Millisecond)
	}
	r := runCLI(t, -1, "query", "--socket", d.socket, "SELECT COUNT(*) AS n FROM staging_detections")
	if r.code != 0 || !strings.Contains(r.stdout, `"n":"100"`) {
		t.Fatalf("query after SIGHUP: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, -1, "query", "--socket", d.socket, "SELECT restarts FROM staging_analytics")
	if r.code != 0 || !strings.Contains(r.stdout, `"restarts":"0"`) {
		t.Errorf("plugin after SIGHUP: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if after := pluginPids(t, d.cmd.Process.Pid); !slices.Equal(after, plugins) {
		t.Errorf("plugins %v before SIGHUP, %v after", plugins, after)
	}
	stopDaemon(t, d)
	if n := lineCount(results + ".old"); n != 3 {
		t.Errorf("the renamed log has %d lines, want the first run's 3", n)
	}
}

// With results_log_max_size the daemon rotates its own log: results.log →
// .1 → .2, the oldest dropped, each file within the cap and on whole runs,
// and the runs kept follow on from each other across the files.
func TestResultsLogMaxSize(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := openTempDir(t)
	results := filepath.Join(dir, "log", "results.log")
	const maxSize = 64 << 10 // two runs of tickPack (about 24 KB each) a file
	d := startDaemonWith(t, dir, tickPack, "  results_log_max_size: 64KB\n  results_log_max_files: 2\n", "--results-log", results)
	// Until a file has been dropped: the oldest kept no longer starts at
	// the first run (counter 0).
	waitFor(t, d, 40*time.Second, "a rotated file dropped", func() bool {
		data, err := os.ReadFile(results + ".2")
		first, _, _ := bytes.Cut(data, []byte("\n"))
		var l resultLine
		return err == nil && json.Unmarshal(first, &l) == nil && l.Counter > 0 && lineCount(results) >= tickRows
	})
	stopDaemon(t, d)

	if _, err := os.Stat(results + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.3 kept with results_log_max_files: 2 (%v)", results, err)
	}
	files := []string{results + ".2", results + ".1", results}
	counters := checkRuns(t, tickRows, files...)
	t.Logf("runs per file: %v", counters)
	for _, p := range files {
		info, err := os.Stat(p)
		if err != nil || info.Size() > maxSize {
			t.Errorf("%s: %v, %d bytes (cap %d)", p, err, info.Size(), maxSize)
		}
	}
	if c := counters[results+".2"]; len(c) == 0 || c[0] == 0 {
		t.Errorf("runs per file %v: the oldest file should have been dropped", counters)
	}
	if !slices.Equal([]int{len(counters[files[0]]), len(counters[files[1]])}, []int{2, 2}) {
		t.Errorf("runs per file %v, want two in each rotated file", counters)
	}
}
