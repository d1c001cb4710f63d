package eval

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/testenv"
)

const fixtures = "../testdata/eval"

// buildStagewatchd builds the daemon and its Linux plugin as make build
// does, into a directory of the test's.
func buildStagewatchd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range [][2]string{
		{filepath.Join(dir, "stagewatchd"), "../../../host/cmd/stagewatchd"},
		{filepath.Join(dir, "plugins", "stagewatch-linux"), "../../../plugins/linux"},
	} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return filepath.Join(dir, "stagewatchd")
}

// TestEval is `make eval` inside `make test`: the recorded stories
// replayed always, and run live when the test runs as root.
func TestEval(t *testing.T) {
	bin := buildStagewatchd(t)
	t.Run("replay", func(t *testing.T) {
		rep, err := RunReplay(bin, fixtures)
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep)
	})
	t.Run("live", func(t *testing.T) {
		testenv.RequireRoot(t, "the stories run as a login user and as root, through the live audit and fanotify sensors")
		testenv.RequireTool(t, "auditctl", "setpriv", "script", "setsid", "useradd", "sudo", "dpkg-deb", "apt-get",
			"rsync", "7z", "zip", "unzip", "xz", "gpg", "vim", "git", "curl", "make", "gcc", "go", "node", "npm",
			"python3", "logrotate", "ssh-keygen", "sort")
		if err := loginUIDUnset(); err != nil {
			testenv.Unavailable(t, "%v", err)
		}
		if pid, err := auditPID(); err != nil || pid != "0" {
			testenv.Unavailable(t, "the audit socket is owned (pid %s, %v): the live evaluation reads what AN0041 collects itself", pid, err)
		}
		var log strings.Builder
		start := time.Now()
		rep, err := RunLive(bin, &log)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		t.Logf("live evaluation took %s", time.Since(start).Round(time.Second))
		if rep.Failed() {
			t.Logf("stories' output:\n%s", log.String())
		}
		check(t, rep)
	})
}

func check(t *testing.T, rep *Report) {
	t.Helper()
	var table strings.Builder
	rep.Print(&table)
	t.Log(table.String())
	if rep.Failed() {
		t.Errorf("%s evaluation: a story was missed or judged wrong, or an alert was raised (table above)", rep.Mode)
	}
}

// Attribution and judgement, on detections made up for the purpose.
func TestJudge(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	sched := &Schedule{Slots: []Slot{
		{Story: "dev-c-build", Start: t0, End: t0.Add(2 * time.Second)},
		{Story: "stage-documents-cp-tar-tmp", Start: t0.Add(3 * time.Second), End: t0.Add(4 * time.Second)},
	}}
	at := func(d time.Duration) string {
		return `[{"time":"` + t0.Add(d).Format(time.RFC3339Nano) + `","kind":"exec","note":"archive step (tar)"}]`
	}
	ok := Detection{StagingPath: "/tmp/.q3-review", ArchivePath: "/tmp/.q3-review.tgz", FileCount: 5, Evidence: at(3500 * time.Millisecond)}
	for _, tc := range []struct {
		name    string
		ds      []Detection
		problem string // in the staging story's problems, or "" for none
	}{
		{"detected", []Detection{ok}, ""},
		{"missed", nil, "missed /tmp/.q3-review"},
		{"duplicate", []Detection{ok, ok}, "duplicate"},
		{"wrong count", []Detection{func() Detection { d := ok; d.FileCount = 4; return d }()}, "file_count 4, want 5"},
		{"wrong archive", []Detection{func() Detection { d := ok; d.ArchivePath = "/tmp/x.zip"; return d }()}, "archive_path /tmp/x.zip"},
		{"late by the live skew", []Detection{func() Detection { d := ok; d.Evidence = at(4250 * time.Millisecond); return d }()}, ""},
	} {
		rep := Evaluate("test", sched, tc.ds, nil)
		var staging *Result
		for i := range rep.Results {
			if rep.Results[i].Story.Name == "stage-documents-cp-tar-tmp" {
				staging = &rep.Results[i]
			}
		}
		got := strings.Join(staging.Problems, "; ")
		if tc.problem == "" && got != "" || tc.problem != "" && !strings.Contains(got, tc.problem) {
			t.Errorf("%s: problems %q, want %q", tc.name, got, tc.problem)
		}
	}
	// A detection in a benign activity's slot is an alert; one in no slot
	// is attributed to no story.
	alert := ok
	alert.Evidence = at(time.Second)
	stray := ok
	stray.Evidence = at(time.Hour)
	rep := Evaluate("test", sched, []Detection{alert, stray}, nil)
	if len(rep.Unassigned) != 1 || !rep.Failed() {
		t.Errorf("unassigned %d, failed %v", len(rep.Unassigned), rep.Failed())
	}
	for _, r := range rep.Results {
		if r.Story.Name == "dev-c-build" && (len(r.Got) != 1 || len(r.Problems) == 0) {
			t.Errorf("the alert in dev-c-build: got %d, problems %v", len(r.Got), r.Problems)
		}
	}
}

