package eval

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Recorder is a real auditd in the foreground writing one log, with the
// rules the replay documentation asks for: every exec, and writes,
// creations, renames and unlinks under the staging directories.
type Recorder struct {
	dir, log string
	cmd      *exec.Cmd
	prev     map[string]string
}

// StagingDirs are AN0041's default staging directories, the file rules'
// scope.
var StagingDirs = []string{"/tmp", "/var/tmp", "/mnt", "/dev/shm"}

// StartRecorder starts auditd writing log. Nothing may own the audit
// socket already.
func StartRecorder(log string) (*Recorder, error) {
	if pid, err := auditPID(); err != nil {
		return nil, err
	} else if pid != "0" {
		return nil, fmt.Errorf("an audit daemon (pid %s) owns the audit socket; stop it first", pid)
	}
	if _, err := exec.LookPath("auditd"); err != nil {
		return nil, fmt.Errorf("recording needs auditd (apt-get install auditd): %v", err)
	}
	dir, err := os.MkdirTemp("", "stagewatch-eval-auditd.")
	if err != nil {
		return nil, err
	}
	r := &Recorder{dir: dir, log: filepath.Join(dir, "logs", "audit.log"), prev: map[string]string{}}
	out, _ := exec.Command("auditctl", "-s").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			r.prev[f[0]] = f[1]
		}
	}
	conf := filepath.Join(dir, "conf")
	os.MkdirAll(filepath.Join(conf, "plugins.d"), 0o755)
	os.MkdirAll(filepath.Dir(r.log), 0o700)
	text := fmt.Sprintf(`local_events = yes
write_logs = yes
log_file = %s
log_group = root
log_format = RAW
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 512
num_logs = 0
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
q_depth = 8000
overflow_action = SYSLOG
plugin_dir = %s
end_of_event_timeout = 2
`, r.log, filepath.Join(conf, "plugins.d"))
	if err := os.WriteFile(filepath.Join(conf, "auditd.conf"), []byte(text), 0o640); err != nil {
		return nil, err
	}
	r.cmd = exec.Command("auditd", "-n", "-c", conf)
	stderr, _ := os.Create(filepath.Join(dir, "auditd.stderr"))
	r.cmd.Stdout, r.cmd.Stderr = stderr, stderr
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if pid, _ := auditPID(); pid == fmt.Sprint(r.cmd.Process.Pid) {
			break
		}
		if i == 100 {
			r.Stop()
			data, _ := os.ReadFile(filepath.Join(dir, "auditd.stderr"))
			return nil, fmt.Errorf("auditd did not start: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rules := [][]string{
		{"-b", "16384", "--backlog_wait_time", "60000"},
		{"-a", "always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", "stagewatch_exec"},
		{"-a", "always,exit", "-F", "arch=b32", "-S", "execve,execveat", "-k", "stagewatch_exec"},
		// Forks, so that the fixture keeps only the stories' process
		// trees (other work on the machine stays out); dropped from it.
		{"-a", "always,exit", "-F", "arch=b64", "-S", "clone,clone3,fork,vfork", "-F", "success=1", "-k", forkKey},
	}
	for _, d := range StagingDirs {
		rules = append(rules, []string{"-a", "always,exit", "-F", "arch=b64", "-F", "dir=" + d, "-F", "perm=wa", "-k", "stagewatch_file"})
	}
	for _, rule := range rules {
		if out, err := exec.Command("auditctl", rule...).CombinedOutput(); err != nil {
			r.Stop()
			return nil, fmt.Errorf("auditctl %s: %v: %s", strings.Join(rule, " "), err, out)
		}
	}
	return r, nil
}

// Stop deletes the rules, stops auditd, puts the kernel's audit settings
// back and returns the log's path (valid until Remove).
func (r *Recorder) Stop() string {
	time.Sleep(2 * time.Second) // the last records reach the log
	exec.Command("auditctl", "-D").Run()
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- r.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			r.cmd.Process.Kill()
			<-done
		}
	}
	args := []string{}
	for _, k := range [][2]string{{"enabled", "-e"}, {"failure", "-f"}, {"backlog_limit", "-b"}, {"backlog_wait_time", "--backlog_wait_time"}} {
		if v, ok := r.prev[k[0]]; ok {
			args = append(args, k[1], v)
		}
	}
	exec.Command("auditctl", args...).Run()
	return r.log
}

const forkKey = "stagewatch_eval_fork"

// KeepStories copies the audit log at src to dst, keeping only the events
// of processes that descend from roots (the processes the runner started
// for the stories), as the fork records tell, and dropping the fork
// records themselves. Everything else the machine did meanwhile stays out.
func KeepStories(src, dst string, roots []int) (kept, dropped int, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	ours := map[string]bool{}
	for _, p := range roots {
		ours[fmt.Sprint(p)] = true
	}
	// Records of one event share their msg=audit(…) stamp and arrive
	// together, the SYSCALL record among them; an event is judged once its
	// SYSCALL record is read, and its records before that wait.
	type eventState struct {
		keep, decided bool
		waiting       []string
	}
	events := map[string]*eventState{}
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		stamp := field(line, "msg=audit(", ")")
		if stamp == "" {
			continue
		}
		ev := events[stamp]
		if ev == nil {
			ev = &eventState{}
			events[stamp] = ev
			if len(events) > 100000 {
				events = map[string]*eventState{stamp: ev}
			}
		}
		if strings.HasPrefix(line, "type=SYSCALL ") {
			pid := " " + field(line, " pid=", " ")
			ev.decided = true
			ev.keep = ours[pid[1:]]
			if ev.keep && strings.Contains(line, `key="`+forkKey+`"`) {
				ours[field(line, " exit=", " ")] = true
				ev.keep = false
			}
			if ev.keep {
				for _, l := range ev.waiting {
					w.WriteString(l + "\n")
					kept++
				}
			} else {
				dropped += len(ev.waiting)
			}
			ev.waiting = nil
		}
		switch {
		case !ev.decided:
			ev.waiting = append(ev.waiting, line)
		case ev.keep:
			w.WriteString(line + "\n")
			kept++
		default:
			dropped++
		}
	}
	if err := sc.Err(); err != nil {
		return kept, dropped, err
	}
	return kept, dropped, w.Flush()
}

// field returns what follows start in line up to end (or the line's end).
func field(line, start, end string) string {
	i := strings.Index(line, start)
	if i < 0 {
		return ""
	}
	rest := line[i+len(start):]
	if j := strings.Index(rest, end); j >= 0 {
		return rest[:j]
	}
	return rest
}

// Remove deletes the recorder's directory.
func (r *Recorder) Remove() { os.RemoveAll(r.dir) }
