package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the verdict on one story in one mode.
type Result struct {
	Story    *Story
	Got      []Detection // detections attributed to the story
	Problems []string    // empty: the story passed
}

// Report is one mode's evaluation.
type Report struct {
	Mode       string // live or replay
	Results    []Result
	Unassigned []Detection // detections in no story's slot
	// Foreign are live detections whose archive step ran in a process tree
	// the suite did not start (someone else's work on the machine): listed,
	// not judged.
	Foreign  []Detection
	Duration time.Duration
}

// Failed reports whether anything was missed, wrong, duplicated or raised
// where nothing should be.
func (r *Report) Failed() bool {
	if len(r.Unassigned) > 0 {
		return true
	}
	for _, res := range r.Results {
		if len(res.Problems) > 0 {
			return true
		}
	}
	return false
}

// Origin says which story's process tree a pid is in; known is false when
// it cannot tell.
type Origin func(pid int64) (story string, known bool)

// Evaluate attributes each detection to a story, by the process tree its
// archive step ran in where origin can tell (live), else by the slot that
// holds its archive step's time, and judges every story against its label.
func Evaluate(mode string, sched *Schedule, ds []Detection, origin Origin) *Report {
	rep := &Report{Mode: mode}
	byStory := map[string][]Detection{}
	for _, d := range ds {
		t, pid := archiveStep(d)
		if origin != nil && pid > 0 {
			if name, known := origin(pid); name != "" {
				byStory[name] = append(byStory[name], d)
				continue
			} else if known {
				rep.Foreign = append(rep.Foreign, d)
				continue
			}
		}
		if name := sched.StoryAt(t); name != "" {
			byStory[name] = append(byStory[name], d)
		} else {
			rep.Unassigned = append(rep.Unassigned, d)
		}
	}
	failed := map[string]bool{}
	for _, f := range sched.Failed {
		failed[f] = true
	}
	ran := map[string]bool{}
	for _, sl := range sched.Slots {
		ran[sl.Story] = true
	}
	for i := range Stories {
		s := &Stories[i]
		res := Result{Story: s, Got: byStory[s.Name]}
		if !ran[s.Name] {
			res.Problems = append(res.Problems, "not run")
		}
		if failed[s.Name] {
			res.Problems = append(res.Problems, "script failed")
		}
		res.Problems = append(res.Problems, judge(s, res.Got)...)
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// judge compares what a story raised with what its label expects.
func judge(s *Story, got []Detection) []string {
	var problems []string
	used := make([]bool, len(got))
	for _, e := range s.Expect {
		var match []int
		for i, d := range got {
			if samePath(d.StagingPath, e.StagingPath) {
				match = append(match, i)
			}
		}
		if len(match) == 0 {
			problems = append(problems, "missed "+e.StagingPath)
			continue
		}
		if len(match) > 1 {
			problems = append(problems, fmt.Sprintf("%d detections of %s (duplicate)", len(match), e.StagingPath))
		}
		for _, i := range match {
			used[i] = true
		}
		problems = append(problems, wrong(e, got[match[0]])...)
	}
	for i, d := range got {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("alert %s → %s (%d files, %s)", d.StagingPath, d.ArchivePath, d.FileCount, d.Severity))
		}
	}
	return problems
}

// wrong says where a detection differs from its label.
func wrong(e Expected, d Detection) []string {
	var p []string
	okArchive := false
	for _, a := range e.ArchivePaths {
		okArchive = okArchive || d.ArchivePath == a
	}
	if !okArchive {
		p = append(p, fmt.Sprintf("archive_path %s, want %s", d.ArchivePath, strings.Join(e.ArchivePaths, " or ")))
	}
	if d.FileCount != e.FileCount {
		p = append(p, fmt.Sprintf("file_count %d, want %d", d.FileCount, e.FileCount))
	}
	if e.Severity != "" && d.Severity != e.Severity {
		p = append(p, fmt.Sprintf("severity %s, want %s", d.Severity, e.Severity))
	}
	if e.Secrets != 0 {
		if n := secretsIn(d.Reason); n != e.Secrets {
			p = append(p, fmt.Sprintf("%d keys or secrets, want %d", n, e.Secrets))
		}
	}
	if e.EncryptedBy != "" && !strings.Contains(d.Reason, "then encrypted it with "+e.EncryptedBy) {
		p = append(p, "no encryption update by "+e.EncryptedBy)
	}
	return p
}

var secretsRe = regexp.MustCompile(`(\d+) (?:key or secret|keys or secrets)\b`)

// secretsIn is how many keys or secrets a detection's reason counts.
func secretsIn(reason string) int {
	m := secretsRe.FindStringSubmatch(reason)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func samePath(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// archiveStep is when a detection's archive step ran and its pid: its
// evidence's archive step (millisecond stamps), else the detection's time.
func archiveStep(d Detection) (time.Time, int64) {
	var evidence []struct {
		Time time.Time `json:"time"`
		PID  int64     `json:"pid"`
		Note string    `json:"note"`
	}
	if json.Unmarshal([]byte(d.Evidence), &evidence) == nil {
		for _, e := range evidence {
			if strings.HasPrefix(e.Note, "archive step") {
				return e.Time, e.PID
			}
		}
	}
	return time.Unix(d.Time, 0), 0
}

// Print writes the table of one mode and its totals.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%s evaluation (%s)\n", r.Mode, r.Duration.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "story\tkind\tas\texpected\tdetected/alerts\tverdict")
	stories, detected, benign, alerts := 0, 0, 0, 0
	for _, res := range r.Results {
		s := res.Story
		expected := "none"
		if s.Kind == Staging {
			stories++
			var ex []string
			for _, e := range s.Expect {
				ex = append(ex, fmt.Sprintf("%s (%d)", e.StagingPath, e.FileCount))
			}
			expected = strings.Join(ex, ", ")
		} else {
			benign++
			alerts += len(res.Got)
		}
		got := fmt.Sprint(len(res.Got))
		if s.Kind == Staging && len(res.Got) > 0 {
			var g []string
			for _, d := range res.Got {
				g = append(g, fmt.Sprintf("%s→%s (%d, %s)", d.StagingPath, d.ArchivePath, d.FileCount, d.Severity))
			}
			got = strings.Join(g, ", ")
		}
		verdict := "ok"
		if len(res.Problems) > 0 {
			verdict = "FAIL: " + strings.Join(res.Problems, "; ")
		} else if s.Kind == Staging {
			detected++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, s.As, expected, got, verdict)
	}
	tw.Flush()
	for _, d := range r.Unassigned {
		fmt.Fprintf(w, "FAIL: detection in no story: %s → %s (%d files) by %s: %s\n", d.StagingPath, d.ArchivePath, d.FileCount, d.Process, d.Reason)
	}
	for _, d := range r.Foreign {
		fmt.Fprintf(w, "not the suite's (a process tree it did not start): %s → %s (%d files) by %s\n", d.StagingPath, d.ArchivePath, d.FileCount, d.Process)
	}
	fmt.Fprintf(w, "%s totals: stories detected %d/%d, benign alerts %d (in %d activities), unattributed %d\n",
		r.Mode, detected, stories, alerts, benign, len(r.Unassigned))
}