// Every staging story expects something, and no benign one does; names are
// unique; a user story and a root story of each kind exist.
func TestStoriesLabelled(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	kinds := map[string]bool{}
	for _, s := range Stories {
		if seen[s.Name] {
			t.Errorf("story %s twice", s.Name)
		}
		seen[s.Name] = true
		kinds[s.Kind+"/"+s.As] = true
		if (s.Kind == Staging) != (len(s.Expect) > 0) {
			t.Errorf("%s: kind %s with %d expected detections", s.Name, s.Kind, len(s.Expect))
		}
		if s.Background && !strings.Contains(s.Script, "\nsleep 120\n") {
			t.Errorf("%s: a background story waits with sleep 120, which the runner replaces", s.Name)
		}
	}
	for _, k := range []string{"staging/user", "staging/root", "benign/user", "benign/root"} {
		if !kinds[k] {
			t.Errorf("no %s story", k)
		}
	}
}

// Live, the process tree decides: a detection from a tree the suite did
// not start is someone else's, whatever slot it falls in.
func TestJudgeByProcessTree(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	sched := &Schedule{Slots: []Slot{{Story: "dev-c-build", Start: t0, End: t0.Add(time.Minute)}}}
	ev := func(pid int) string {
		return fmt.Sprintf(`[{"time":%q,"kind":"exec","pid":%d,"note":"archive step (tar)"}]`, t0.Add(time.Second).Format(time.RFC3339Nano), pid)
	}
	origin := func(pid int64) (string, bool) {
		switch pid {
		case 100:
			return "stage-documents-cp-tar-tmp", true
		case 200:
			return "", true // a tree the suite did not start
		}
		return "", false
	}
	ok := Detection{StagingPath: "/tmp/.q3-review", ArchivePath: "/tmp/.q3-review.tgz", FileCount: 5, Evidence: ev(100)}
	foreign := ok
	foreign.Evidence = ev(200)
	rep := Evaluate("test", sched, []Detection{ok, foreign}, origin)
	for _, r := range rep.Results {
		switch r.Story.Name {
		case "stage-documents-cp-tar-tmp":
			// Out of its slot, in its tree: detected, though the story
			// did not run in this made-up schedule.
			if len(r.Got) != 1 || strings.Join(r.Problems, "; ") != "not run" {
				t.Errorf("%s: got %d, problems %v", r.Story.Name, len(r.Got), r.Problems)
			}
		case "dev-c-build":
			if len(r.Got) != 0 {
				t.Errorf("the foreign detection was blamed on dev-c-build")
			}
		}
	}
	if len(rep.Foreign) != 1 || len(rep.Unassigned) != 0 {
		t.Errorf("foreign %d, unassigned %d", len(rep.Foreign), len(rep.Unassigned))
	}
}

// The recording keeps the events of the stories' process trees, forks
// followed, and nothing else.
func TestKeepStories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "audit.log"), filepath.Join(dir, "kept.log")
	log := `type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=56 success=yes exit=11 ppid=1 pid=10 auid=4294967295 uid=0 exe="/usr/bin/bash" key="stagewatch_eval_fork"
type=SYSCALL msg=audit(1.001:2): arch=c000003e syscall=59 success=yes exit=0 ppid=10 pid=11 auid=4294967295 uid=0 exe="/usr/bin/tar" key="stagewatch_exec"
type=EXECVE msg=audit(1.001:2): argc=2 a0="tar" a1="czf"
type=EXECVE msg=audit(1.002:3): argc=1 a0="true"
type=SYSCALL msg=audit(1.002:3): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=99 auid=4294967295 uid=0 exe="/usr/bin/true" key="stagewatch_exec"
type=SYSCALL msg=audit(1.003:4): arch=c000003e syscall=56 success=yes exit=12 ppid=1 pid=99 auid=4294967295 uid=0 exe="/usr/bin/bash" key="stagewatch_eval_fork"
type=SYSCALL msg=audit(1.004:5): arch=c000003e syscall=59 success=yes exit=0 ppid=99 pid=12 auid=4294967295 uid=0 exe="/usr/bin/zip" key="stagewatch_exec"
`
	if err := os.WriteFile(src, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	kept, dropped, err := KeepStories(src, dst, []int{10})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dst)
	want := "type=SYSCALL msg=audit(1.001:2): arch=c000003e syscall=59 success=yes exit=0 ppid=10 pid=11 auid=4294967295 uid=0 exe=\"/usr/bin/tar\" key=\"stagewatch_exec\"\ntype=EXECVE msg=audit(1.001:2): argc=2 a0=\"tar\" a1=\"czf\"\n"
	if string(data) != want || kept != 2 || dropped != 5 {
		t.Errorf("kept %d, dropped %d:\n%s", kept, dropped, data)
	}
}
