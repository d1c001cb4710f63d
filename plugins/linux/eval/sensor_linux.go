package eval

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Detection is one row of staging_detections, as replay prints it and a
// query returns it.
type Detection struct {
	Time        int64  `json:"time"`
	Actor       string `json:"actor"`
	Process     string `json:"process"`
	StagingPath string `json:"staging_path"`
	ArchivePath string `json:"archive_path"`
	FileCount   int64  `json:"file_count"`
	Severity    string `json:"severity"`
	Score       int64  `json:"score"`
	Reason      string `json:"reason"`
	Evidence    string `json:"evidence"`
	UID         string `json:"uid"`
}

// Live is stagewatchd run with its own configuration, state and socket in
// a directory of its own.
type Live struct {
	bin, dir, config string
	cmd              *exec.Cmd
	done             chan error
	log              *bytes.Buffer
}

// StartLive starts the daemon and waits until AN0041 runs. Nothing else
// may own the audit socket: the evaluation reads what AN0041 itself
// collects.
func StartLive(stagewatchd string) (*Live, error) {
	if pid, err := auditPID(); err != nil {
		return nil, err
	} else if pid != "0" {
		return nil, fmt.Errorf("an audit daemon (pid %s) owns the audit socket; stop it for the live evaluation", pid)
	}
	dir, err := os.MkdirTemp("", "stagewatch-eval-live.")
	if err != nil {
		return nil, err
	}
	l := &Live{bin: stagewatchd, dir: dir, config: filepath.Join(dir, "stagewatch.yaml"), log: &bytes.Buffer{}, done: make(chan error, 1)}
	cfg := fmt.Sprintf("stagewatch:\n  host_identifier: eval-host\n  socket: %s\n  state_dir: %s\n  query_timeout: 10s\n",
		filepath.Join(dir, "run", "stagewatchd.sock"), filepath.Join(dir, "state"))
	pack := filepath.Join(dir, "eval.conf")
	if err := os.WriteFile(l.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// The pack only keeps the scheduler busy as in production; the
	// detections are read with one query at the end.
	packText := `{"queries":{"analytics":{"query":"SELECT analytic_id, state FROM staging_analytics","interval":60}}}`
	if err := os.WriteFile(pack, []byte(packText), 0o600); err != nil {
		return nil, err
	}
	l.cmd = exec.Command(stagewatchd, "run", "--config", l.config, "--pack", pack, "--results-log", filepath.Join(dir, "results.log"))
	l.cmd.Stdout, l.cmd.Stderr = l.log, l.log
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { l.done <- l.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := l.Query("SELECT state FROM staging_analytics WHERE analytic_id = 'AN0041'")
		if err == nil && bytes.Contains(out, []byte(`"running"`)) {
			return l, nil
		}
		select {
		case err := <-l.done:
			l.done <- err
			return nil, fmt.Errorf("stagewatchd exited: %v\n%s", err, l.log)
		default:
		}
		if time.Now().After(deadline) {
			l.Stop()
			return nil, fmt.Errorf("AN0041 not running after 60s: %s\n%s", out, l.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Query runs one SQL statement against the running daemon.
func (l *Live) Query(sql string) ([]byte, error) {
	cmd := exec.Command(l.bin, "query", "--config", l.config, sql)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("query: %v: %s", err, stderr.String())
	}
	return out, nil
}

// Detections reads AN0041's detections from the running daemon.
func (l *Live) Detections() ([]Detection, error) {
	// Past the settle buffer and the fanotify reader's lag.
	time.Sleep(3 * time.Second)
	out, err := l.Query("SELECT * FROM staging_detections WHERE analytic_id = 'AN0041'")
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("query output: %v", err)
	}
	var ds []Detection
	for _, row := range rows {
		d, err := rowDetection(row)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Counters is AN0041's own account of what it saw and dropped.
func (l *Live) Counters() string {
	out, _ := l.Query("SELECT state, message, counters FROM staging_analytics WHERE analytic_id = 'AN0041'")
	return strings.TrimSpace(string(out))
}

// Stop ends the daemon (SIGTERM, so the plugin removes its audit rules)
// and its directory.
func (l *Live) Stop() {
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-time.After(20 * time.Second):
		l.cmd.Process.Kill()
		<-l.done
	}
	os.RemoveAll(l.dir)
}

// Log is what the daemon wrote.
func (l *Live) Log() string { return l.log.String() }

// rowDetection converts a query row (numbers may come as strings) to a
// Detection.
func rowDetection(row map[string]any) (Detection, error) {
	norm := map[string]any{}
	for k, v := range row {
		switch k {
		case "time", "file_count", "score":
			if s, ok := v.(string); ok {
				var n int64
				fmt.Sscan(s, &n)
				v = n
			}
		}
		norm[k] = v
	}
	data, _ := json.Marshal(norm)
	var d Detection
	return d, json.Unmarshal(data, &d)
}

// Replay runs stagewatchd replay over the recorded logs.
func Replay(stagewatchd string, logs ...string) ([]Detection, error) {
	dir, err := os.MkdirTemp("", "stagewatch-eval-replay.")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "stagewatch.yaml")
	text := fmt.Sprintf("stagewatch:\n  host_identifier: eval-host\n  socket: %s\n  state_dir: %s\n", filepath.Join(dir, "run", "sock"), filepath.Join(dir, "state"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(stagewatchd, append([]string{"replay", "--analytic", "AN0041", "--config", cfg}, logs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("replay: %v: %s", err, stderr.String())
	}
	var ds []Detection
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var d Detection
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("replay output %q: %v", sc.Text(), err)
		}
		ds = append(ds, d)
	}
	return ds, sc.Err()
}

func auditPID() (string, error) {
	out, err := exec.Command("auditctl", "-s").Output()
	if err != nil {
		return "", fmt.Errorf("auditctl -s: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "pid" {
			return f[1], nil
		}
	}
	return "", errors.New("auditctl -s: no pid")
}

// gzipFile writes src gzipped to dst.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	z, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.Copy(z, in); err != nil {
		out.Close()
		return err
	}
	if err := z.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
