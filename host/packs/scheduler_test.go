package packs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// tableSource is a host.TableSource serving tables from memory; tests
// change its rows between runs the way a plugin's buffer changes.
type tableSource struct {
	mu   sync.Mutex
	rows map[string][]sdk.Row
	hang bool // Generate blocks until its context ends, like a stuck plugin
}

var analyticsLite = sdk.TableSpec{
	Name: "staging_analytics",
	Columns: []sdk.ColumnSpec{
		{Name: "analytic_id", Type: sdk.ColumnText},
		{Name: "state", Type: sdk.ColumnText},
		{Name: "events_seen", Type: sdk.ColumnBigInt},
	},
}

func (s *tableSource) Tables() []sdk.TableSpec {
	return []sdk.TableSpec{analyticsLite, schema.DetectionsTable}
}

func (s *tableSource) set(table string, rows ...sdk.Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		s.rows = make(map[string][]sdk.Row)
	}
	s.rows[table] = rows
}

func (s *tableSource) Generate(ctx context.Context, table string, _ []sdk.Constraint, emit func([]sdk.Row) error) error {
	s.mu.Lock()
	rows := slices.Clone(s.rows[table])
	hang := s.hang
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if !slices.ContainsFunc(s.Tables(), func(t sdk.TableSpec) bool { return t.Name == table }) {
		return fmt.Errorf("unknown table %q", table)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return emit(rows)
}

func det(uid, path string) sdk.Row {
	return sdk.Row{"uid": uid, "time": "1794887000", "analytic_id": "AN0041", "staging_path": path, "severity": "high"}
}

func newEngine(t *testing.T, src *tableSource) *sqlengine.Engine {
	t.Helper()
	e, err := sqlengine.Open(t.Context(), src, sqlengine.Options{QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustPack(t *testing.T, name, body string) *Pack {
	t.Helper()
	p, err := ParsePack(name, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// resultLine is a parsed result-log line.
type resultLine struct {
	Name           string              `json:"name"`
	HostIdentifier string              `json:"hostIdentifier"`
	CalendarTime   string              `json:"calendarTime"`
	UnixTime       int64               `json:"unixTime"`
	Epoch          uint64              `json:"epoch"`
	Counter        uint64              `json:"counter"`
	Numerics       bool                `json:"numerics"`
	Decorations    map[string]string   `json:"decorations"`
	Columns        map[string]string   `json:"columns"`
	Snapshot       []map[string]string `json:"snapshot"`
	Action         string              `json:"action"`
}

// outBuf collects the result log and hands out what each run added.
type outBuf struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	read int
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *outBuf) next(t *testing.T) []resultLine {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	chunk := o.buf.Bytes()[o.read:]
	o.read = o.buf.Len()
	var out []resultLine
	for line := range bytes.Lines(chunk) {
		var r resultLine
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("bad result line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func summary(lines []resultLine) []string {
	var out []string
	for _, l := range lines {
		out = append(out, fmt.Sprintf("%s %d %s", l.Action, l.Counter, l.Columns["uid"]))
	}
	return out
}

const detectionsPack = `{"queries":{
  "detections":{"query":"SELECT uid, staging_path FROM staging_detections WHERE severity = 'high'","interval":60},
  "detections_added_only":{"query":"SELECT uid FROM staging_detections","interval":60,"removed":false},
  "volume":{"query":"SELECT COUNT(*) AS n FROM staging_detections","interval":300,"snapshot":true}
}}`

func newScheduler(t *testing.T, src *tableSource, out *outBuf, stateDir string, mod func(*SchedulerOptions)) *Scheduler {
	t.Helper()
	opts := SchedulerOptions{
		Engine:         newEngine(t, src),
		Packs:          []*Pack{mustPack(t, "det0014", detectionsPack)},
		Platform:       "linux",
		HostIdentifier: "web-1",
		Out:            out,
		StateDir:       stateDir,
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewScheduler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDifferentialResults(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	s := newScheduler(t, src, out, "", nil)
	ctx := t.Context()
	run := func(name string) []string {
		t.Helper()
		if err := s.RunOnce(ctx, name); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		return summary(out.next(t))
	}
	const q = "pack_det0014_detections"

	src.set(schema.Detections, det("a", "/tmp/s1"), det("b", "/tmp/s2"))
	if got := run(q); fmt.Sprint(got) != "[added 0 a added 0 b]" {
		t.Errorf("first run = %v", got)
	}
	if got := run(q); len(got) != 0 {
		t.Errorf("unchanged run logged %v", got)
	}
	src.set(schema.Detections, det("b", "/tmp/s2"), det("c", "/tmp/s3"))
	if got := run(q); fmt.Sprint(got) != "[removed 1 a added 1 c]" {
		t.Errorf("third run = %v", got)
	}
	// Duplicate rows are a multiset: a second identical row is one more "added".
	src.set(schema.Detections, det("b", "/tmp/s2"), det("c", "/tmp/s3"), det("c", "/tmp/s3"))
	if got := run(q); fmt.Sprint(got) != "[added 2 c]" {
		t.Errorf("duplicate run = %v", got)
	}
	src.set(schema.Detections)
	if got := run(q); fmt.Sprint(got) != "[removed 3 b removed 3 c removed 3 c]" {
		t.Errorf("emptied run = %v", got)
	}

	st := s.Stats()
	qs := st.Queries[slices.IndexFunc(st.Queries, func(q QueryStats) bool { return q.Name == "pack_det0014_detections" })]
	if qs.Runs != 5 || qs.Errors != 0 || qs.LinesWritten != 8 || qs.LastRows != 0 || qs.Pack != "det0014" {
		t.Errorf("stats = %+v", qs)
	}
}

func TestRemovedFalseSuppressesRemovedLines(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	s := newScheduler(t, src, out, "", nil)
	const q = "pack_det0014_detections_added_only"
	src.set(schema.Detections, det("a", "/tmp/s"))
	s.RunOnce(t.Context(), q)
	if got := summary(out.next(t)); fmt.Sprint(got) != "[added 0 a]" {
		t.Errorf("first = %v", got)
	}
	src.set(schema.Detections, det("b", "/tmp/s"))
	s.RunOnce(t.Context(), q)
	if got := summary(out.next(t)); fmt.Sprint(got) != "[added 1 b]" {
		t.Errorf("second = %v", got)
	}
	// Only a removal: nothing to log, but the counter still advances as osquery's does.
	src.set(schema.Detections)
	s.RunOnce(t.Context(), q)
	if got := out.next(t); len(got) != 0 {
		t.Errorf("removal-only run logged %v", got)
	}
	src.set(schema.Detections, det("c", "/tmp/s"))
	s.RunOnce(t.Context(), q)
	if got := summary(out.next(t)); fmt.Sprint(got) != "[added 3 c]" {
		t.Errorf("fourth = %v", got)
	}
}

func TestSnapshotLines(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	s := newScheduler(t, src, out, "", nil)
	for _, n := range []int{0, 2, 2} {
		rows := make([]sdk.Row, n)
		for i := range rows {
			rows[i] = det(fmt.Sprint(i), "/tmp/x")
		}
		src.set(schema.Detections, rows...)
		if err := s.RunOnce(t.Context(), "pack_det0014_volume"); err != nil {
			t.Fatal(err)
		}
		lines := out.next(t)
		if len(lines) != 1 {
			t.Fatalf("snapshot run wrote %d lines", len(lines))
		}
		l := lines[0]
		if l.Action != "snapshot" || l.Counter != 0 || l.Columns != nil ||
			fmt.Sprint(l.Snapshot) != fmt.Sprintf("[map[n:%d]]", n) {
			t.Errorf("snapshot line = %+v", l)
		}
	}
}

// The exact bytes of one line of each kind, field order included, as
// osquery 5 writes them with --logger_numerics=false.
func TestResultLineGolden(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	at := time.Unix(1794023520, 0) // a single-digit day: asctime pads with a space
	s := newScheduler(t, src, out, "", func(o *SchedulerOptions) {
		o.Now = func() time.Time { return at }
		o.Decorations = map[string]string{"username": "root", "host_uuid": "4c4c4544"}
	})
	src.set(schema.Detections, det("a&<b>", "/tmp/s"))
	if err := s.RunAllOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := `{"name":"pack_det0014_detections","hostIdentifier":"web-1","calendarTime":"Sat Nov  7 03:52:00 2026 UTC","unixTime":1794023520,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"4c4c4544","username":"root"},"columns":{"staging_path":"/tmp/s","uid":"a&<b>"},"action":"added"}
{"name":"pack_det0014_detections_added_only","hostIdentifier":"web-1","calendarTime":"Sat Nov  7 03:52:00 2026 UTC","unixTime":1794023520,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"4c4c4544","username":"root"},"columns":{"uid":"a&<b>"},"action":"added"}
{"snapshot":[{"n":"1"}],"action":"snapshot","name":"pack_det0014_volume","hostIdentifier":"web-1","calendarTime":"Sat Nov  7 03:52:00 2026 UTC","unixTime":1794023520,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"4c4c4544","username":"root"}}
`
	out.mu.Lock()
	got := out.buf.String()
	out.mu.Unlock()
	if got != want {
		t.Errorf("result log:\n%s\nwant:\n%s", got, want)
	}
}

func TestNoDecorationsOmitsKey(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	s := newScheduler(t, src, out, "", nil)
	src.set(schema.Detections, det("a", "/tmp/s"))
	s.RunOnce(t.Context(), "pack_det0014_detections")
	out.mu.Lock()
	defer out.mu.Unlock()
	if strings.Contains(out.buf.String(), "decorations") {
		t.Errorf("empty decorations logged: %s", out.buf.String())
	}
}

func TestPlatformAndShardSelection(t *testing.T) {
	t.Parallel()
	const body = `{"queries":{
	  "everywhere":{"query":"SELECT 1","interval":10},
	  "linux_only":{"query":"SELECT 1","interval":10,"platform":"linux"},
	  "posix":{"query":"SELECT 1","interval":10,"platform":"posix"},
	  "windows_only":{"query":"SELECT 1","interval":10,"platform":"windows"},
	  "half_fleet":{"query":"SELECT 1","interval":10,"shard":50},
	  "new_osquery":{"query":"SELECT 1","interval":10,"version":"9.0.0"}
	}}`
	windowsPack := `{"platform":"windows","queries":{"evtx":{"query":"SELECT 1","interval":10}}}`
	tests := []struct {
		platform, host string
		want           []string
	}{
		// web-1 is shard 72, host-c shard 4 (see TestMachineShard).
		{"linux", "web-1", []string{"everywhere", "linux_only", "posix"}},
		{"linux", "host-c", []string{"everywhere", "half_fleet", "linux_only", "posix"}},
		{"darwin", "host-c", []string{"everywhere", "half_fleet", "posix"}},
		{"windows", "host-c", []string{"everywhere", "half_fleet", "windows_only", "evtx"}},
	}
	for _, tc := range tests {
		t.Run(tc.platform+"/"+tc.host, func(t *testing.T) {
			t.Parallel()
			s, err := NewScheduler(SchedulerOptions{
				Engine:         newEngine(t, &tableSource{}),
				Packs:          []*Pack{mustPack(t, "p", body), mustPack(t, "win", windowsPack)},
				Platform:       tc.platform,
				HostIdentifier: tc.host,
				OsqueryVersion: "5.12.1",
				Out:            &outBuf{},
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range s.Scheduled() {
				got = append(got, strings.TrimPrefix(strings.TrimPrefix(n, "pack_p_"), "pack_win_"))
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("scheduled %v, want %v (skipped: %v)", got, want, s.Stats().NotScheduled)
			}
			if err := s.RunOnce(t.Context(), "pack_p_new_osquery"); err == nil || !strings.Contains(err.Error(), "needs version 9.0.0") {
				t.Errorf("RunOnce of a filtered query: %v", err)
			}
		})
	}
}

func TestStatePersistsAcrossRestarts(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	dir := filepath.Join(t.TempDir(), "state")
	const q = "pack_det0014_detections"
	run := func(s *Scheduler, out *outBuf) []string {
		t.Helper()
		if err := s.RunOnce(t.Context(), q); err != nil {
			t.Fatal(err)
		}
		return summary(out.next(t))
	}

	out1 := &outBuf{}
	s1 := newScheduler(t, src, out1, dir, nil)
	src.set(schema.Detections, det("a", "/tmp/s"), det("b", "/tmp/s"))
	if got := run(s1, out1); fmt.Sprint(got) != "[added 0 a added 0 b]" {
		t.Fatalf("first = %v", got)
	}
	splay := s1.Stats().Queries[0].SplayedInterval

	// A restart with unchanged rows reports nothing and keeps the splay.
	out2 := &outBuf{}
	s2 := newScheduler(t, src, out2, dir, nil)
	if got := run(s2, out2); len(got) != 0 {
		t.Errorf("restart re-reported %v", got)
	}
	if got := s2.Stats().Queries[0].SplayedInterval; got != splay {
		t.Errorf("splay after restart = %d, want %d", got, splay)
	}
	src.set(schema.Detections, det("b", "/tmp/s"))
	if got := run(s2, out2); fmt.Sprint(got) != "[removed 1 a]" {
		t.Errorf("after restart = %v", got)
	}

	// A changed query text keeps the baseline but restarts the counter.
	out3 := &outBuf{}
	s3 := newScheduler(t, src, out3, dir, func(o *SchedulerOptions) {
		o.Packs = []*Pack{mustPack(t, "det0014", strings.Replace(detectionsPack, "severity = 'high'", "severity IN ('high')", 1))}
	})
	src.set(schema.Detections, det("b", "/tmp/s"), det("c", "/tmp/s"))
	if got := run(s3, out3); fmt.Sprint(got) != "[added 0 c]" {
		t.Errorf("changed query = %v", got)
	}

	// A new epoch restarts the differential: everything is added again.
	out4 := &outBuf{}
	s4 := newScheduler(t, src, out4, dir, func(o *SchedulerOptions) { o.Epoch = 7 })
	if err := s4.RunOnce(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	lines := out4.next(t)
	if fmt.Sprint(summary(lines)) != "[added 0 b added 0 c]" || lines[0].Epoch != 7 {
		t.Errorf("new epoch = %v", lines)
	}

	// A corrupt state file is counted and costs one full report, not the query.
	if err := os.WriteFile(stateFile(dir, q), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	out5 := &outBuf{}
	s5 := newScheduler(t, src, out5, dir, nil)
	if got := run(s5, out5); fmt.Sprint(got) != "[added 0 b added 0 c]" {
		t.Errorf("after corrupt state = %v", got)
	}
	if s5.Stats().StateErrors != 1 {
		t.Errorf("StateErrors = %d", s5.Stats().StateErrors)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// failingWriter fails while broken is set.
type failingWriter struct {
	outBuf
	broken bool
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.broken {
		return 0, errors.New("disk full")
	}
	return f.outBuf.Write(p)
}

func TestWriteErrorsAreCountedAndRetried(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	w := &failingWriter{broken: true}
	s, err := NewScheduler(SchedulerOptions{
		Engine: newEngine(t, src), Packs: []*Pack{mustPack(t, "det0014", detectionsPack)},
		Platform: "linux", HostIdentifier: "web-1", Out: w,
	})
	if err != nil {
		t.Fatal(err)
	}
	src.set(schema.Detections, det("a", "/tmp/s"))
	err = s.RunOnce(t.Context(), "pack_det0014_detections")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("RunOnce on a broken writer: %v", err)
	}
	if st := s.Stats(); st.WriteErrors != 1 || st.Queries[0].Errors != 1 {
		t.Errorf("stats = %+v", st)
	}
	w.broken = false
	if err := s.RunOnce(t.Context(), "pack_det0014_detections"); err != nil {
		t.Fatal(err)
	}
	if got := summary(w.next(t)); fmt.Sprint(got) != "[added 0 a]" {
		t.Errorf("retried run = %v", got)
	}
}

func TestBufferedOutputIsFlushedPerRun(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	var sink outBuf
	bw := bufio.NewWriterSize(&sink, 1<<20)
	s, err := NewScheduler(SchedulerOptions{
		Engine: newEngine(t, src), Packs: []*Pack{mustPack(t, "det0014", detectionsPack)},
		Platform: "linux", HostIdentifier: "web-1", Out: bw,
	})
	if err != nil {
		t.Fatal(err)
	}
	src.set(schema.Detections, det("a", "/tmp/s"))
	s.RunOnce(t.Context(), "pack_det0014_detections")
	if got := summary(sink.next(t)); fmt.Sprint(got) != "[added 0 a]" {
		t.Errorf("flushed = %v", got)
	}
}

// Run keeps the schedule going when a query fails and stops when ctx ends.
func TestRunSurvivesFailingQueries(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	src.set(schema.Detections, det("a", "/tmp/s"))
	out := &outBuf{}
	const body = `{"queries":{
	  "broken":{"query":"SELECT * FROM staging_missing","interval":1},
	  "good":{"query":"SELECT uid FROM staging_detections","interval":1,"snapshot":true}
	}}`
	s := newScheduler(t, src, out, "", func(o *SchedulerOptions) {
		o.Packs = []*Pack{mustPack(t, "p", body)}
		o.ImmediateFirstRun = true
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Run returned %s after its context ended", took)
	}
	st := s.Stats()
	var broken, good QueryStats
	for _, q := range st.Queries {
		switch q.Name {
		case "pack_p_broken":
			broken = q
		case "pack_p_good":
			good = q
		}
	}
	// Immediate run, then at t≈1 s and t≈2 s: three runs each (two on a very slow machine).
	if good.Runs < 2 || good.Runs > 4 || good.Errors != 0 {
		t.Errorf("good = %+v", good)
	}
	if broken.Runs != good.Runs || broken.Errors != broken.Runs || !strings.Contains(broken.LastError, "no such table") {
		t.Errorf("broken = %+v", broken)
	}
	if n := len(out.next(t)); uint64(n) != good.Runs {
		t.Errorf("%d snapshot lines for %d runs", n, good.Runs)
	}
}

// A plugin stuck in Generate costs one query its timeout, not the schedule.
func TestHungTableFailsWithinBound(t *testing.T) {
	t.Parallel()
	src := &tableSource{hang: true}
	e, err := sqlengine.Open(t.Context(), src, sqlengine.Options{QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out := &outBuf{}
	s := newScheduler(t, src, out, "", func(o *SchedulerOptions) { o.Engine = e })
	start := time.Now()
	err = s.RunOnce(t.Context(), "pack_det0014_detections")
	if err == nil || !strings.Contains(err.Error(), "exceeded") || time.Since(start) > 3*time.Second {
		t.Fatalf("hung query: err=%v after %s", err, time.Since(start))
	}
	src.mu.Lock()
	src.hang = false
	src.mu.Unlock()
	src.set(schema.Detections, det("a", "/tmp/s"))
	if err := s.RunOnce(t.Context(), "pack_det0014_detections"); err != nil {
		t.Fatal(err)
	}
	if got := summary(out.next(t)); fmt.Sprint(got) != "[added 0 a]" {
		t.Errorf("after recovery = %v", got)
	}
	if q := s.Stats().Queries[0]; q.Runs != 2 || q.Errors != 1 {
		t.Errorf("stats = %+v", q)
	}
}

func TestDiscoveryGatesPack(t *testing.T) {
	t.Parallel()
	src := &tableSource{}
	out := &outBuf{}
	const body = `{"discovery":["SELECT 1 FROM staging_analytics WHERE state = 'running'"],
	  "queries":{"q":{"query":"SELECT uid FROM staging_detections","interval":60}}}`
	s := newScheduler(t, src, out, "", func(o *SchedulerOptions) {
		o.Packs = []*Pack{mustPack(t, "gated", body)}
		o.DiscoveryRefresh = time.Nanosecond // re-evaluate every tick
	})
	src.set(schema.Detections, det("a", "/tmp/s"))
	s.RunOnce(t.Context(), "pack_gated_q")
	if got := out.next(t); len(got) != 0 {
		t.Errorf("pack ran without discovery rows: %v", got)
	}
	src.set("staging_analytics", sdk.Row{"analytic_id": "AN0041", "state": "running"})
	s.RunOnce(t.Context(), "pack_gated_q")
	if got := summary(out.next(t)); fmt.Sprint(got) != "[added 0 a]" {
		t.Errorf("after discovery = %v", got)
	}
	if q := s.Stats().Queries[0]; q.SkippedByDiscovery != 1 || q.Runs != 1 {
		t.Errorf("stats = %+v", q)
	}
}

func TestSchedulerOptionErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewScheduler(SchedulerOptions{Out: &outBuf{}}); err == nil {
		t.Error("no engine accepted")
	}
	if _, err := NewScheduler(SchedulerOptions{Engine: newEngine(t, &tableSource{})}); err == nil {
		t.Error("no output accepted")
	}
	s := newScheduler(t, &tableSource{}, &outBuf{}, "", nil)
	if err := s.RunOnce(t.Context(), "pack_nope_q"); err == nil {
		t.Error("unknown query accepted")
	}
}

func TestNextTick(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 500)
	if got := nextTick(now, 60); got.Unix() != 1020 {
		t.Errorf("nextTick = %d, want 1020", got.Unix())
	}
	if got := nextTick(time.Unix(1020, 0), 60); got.Unix() != 1080 {
		t.Errorf("nextTick on a tick = %d, want the following one", got.Unix())
	}
}

func TestStateFileNames(t *testing.T) {
	t.Parallel()
	a := stateFile("/s", "pack_p_q")
	b := stateFile("/s", "pack_p/q")
	c := stateFile("/s", "../x")
	if a != "/s/pack_p_q.json" || a == b || filepath.Dir(b) != "/s" || filepath.Dir(c) != "/s" {
		t.Errorf("state files: %s %s %s", a, b, c)
	}
}

func TestDifferentialRule(t *testing.T) {
	t.Parallel()
	row := func(v string) map[string]string { return map[string]string{"uid": v} }
	rows := func(vs ...string) []map[string]string {
		out := make([]map[string]string, len(vs))
		for i, v := range vs {
			out[i] = row(v)
		}
		return out
	}
	uids := func(rs []map[string]string) string {
		var out []string
		for _, r := range rs {
			out = append(out, r["uid"])
		}
		return strings.Join(out, ",")
	}
	const sql, epoch = "SELECT uid FROM staging_detections", uint64(7)
	prev := &queryState{Query: sql, Epoch: epoch, Counter: 4, Rows: rows("a", "b")}
	tests := []struct {
		name       string
		prev       *queryState
		epoch      uint64
		sql        string
		logRemoved bool
		rows       []map[string]string
		// want
		log            bool
		added, removed string
		counter        uint64
		kept           string
	}{
		{"first run: every row added, counter 0", nil, epoch, sql, true, rows("a", "b"), true, "a,b", "", 0, "a,b"},
		{"first run with no rows still logs the start", nil, epoch, sql, true, nil, true, "", "", 0, ""},
		{"new epoch starts over", prev, epoch + 1, sql, true, rows("a", "c"), true, "a,c", "", 0, "a,c"},
		{"nothing changed: nothing logged", prev, epoch, sql, true, rows("b", "a"), false, "", "", 5, "a,b"},
		{"a row appeared", prev, epoch, sql, true, rows("a", "b", "c"), true, "c", "", 5, "a,b,c"},
		{"a row went", prev, epoch, sql, true, rows("a"), true, "", "b", 5, "a"},
		{"a row went, removals not logged", prev, epoch, sql, false, rows("a"), true, "", "", 5, "a"},
		{"the query changed: counter restarts, logged even unchanged", prev, epoch, sql + " WHERE 1", true, rows("a", "b"), true, "", "", 0, "a,b"},
		{"duplicates count as rows", prev, epoch, sql, true, rows("a", "b", "b"), true, "b", "", 5, "a,b,b"},
	}
	for _, tt := range tests {
		got := differential(tt.prev, tt.epoch, tt.sql, tt.logRemoved, tt.rows)
		if got.log != tt.log || uids(got.added) != tt.added || uids(got.removed) != tt.removed ||
			(tt.log && got.counter != tt.counter) || uids(got.rows) != tt.kept {
			t.Errorf("%s: got log %v added %q removed %q counter %d kept %q; want %v %q %q %d %q", tt.name,
				got.log, uids(got.added), uids(got.removed), got.counter, uids(got.rows), tt.log, tt.added, tt.removed, tt.counter, tt.kept)
		}
	}
}
