package eval

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A Slot is a stretch of time during which one story, and only it, ran.
// Stories run one after the other, so a detection belongs to the story
// whose slot holds its archive step. The background story has two slots:
// its copy, before every other story, and its archive, after them.
type Slot struct {
	Story string    `json:"story"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// PIDs are the processes the runner started for the story (its
	// script's and its daemon's first process): the recording keeps what
	// descends from them.
	PIDs []int `json:"pids,omitempty"`
}

// Schedule is what one run of the stories did, in order.
type Schedule struct {
	Kernel string    `json:"kernel"`
	Slots  []Slot    `json:"slots"`
	Failed []string  `json:"failed,omitempty"` // stories whose script failed
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// StoryAt returns the story whose slot holds t, or "". A slot reaches
// slotGap past its end: live, AN0041 moves exec times forward by up to its
// sensors' skew (250 ms, so that a file fanotify stamped late still counts
// as before the archiver), and its evidence carries the moved time.
func (s *Schedule) StoryAt(t time.Time) string {
	for _, sl := range s.Slots {
		if !t.Before(sl.Start) && t.Before(sl.End.Add(slotGap)) {
			return sl.Story
		}
	}
	return ""
}

// backgroundGap is how long the background story waits between its copy
// and its archive at least: minutes apart, as people do it.
const backgroundGap = 2 * time.Minute

// slotGap separates slots, longer than any skew of the sensors' clocks, so
// that a detection stamped at a boundary is never ambiguous.
const slotGap = time.Second

// RunStories runs every story once, in order, logging each one's output
// to log, and returns the schedule.
func (w *World) RunStories(log io.Writer) (*Schedule, error) {
	sched := &Schedule{Kernel: kernel(), Start: time.Now()}
	var bg *Story
	for i := range Stories {
		if Stories[i].Background {
			bg = &Stories[i]
		}
	}
	var bgRun *running
	if bg != nil {
		start := time.Now()
		r, err := w.start(bg, log)
		if err != nil {
			return nil, err
		}
		bgRun = r
		w.root(bg.Name, r)
		if err := waitFile(filepath.Join(Base, "run", bg.Name+".waiting"), r, time.Minute); err != nil {
			return nil, fmt.Errorf("%s: %v", bg.Name, err)
		}
		sched.Slots = append(sched.Slots, Slot{Story: bg.Name, Start: start, End: time.Now(), PIDs: []int{r.cmd.Process.Pid}})
		time.Sleep(slotGap)
	}
	for i := range Stories {
		s := &Stories[i]
		if s.Background {
			continue
		}
		start := time.Now()
		var pids []int
		var daemon *running
		if s.Daemon != "" {
			d, err := w.startDaemon(s, log)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", s.Name, err)
			}
			daemon = d
			w.root(s.Name, d)
			pids = append(pids, d.cmd.Process.Pid)
			if err := waitFile(s.DaemonReady, d, time.Minute); err != nil {
				d.stop()
				return nil, fmt.Errorf("%s: daemon: %v", s.Name, err)
			}
		}
		r, err := w.start(s, log)
		if err == nil {
			w.root(s.Name, r)
			pids = append(pids, r.cmd.Process.Pid)
			err = r.wait()
		}
		if daemon != nil {
			daemon.stop()
		}
		if err != nil {
			fmt.Fprintf(log, "== %s failed: %v\n", s.Name, err)
			sched.Failed = append(sched.Failed, s.Name)
		}
		sched.Slots = append(sched.Slots, Slot{Story: s.Name, Start: start, End: time.Now(), PIDs: pids})
		time.Sleep(slotGap)
	}
	if bgRun != nil {
		if wait := backgroundGap - time.Since(sched.Slots[0].Start); wait > 0 {
			time.Sleep(wait)
		}
		start := time.Now()
		if err := proceed(filepath.Join(Base, "run", bg.Name+".proceed")); err != nil {
			return nil, fmt.Errorf("%s: %v", bg.Name, err)
		}
		if err := bgRun.wait(); err != nil {
			fmt.Fprintf(log, "== %s failed: %v\n", bg.Name, err)
			sched.Failed = append(sched.Failed, bg.Name)
		}
		sched.Slots = append(sched.Slots, Slot{Story: bg.Name, Start: start, End: time.Now(), PIDs: []int{bgRun.cmd.Process.Pid}})
	}
	sched.End = time.Now()
	return sched, nil
}

// running is a story's or a daemon's process tree.
type running struct {
	cmd  *exec.Cmd
	done chan error
	out  *bytes.Buffer
	name string
	log  io.Writer
}

func (r *running) wait() error {
	err := <-r.done
	r.done <- err
	fmt.Fprintf(r.log, "== %s\n%s", r.name, r.out)
	return err
}

func (r *running) exited() bool {
	select {
	case err := <-r.done:
		r.done <- err
		return true
	default:
		return false
	}
}

// stop ends a daemon's whole process group.
func (r *running) stop() {
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

// env is what a story's script sees.
func (w *World) env(s *Story) []string {
	home := "/root"
	name := "root"
	if s.As == User {
		home, name = w.User.HomeDir, w.User.Username
	}
	return []string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "SHELL=/bin/bash",
		"PATH=" + systemPath, "LANG=C.UTF-8", "TERM=xterm",
		"HTTP=" + w.HTTP, "EVAL=" + Base,
	}
}

// scriptFile writes a story's script where the login user can read it.
// The background story says when it has copied and waits, on a FIFO (no
// polling execs in the recording), to be told to archive: the runner
// tells it once every other story is done and two minutes have passed.
func (w *World) scriptFile(s *Story, name, body string) (string, error) {
	if s.Background {
		fifo := filepath.Join(Base, "run", s.Name+".proceed")
		os.Remove(fifo)
		if err := syscall.Mkfifo(fifo, 0o666); err != nil {
			return "", err
		}
		os.Chmod(fifo, 0o666)
		body = strings.Replace(body, "\nsleep 120\n", fmt.Sprintf(
			"\n: >\"$EVAL/run/%[1]s.waiting\"\nread -r _ <\"$EVAL/run/%[1]s.proceed\"\n", s.Name), 1)
	}
	path := filepath.Join(Base, "run", name+".sh")
	return path, os.WriteFile(path, []byte("set -e\n"+body), 0o644)
}

// start runs a story's script: a login user's on a pty in a session of
// its own with a login uid (as sshd or login would leave it), root's in a
// process tree and session of its own with no login uid (as a service or
// cron job runs).
func (w *World) start(s *Story, log io.Writer) (*running, error) {
	path, err := w.scriptFile(s, s.Name, s.Script)
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch s.As {
	case User:
		inner := fmt.Sprintf("setpriv --reuid=%d --regid=%d --init-groups env -i %s bash --noprofile --norc %s",
			w.UID, w.GID, shellQuoteAll(w.env(s)), path)
		cmd = exec.Command("setsid", "bash", "-c",
			`echo "$0" >/proc/self/loginuid && cd "$1" && exec script -qec "$2" /dev/null`,
			strconv.Itoa(w.UID), w.User.HomeDir, inner)
		cmd.Env = w.env(s)
	case Root:
		if err := loginUIDUnset(); err != nil {
			return nil, err
		}
		cmd = exec.Command("setsid", "bash", path)
		cmd.Dir = "/root"
		cmd.Env = w.env(s)
	default:
		return nil, fmt.Errorf("story %s: unknown actor %q", s.Name, s.As)
	}
	return launch(cmd, s.Name, log)
}

// startDaemon starts a story's service: root, no login uid, its own
// process group.
func (w *World) startDaemon(s *Story, log io.Writer) (*running, error) {
	path, err := w.scriptFile(s, s.Name+".daemon", s.Daemon)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", path)
	cmd.Dir = "/"
	cmd.Env = w.env(s)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return launch(cmd, s.Name+" (daemon)", log)
}

func launch(cmd *exec.Cmd, name string, log io.Writer) (*running, error) {
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, done: make(chan error, 1), out: out, name: name, log: log}
	go func() { r.done <- cmd.Wait() }()
	return r, nil
}

// root tells the fork tracker, if any, that r's tree is story's.
func (w *World) root(story string, r *running) {
	if w.forks != nil {
		w.forks.AddRoot(story, r.cmd.Process.Pid)
	}
}

// loginUIDUnset checks that processes started from here have no login
// uid, so a root story runs as services and cron jobs do. A runner started
// from a login session (ssh, sudo on a terminal) has one, which its
// children cannot drop; start it from a service instead (systemd-run
// --pty, a CI runner's service).
func loginUIDUnset() error {
	data, err := os.ReadFile("/proc/self/loginuid")
	if err != nil {
		return err
	}
	if v := strings.TrimSpace(string(data)); v != "4294967295" {
		return fmt.Errorf("the runner has login uid %s; root stories need a process with none (run it under systemd-run --pty or a service)", v)
	}
	return nil
}

// proceed releases the story waiting on the FIFO at path.
func proceed(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("go\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func waitFile(path string, r *running, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if r.exited() {
			r.wait()
			return fmt.Errorf("exited before %s appeared", path)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func shellQuoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func kernel() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
