package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var base = time.Unix(1_700_000_000, 0)

func fileEvent(sec int, path string) *event.Event {
	return &event.Event{
		Time:    base.Add(time.Duration(sec) * time.Second),
		Kind:    event.KindFileCreate,
		Path:    path,
		Size:    int64(sec),
		Source:  "fanotify",
		Actor:   event.Actor{UID: 1000, EUID: 1000, AUID: 1000, TTY: "pts/0", Session: "3"},
		Process: event.Process{PID: int64(100 + sec), Exe: "/usr/bin/cp"},
	}
}

func cons(column string, op sdk.Operator, expr string) sdk.Constraint {
	return sdk.Constraint{Column: column, Op: op, Expr: expr}
}

func collect(t *testing.T, s *Tables, table string, cs ...sdk.Constraint) []sdk.Row {
	t.Helper()
	var rows []sdk.Row
	err := s.Generate(context.Background(), table, cs, func(b []sdk.Row) error {
		if len(b) == 0 || len(b) > store.BatchSize {
			t.Errorf("batch of %d rows", len(b))
		}
		rows = append(rows, b...)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate(%s): %v", table, err)
	}
	return rows
}

func values(rows []sdk.Row, name string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[name]
	}
	return out
}

func checkColumns(t *testing.T, spec sdk.TableSpec, rows []sdk.Row) {
	t.Helper()
	want := spec.ColumnNames()
	for _, r := range rows {
		if len(r) != len(want) {
			t.Fatalf("%s row has %d columns, want %d: %v", spec.Name, len(r), len(want), r)
		}
		for _, c := range want {
			v, ok := r[c]
			if !ok {
				t.Fatalf("%s row lacks column %s", spec.Name, c)
			}
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("%s.%s = %q is not clean text", spec.Name, c, v)
			}
		}
	}
}

