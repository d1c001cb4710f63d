package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Fixture file names in the fixtures directory (plugins/linux/testdata/eval).
const (
	FixtureLog      = "eval.audit.log.gz"
	FixtureSchedule = "schedule.json"
)

// RunLive prepares the machine, starts stagewatchd run, runs every story
// and evaluates what the daemon detected. The stories' output goes to log.
func RunLive(stagewatchd string, log io.Writer) (*Report, error) {
	started := time.Now()
	w, err := Prepare()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if w.forks, err = StartForks(); err != nil {
		return nil, err
	}
	defer w.forks.Close()
	live, err := StartLive(stagewatchd)
	if err != nil {
		return nil, err
	}
	defer live.Stop()
	sched, err := w.RunStories(log)
	if err != nil {
		return nil, err
	}
	ds, err := live.Detections()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "== AN0041 at the end: %s\n", live.Counters())
	logDetections(log, sched, ds)
	rep := Evaluate("live", sched, ds, w.forks.StoryOf)
	if n := w.forks.Overruns(); n > 0 {
		fmt.Fprintf(log, "== the fork tracker lost notifications %d times: detections fell back to their slots\n", n)
	}
	rep.Duration = time.Since(started)
	return rep, nil
}

// Record runs every story under a real auditd and writes the gzipped log
// and the schedule into dir.
func Record(dir string, log io.Writer) error {
	w, err := Prepare()
	if err != nil {
		return err
	}
	defer w.Close()
	rec, err := StartRecorder(filepath.Join(dir, "audit.log"))
	if err != nil {
		return err
	}
	defer rec.Remove()
	sched, err := w.RunStories(log)
	path := rec.Stop()
	if err != nil {
		return err
	}
	var roots []int
	for _, sl := range sched.Slots {
		roots = append(roots, sl.PIDs...)
	}
	stories := path + ".stories"
	kept, dropped, err := KeepStories(path, stories, roots)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "== recorded %d audit records of the stories, left out %d of the rest of the machine\n", kept, dropped)
	if err := gzipFile(stories, filepath.Join(dir, FixtureLog)); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(sched, "", "  ")
	return os.WriteFile(filepath.Join(dir, FixtureSchedule), append(data, '\n'), 0o644)
}

// RunReplay replays the recorded fixtures in dir and evaluates them
// against the schedule recorded with them.
func RunReplay(stagewatchd, dir string) (*Report, error) {
	started := time.Now()
	data, err := os.ReadFile(filepath.Join(dir, FixtureSchedule))
	if err != nil {
		return nil, err
	}
	var sched Schedule
	if err := json.Unmarshal(data, &sched); err != nil {
		return nil, fmt.Errorf("%s: %v", FixtureSchedule, err)
	}
	ds, err := Replay(stagewatchd, filepath.Join(dir, FixtureLog))
	if err != nil {
		return nil, err
	}
	// The fixture holds only the stories' process trees (KeepStories).
	rep := Evaluate("replay", &sched, ds, nil)
	rep.Duration = time.Since(started)
	return rep, nil
}

// DryRun runs the stories with no sensor and says which failed.
func DryRun(log io.Writer) error {
	w, err := Prepare()
	if err != nil {
		return err
	}
	defer w.Close()
	sched, err := w.RunStories(log)
	if err != nil {
		return err
	}
	if len(sched.Failed) > 0 {
		return fmt.Errorf("stories failed: %v", sched.Failed)
	}
	return nil
}

// logDetections writes the schedule and every detection with the time it
// was attributed by, for a reader checking the attribution.
func logDetections(log io.Writer, sched *Schedule, ds []Detection) {
	for _, sl := range sched.Slots {
		fmt.Fprintf(log, "== slot %s %s – %s\n", sl.Story, sl.Start.Format(time.RFC3339Nano), sl.End.Format(time.RFC3339Nano))
	}
	for _, d := range ds {
		data, _ := json.Marshal(d)
		t, pid := archiveStep(d)
		fmt.Fprintf(log, "== detection at %s (pid %d): %s\n", t.Format(time.RFC3339Nano), pid, data)
	}
}