func TestTimeConstraints(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{AnalyticID: "AN0041", Platform: "linux", Host: "h"})
	for sec := range 10 {
		s.AddFileEvent(fileEvent(sec, fmt.Sprintf("/tmp/x/%d", sec)), "/tmp/")
	}
	ts := func(sec int) string { return strconv.FormatInt(base.Unix()+int64(sec), 10) }
	tests := []struct {
		name string
		cs   []sdk.Constraint
		want []int // seconds after base
	}{
		{"none", nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"equals", []sdk.Constraint{cons("time", sdk.OpEquals, ts(3))}, []int{3}},
		{"greater", []sdk.Constraint{cons("time", sdk.OpGreaterThan, ts(7))}, []int{8, 9}},
		{"greater or equal", []sdk.Constraint{cons("time", sdk.OpGreaterThanOrEqual, ts(7))}, []int{7, 8, 9}},
		{"less", []sdk.Constraint{cons("time", sdk.OpLessThan, ts(2))}, []int{0, 1}},
		{"less or equal", []sdk.Constraint{cons("time", sdk.OpLessThanOrEquals, ts(2))}, []int{0, 1, 2}},
		{"range", []sdk.Constraint{cons("time", sdk.OpGreaterThan, ts(2)), cons("time", sdk.OpLessThanOrEquals, ts(5))}, []int{3, 4, 5}},
		{"empty range", []sdk.Constraint{cons("time", sdk.OpGreaterThan, ts(5)), cons("time", sdk.OpLessThan, ts(5))}, nil},
		{"fractional greater", []sdk.Constraint{cons("time", sdk.OpGreaterThan, ts(7)+".5")}, []int{8, 9}},
		{"fractional greater or equal", []sdk.Constraint{cons("time", sdk.OpGreaterThanOrEqual, ts(7)+".5")}, []int{8, 9}},
		{"fractional less", []sdk.Constraint{cons("time", sdk.OpLessThan, ts(2)+".5")}, []int{0, 1, 2}},
		{"fractional equals", []sdk.Constraint{cons("time", sdk.OpEquals, ts(2)+".5")}, nil},
		{"huge", []sdk.Constraint{cons("time", sdk.OpLessThan, "1e300")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"negative huge", []sdk.Constraint{cons("time", sdk.OpGreaterThan, "-1e300")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"not a number is left to the engine", []sdk.Constraint{cons("time", sdk.OpGreaterThan, "soon")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"NaN is left to the engine", []sdk.Constraint{cons("time", sdk.OpGreaterThan, "NaN")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"LIKE is left to the engine", []sdk.Constraint{cons("time", sdk.OpLike, "17%")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"equality on text", []sdk.Constraint{cons("path", sdk.OpEquals, "/tmp/x/4")}, []int{4}},
		{"equality on integer", []sdk.Constraint{cons("pid", sdk.OpEquals, "106")}, []int{6}},
		{"equality on integer written as float", []sdk.Constraint{cons("size", sdk.OpEquals, "6.0")}, []int{6}},
		{"equality on integer with text is left to the engine", []sdk.Constraint{cons("size", sdk.OpEquals, "six")}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"equality and range", []sdk.Constraint{cons("time", sdk.OpGreaterThan, ts(2)), cons("action", sdk.OpEquals, "create"), cons("pid", sdk.OpEquals, "101")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := collect(t, s, schema.FileEvents, tt.cs...)
			checkColumns(t, schema.FileEventsTable, rows)
			var got []int
			for _, r := range rows {
				sec, _ := strconv.ParseInt(r["time"], 10, 64)
				got = append(got, int(sec-base.Unix()))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got seconds %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{})
	s.AddFileEvent(fileEvent(1, "/tmp/a"), "/tmp/")
	if err := s.Generate(context.Background(), "staging_nope", nil, func([]sdk.Row) error { return nil }); err == nil || !strings.Contains(err.Error(), "staging_nope") {
		t.Errorf("unknown table: %v", err)
	}
	err := s.Generate(context.Background(), schema.FileEvents, []sdk.Constraint{cons("colour", sdk.OpEquals, "x")}, func([]sdk.Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown column: %v", err)
	}
	stop := errors.New("consumer gone")
	if err := s.Generate(context.Background(), schema.FileEvents, nil, func([]sdk.Row) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error = %v, want %v", err, stop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := s.Generate(ctx, schema.FileEvents, nil, func([]sdk.Row) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("cancelled: err %v, emit called %v", err, called)
	}
}

func TestRowValues(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{AnalyticID: "AN0041", Platform: "linux", Host: "fallback"})
	exec := &event.Event{
		Time: base.Add(1500 * time.Millisecond), Kind: event.KindExec, Source: "audit", Host: "web1",
		Actor: event.Actor{UID: 1000, EUID: 0, AUID: event.Unknown, TTY: "pts/1", Session: "7", User: "alice"},
		Process: event.Process{PID: 42, PPID: 41, Exe: "/usr/bin/tar", Cwd: "/tmp",
			Argv:   []string{"tar", "czf", "/tmp/my loot.tgz", "", `a"b`, "-C", "/tmp"},
			Parent: "/usr/bin/bash", Ancestors: []string{"/usr/bin/bash", "/usr/sbin/sshd"}},
	}
	s.AddProcessEvent(exec, "archiver")
	rows := collect(t, s, schema.ProcessEvents)
	checkColumns(t, schema.ProcessEventsTable, rows)
	want := sdk.Row{
		"time": "1700000001", "time_ns": "500000000", "analytic_id": "AN0041", "platform": "linux", "host": "web1",
		"pid": "42", "ppid": "41", "path": "/usr/bin/tar",
		"cmdline": `tar czf "/tmp/my loot.tgz" "" "a\"b" -C /tmp`,
		"cwd":     "/tmp", "uid": "1000", "euid": "0", "auid": "-1", "user": "alice", "tty": "pts/1", "session": "7",
		"parent": "/usr/bin/bash", "ancestry": `["/usr/bin/bash","/usr/sbin/sshd"]`, "category": "archiver", "source": "audit",
		"guid": "", "parent_guid": "", "original_name": "", "elevated": "0", "signing_id": "", "team_id": "",
		"platform_binary": "0", "responsible_pid": "-1",
	}
	if fmt.Sprint(rows[0]) != fmt.Sprint(want) {
		t.Fatalf("process row\n got %v\nwant %v", rows[0], want)
	}

	// The platforms' own fields: Windows' GUIDs and OriginalFileName, macOS's
	// code signing.
	win := NewTables(TablesConfig{AnalyticID: "AN0040", Platform: "windows", Host: "ws"})
	win.AddProcessEvent(&event.Event{Time: base, Kind: event.KindExec, Source: "sysmon",
		Actor:   event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown, User: `CORP\bob`, Session: "0x3e7a1", Elevated: true},
		Process: event.Process{PID: 6120, PPID: 5012, Exe: `C:\Users\Public\svc.exe`, GUID: "7a1c2b3d-2222", ParentGUID: "7a1c2b3d-1111", OriginalName: "7z.exe"}}, "archiver")
	mac := NewTables(TablesConfig{AnalyticID: "AN0042", Platform: "darwin", Host: "mbp"})
	mac.AddProcessEvent(&event.Event{Time: base, Kind: event.KindExec, Source: "eslogger",
		Actor:   event.Actor{UID: 501, EUID: 501, AUID: 501, User: "bob"},
		Process: event.Process{PID: 900, PPID: 1, Exe: "/usr/bin/ditto", SigningID: "com.apple.ditto", PlatformBinary: true, ResponsiblePID: 455, PIDVersion: 1201}}, "archiver")
	for _, tc := range []struct {
		s    *Tables
		want map[string]string
	}{
		{win, map[string]string{"guid": "7a1c2b3d-2222", "parent_guid": "7a1c2b3d-1111", "original_name": "7z.exe", "elevated": "1", "session": "0x3e7a1"}},
		{mac, map[string]string{"signing_id": "com.apple.ditto", "team_id": "", "platform_binary": "1", "responsible_pid": "455"}},
	} {
		row := collect(t, tc.s, schema.ProcessEvents)[0]
		for k, v := range tc.want {
			if row[k] != v {
				t.Errorf("%s: %s = %q, want %q", row["platform"], k, row[k], v)
			}
		}
	}

	file := &event.Event{Time: base, Kind: event.KindFileMoveIn, Path: "/tmp/x/a&b<c>.txt", Size: event.Unknown,
		Actor: event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown}, Process: event.Process{PID: 0}}
	s.AddFileEvent(file, "/tmp/")
	rows = collect(t, s, schema.FileEvents)
	checkColumns(t, schema.FileEventsTable, rows)
	wantFile := sdk.Row{"time": "1700000000", "time_ns": "0", "analytic_id": "AN0041", "platform": "linux", "host": "fallback",
		"action": "move_in", "path": "/tmp/x/a&b<c>.txt", "staging_path": "/tmp/", "size": "-1", "pid": "-1", "process": "",
		"actor": "an unknown user", "source": "", "guid": "", "remote_addr": ""}
	if fmt.Sprint(rows[0]) != fmt.Sprint(wantFile) {
		t.Fatalf("file row\n got %v\nwant %v", rows[0], wantFile)
	}
}

func detection(uid string, sec int, files int64) *event.Detection {
	t := base.Add(time.Duration(sec) * time.Second)
	return &event.Detection{
		Time: t, DetectionID: "DET0014", AnalyticID: "AN0041", TechniqueID: "T1074.001", Platform: "linux",
		Host: "h", Actor: "alice (uid 1000)", Process: "tar czf /tmp/x.tgz x", StagingPath: "/tmp/x",
		ArchivePath: "/tmp/x.tgz", FileCount: files, Bytes: 10 * files, FirstSeen: t.Add(-time.Minute), LastSeen: t,
		Severity: "medium", Score: 55, Reason: "r", UID: uid,
		Evidence: []event.Evidence{{Time: t, Kind: "exec", Process: "/usr/bin/tar", Cmdline: "tar czf /tmp/x.tgz x"}},
	}
}

func TestDetectionUpsert(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{MaxDetections: 3})
	s.UpsertDetection(detection("a", 1, 2))
	s.UpsertDetection(detection("b", 2, 2))
	s.UpsertDetection(detection("a", 5, 9)) // updated later: moves to its new time
	rows := collect(t, s, schema.Detections)
	checkColumns(t, schema.DetectionsTable, rows)
	if got := values(rows, "uid"); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("uids %v", got)
	}
	if rows[1]["file_count"] != "9" || rows[1]["first_seen"] != strconv.FormatInt(base.Add(5*time.Second-time.Minute).Unix(), 10) {
		t.Fatalf("updated row not replaced: %v", rows[1])
	}
	// Same UID and time replaced in place, not duplicated.
	s.UpsertDetection(detection("b", 2, 4))
	if got := values(collect(t, s, schema.Detections), "file_count"); !slices.Equal(got, []string{"4", "9"}) {
		t.Fatalf("file counts %v", got)
	}
	// Past the cap the oldest goes and its UID is forgotten, so a later
	// update of it is a fresh row rather than a removal of someone else.
	s.UpsertDetection(detection("c", 6, 2))
	s.UpsertDetection(detection("d", 7, 2))
	rows = collect(t, s, schema.Detections)
	if got := values(rows, "uid"); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("after eviction uids %v", got)
	}
	s.UpsertDetection(detection("b", 8, 3))
	if got := values(collect(t, s, schema.Detections), "uid"); !slices.Equal(got, []string{"c", "d", "b"}) {
		t.Fatalf("re-added uids %v", got)
	}
	// Older than everything kept at the cap: dropped and counted.
	s.UpsertDetection(detection("old", 0, 2))
	st := s.Stats()
	if st.Detections != 3 || st.DetectionEvictions != 3 {
		t.Fatalf("stats %+v", st)
	}
	if got := values(collect(t, s, schema.Detections), "uid"); !slices.Equal(got, []string{"c", "d", "b"}) {
		t.Fatalf("after old uids %v", got)
	}
}

func TestRingOrderAndCap(t *testing.T) {
	t.Parallel()
	const max = 100
	s := NewTables(TablesConfig{MaxFileEvents: max})
	rng := rand.New(rand.NewPCG(1, 2))
	var all []int
	for i := range 1000 {
		// Mostly in order, some a little late, a few very late.
		sec := i
		switch rng.IntN(10) {
		case 0:
			sec -= rng.IntN(5)
		case 1:
			sec -= rng.IntN(200)
		}
		all = append(all, sec)
		s.AddFileEvent(fileEvent(sec, "/tmp/"+strconv.Itoa(i)), "/tmp/")
	}
	rows := collect(t, s, schema.FileEvents)
	if len(rows) != max {
		t.Fatalf("%d rows, want %d", len(rows), max)
	}
	var got []int
	for _, r := range rows {
		sec, _ := strconv.ParseInt(r["time"], 10, 64)
		got = append(got, int(sec-base.Unix()))
	}
	if !slices.IsSorted(got) {
		t.Fatalf("rows not in time order: %v", got)
	}
	slices.Sort(all)
	if want := all[len(all)-max:]; !slices.Equal(got, want) {
		t.Fatalf("kept %v\nwant the newest %v", got, want)
	}
	if st := s.Stats(); st.FileEvictions != 900 || st.FileEvents != max || st.Evictions() != 900 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{})
	for i := range 2*store.BatchSize + 3 {
		s.AddProcessEvent(&event.Event{Time: base.Add(time.Duration(i) * time.Millisecond), Kind: event.KindExec,
			Process: event.Process{PID: int64(i + 1), Exe: "/usr/bin/zip", Argv: []string{"zip"}}}, "archiver")
	}
	var sizes []int
	err := s.Generate(context.Background(), schema.ProcessEvents, nil, func(b []sdk.Row) error {
		sizes = append(sizes, len(b))
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int{store.BatchSize, store.BatchSize, 3}) {
		t.Fatalf("batches %v, err %v", sizes, err)
	}
}

func TestHostileStrings(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"/tmp/x/line1\nline2", "/tmp/x/\xff\xfe.bin", "/tmp/x/nul\x00byte", "/tmp/x/\u2028sep", "/tmp/x/tab\there",
		"/tmp/x/quote\"back\\slash", "/tmp/x/" + strings.Repeat("é", 3000), "\xc3", "",
	}
	s := NewTables(TablesConfig{AnalyticID: "AN0041\xff", Platform: "linux", Host: "h\x00"})
	for i, h := range hostile {
		ev := fileEvent(i, h)
		ev.Process.Exe = h
		ev.Actor.User = h
		s.AddFileEvent(ev, h)
		exec := &event.Event{Time: ev.Time, Kind: event.KindExec, Host: h,
			Actor:   event.Actor{UID: 1, EUID: 1, AUID: 1, User: h, TTY: h, Session: h},
			Process: event.Process{PID: 9, Exe: h, Cwd: h, Argv: []string{"tar", h, h + " x"}, Parent: h, Ancestors: []string{h, h}}}
		s.AddProcessEvent(exec, h)
		d := detection(h+strconv.Itoa(i), i, 3)
		d.Actor, d.Process, d.StagingPath, d.ArchivePath, d.Reason = h, h, h, h, h
		d.Evidence = append(d.Evidence, event.Evidence{Time: d.Time, Kind: "create", Path: h, Process: h, Cmdline: h, Actor: h, Note: h},
			event.Evidence{Time: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "create", Path: "/tmp/x/future"})
		s.UpsertDetection(d)
	}
	for _, spec := range s.Specs() {
		rows := collect(t, s, spec.Name)
		if len(rows) != len(hostile) {
			t.Fatalf("%s: %d rows", spec.Name, len(rows))
		}
		checkColumns(t, spec, rows)
		for _, r := range rows {
			for _, c := range []string{"evidence", "ancestry"} {
				v, ok := r[c]
				if !ok {
					continue
				}
				var arr []any
				if err := json.Unmarshal([]byte(v), &arr); err != nil {
					t.Fatalf("%s.%s is not a JSON array: %v: %q", spec.Name, c, err, v)
				}
				if c == "evidence" && len(arr) != 3 {
					t.Fatalf("evidence lost events: %q", v)
				}
			}
			if c, ok := r["cmdline"]; ok && strings.ContainsAny(c, "\n\x00") {
				t.Fatalf("cmdline %q holds a raw newline or NUL", c)
			}
		}
	}
	if got := store.Text("a\xffb\x00c"); got != `a\xffb\x00c` {
		t.Errorf("Text = %q", got)
	}
}

// TestConcurrentAddGenerate runs writers and readers together; -race checks
// the locking and the readers check every snapshot is ordered and complete.
func TestConcurrentAddGenerate(t *testing.T) {
	t.Parallel()
	s := NewTables(TablesConfig{MaxFileEvents: 2000, MaxDetections: 100})
	var wg sync.WaitGroup
	const writers, perWriter = 4, 3000
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s.AddFileEvent(fileEvent(i, fmt.Sprintf("/tmp/%d/%d", w, i)), "/tmp/")
				if i%10 == 0 {
					s.UpsertDetection(detection(fmt.Sprintf("w%d-%d", w, i%300), i, int64(i)))
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, table := range []string{schema.FileEvents, schema.Detections} {
					prev := int64(-1)
					err := s.Generate(context.Background(), table, []sdk.Constraint{cons("time", sdk.OpGreaterThanOrEqual, strconv.FormatInt(base.Unix()+100, 10))}, func(b []sdk.Row) error {
						for _, r := range b {
							sec, _ := strconv.ParseInt(r["time"], 10, 64)
							if sec < prev || sec < base.Unix()+100 {
								return fmt.Errorf("%s out of order or range: %d after %d", table, sec, prev)
							}
							prev = sec
						}
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	st := s.Stats()
	if st.FileEvents != 2000 || st.FileEvictions != writers*perWriter-2000 {
		t.Fatalf("stats %+v", st)
	}
	uids := values(collect(t, s, schema.Detections), "uid")
	seen := map[string]bool{}
	for _, u := range uids {
		if seen[u] {
			t.Fatalf("uid %s twice", u)
		}
		seen[u] = true
	}
	if len(uids) != 100 {
		t.Fatalf("%d detections kept, want 100", len(uids))
	}
}
