package endpoint

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/statedb"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func stateEvents(n int, start time.Time) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{
			Time:    start.Add(time.Duration(i) * time.Millisecond),
			Kind:    event.KindFileCreate,
			Process: event.Process{PID: int64(1000 + i%7), Exe: "/usr/bin/cp", Argv: []string{"cp", "a", "b"}},
			Path:    fmt.Sprintf("/tmp/stage/file-%06d.docx", i),
			Size:    event.Unknown,
			Source:  "test",
		}
	}
	return evs
}

func openTestDurable(t *testing.T, dir string, limits sdk.StateLimits) (*durable, []string) {
	t.Helper()
	var logged []string
	d, err := openDurable(dir, limits, func(msg string) { logged = append(logged, msg) })
	if err != nil {
		t.Fatalf("openDurable(%s): %v", dir, err)
	}
	return d, logged
}

func loadAll(t *testing.T, d *durable) ([]*event.Event, []event.Detection) {
	t.Helper()
	var evs []*event.Event
	var dets []event.Detection
	_, skipped, err := d.loadEvents(context.Background(), func(ev *event.Event, _ time.Duration, _ tableRow) { evs = append(evs, ev) })
	if err != nil || skipped != 0 {
		t.Fatalf("loadEvents: %v (%d skipped)", err, skipped)
	}
	none := func(string) bool { return false }
	_, skipped, err = d.loadDetections(context.Background(), none, func(det *event.Detection) { dets = append(dets, *det) })
	if err != nil || skipped != 0 {
		t.Fatalf("loadDetections: %v (%d skipped)", err, skipped)
	}
	return evs, dets
}

func TestDurableRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "AN0041")
	d, _ := openTestDurable(t, dir, sdk.StateLimits{})
	evs := stateEvents(10, time.Now())
	evs[3].Path = "/tmp/stage/\x00nul\nnewline\xff.txt" // hostile names survive
	det := event.Detection{UID: "u1", Time: time.Now(), StagingPath: "/tmp/stage", FileCount: 5}
	if err := d.save(evs, nil, []event.Detection{det}); err != nil {
		t.Fatal(err)
	}
	det.FileCount = 6 // an update replaces the detection
	if err := d.save(nil, nil, []event.Detection{det}); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v: %v", info.Mode(), err)
	}
	for _, name := range []string{stateFile, "lock"} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v: %v", name, info.Mode(), err)
		}
	}

	d, logged := openTestDurable(t, dir, sdk.StateLimits{})
	defer d.close()
	got, dets := loadAll(t, d)
	if len(got) != 10 || got[3].Path != evs[3].Path || got[9].Path != evs[9].Path || !got[0].Time.Equal(evs[0].Time) {
		t.Errorf("events back: %d, [3] %q", len(got), got[3].Path)
	}
	if len(dets) != 1 || dets[0].FileCount != 6 {
		t.Errorf("detections back: %+v", dets)
	}
	if len(logged) != 0 {
		t.Errorf("logged %q opening a good state", logged)
	}
	x := map[string]uint64{}
	if p := d.counters(x); p != "" || x["state_events"] != 10 || x["state_detections"] != 1 || x["state_bytes"] == 0 {
		t.Errorf("counters %v, problem %q", x, p)
	}
}

func TestDurableOneWriter(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "AN0041")
	d, _ := openTestDurable(t, dir, sdk.StateLimits{})
	_, err := statedb.Lock(dir, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("in use by process %d", os.Getpid())) {
		t.Fatalf("second writer: %v", err)
	}
	// A process taking over waits for the one before it to let go.
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		released <- time.Now()
		d.close()
	}()
	next, _ := openTestDurable(t, dir, sdk.StateLimits{})
	opened := time.Now()
	defer next.close()
	if let := <-released; opened.Before(let) {
		t.Errorf("opened at %v, before the first let go at %v", opened, let)
	}
}

func TestDurableRefusesUnsafeDirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{link: "symbolic link", open: "writable by group or others"} {
		_, err := openDurable(dir, sdk.StateLimits{}, func(string) {})
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), want) {
			t.Errorf("openDurable(%s) = %v, want an error naming it: %s", dir, err, want)
		}
	}
}

// TestDurableMovesAside: a damaged file, another program's database, and
// a file that is not a database at all are each moved aside (kept for a
// person to look at), a new state is made, and the log says so.
func TestDurableMovesAside(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"foreign": func(t *testing.T, path string) {
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('x')"); err != nil {
				t.Fatal(err)
			}
		},
		"damaged": func(t *testing.T, path string) {
			// A good state whose pages past the header are overwritten.
			d, err := openDurable(filepath.Dir(path), sdk.StateLimits{}, func(string) {})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.save(stateEvents(3000, time.Now()), nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := d.close(); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			junk := make([]byte, 64<<10)
			for i := range junk {
				junk[i] = byte(i * 131)
			}
			if _, err := f.WriteAt(junk, 4096); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "AN0041")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, stateFile)
			spoil(t, path)
			d, logged := openTestDurable(t, dir, sdk.StateLimits{})
			defer d.close()
			if d.movedAway == "" || !strings.HasPrefix(d.movedAway, path+".bad-") {
				t.Fatalf("not moved aside: %q", d.movedAway)
			}
			if _, err := os.Stat(d.movedAway); err != nil {
				t.Errorf("the bad file is not kept: %v", err)
			}
			if len(logged) != 1 || !strings.Contains(logged[0], "moved aside to "+d.movedAway) {
				t.Errorf("log %q", logged)
			}
			if err := d.save(stateEvents(5, time.Now()), nil, nil); err != nil {
				t.Fatalf("the new state does not work: %v", err)
			}
			if evs, _ := loadAll(t, d); len(evs) != 5 {
				t.Errorf("%d events in the new state", len(evs))
			}
		})
	}
}

// TestDurableExpiry: age and count bounds remove the oldest rows, in
// batches, and the counters say how many.
func TestDurableExpiry(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "AN0041")
	now := time.Now()
	d, _ := openTestDurable(t, dir, sdk.StateLimits{EventsExpiry: time.Hour, EventsMax: 3000, DetectionsExpiry: 24 * time.Hour, DetectionsMax: 2})
	defer d.close()
	old := stateEvents(2500, now.Add(-2*time.Hour))
	recent := stateEvents(4500, now.Add(-time.Minute))
	var dets []event.Detection
	for i := range 4 {
		dets = append(dets, event.Detection{UID: fmt.Sprint("u", i), Time: now.Add(-time.Duration(i) * time.Hour)})
	}
	dets = append(dets, event.Detection{UID: "ancient", Time: now.Add(-48 * time.Hour)})
	if err := d.save(append(old, recent...), nil, dets); err != nil {
		t.Fatal(err)
	}
	d.expire(now)
	evs, kept := loadAll(t, d)
	if len(evs) != 3000 || !evs[0].Time.Equal(recent[1500].Time) || !evs[2999].Time.Equal(recent[4499].Time) {
		t.Errorf("%d events kept, first %v", len(evs), evs[0].Time)
	}
	if len(kept) != 2 || kept[0].UID != "u1" || kept[1].UID != "u0" {
		t.Errorf("detections kept %+v", kept)
	}
	x := map[string]uint64{}
	d.counters(x)
	if x["state_expired"] != 2500+1500+3 || x["state_events"] != 3000 || x["state_detections"] != 2 ||
		x["state_events_max"] != 3000 || x["state_events_expiry_seconds"] != 3600 {
		t.Errorf("counters %v", x)
	}
}

// TestDurableTornWAL: a power cut mid-commit leaves a write-ahead log
// whose last frames are missing or half written. Cut at many places, the
// state opens as it was after some whole commit: never damaged, never
// moved aside, never a partial batch.
func TestDurableTornWAL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "AN0041")
	d, _ := openTestDurable(t, dir, sdk.StateLimits{})
	const batch, batches = 50, 40
	for i := range batches {
		if err := d.save(stateEvents(batch, time.Now().Add(time.Duration(i)*time.Second)), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Copied while open, as a power cut would leave them: the log is not
	// checkpointed into the database yet.
	db, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(filepath.Join(dir, stateFile+"-wal"))
	if err != nil || len(wal) < 32 {
		t.Fatalf("no write-ahead log (%d bytes): %v", len(wal), err)
	}
	d.close()

	rng := rand.New(rand.NewPCG(1, 2))
	cuts := []int{0, 32, len(wal) - 1, len(wal) - 4096, len(wal)}
	for range 20 {
		cuts = append(cuts, 32+rng.IntN(len(wal)-32))
	}
	for i, cut := range cuts {
		cutDir := filepath.Join(t.TempDir(), fmt.Sprint("cut", i))
		if err := os.Mkdir(cutDir, 0o700); err != nil {
			t.Fatal(err)
		}
		torn := append([]byte(nil), wal[:cut]...)
		if i%2 == 1 && cut > 64 {
			torn[len(torn)-7] ^= 0xff // and the last bytes written wrong
		}
		if err := os.WriteFile(filepath.Join(cutDir, stateFile), db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cutDir, stateFile+"-wal"), torn, 0o600); err != nil {
			t.Fatal(err)
		}
		c, logged := openTestDurable(t, cutDir, sdk.StateLimits{})
		if c.movedAway != "" || len(logged) != 0 {
			t.Errorf("cut at %d of %d: moved aside (%q)", cut, len(wal), logged)
		}
		evs, _ := loadAll(t, c)
		if len(evs)%batch != 0 || len(evs) > batch*batches {
			t.Errorf("cut at %d of %d: %d events, not a whole number of commits", cut, len(wal), len(evs))
		}
		if cut == len(wal) && i%2 == 0 && len(evs) != batch*batches {
			t.Errorf("whole log: %d events, want %d", len(evs), batch*batches)
		}
		if err := c.save(stateEvents(1, time.Now()), nil, nil); err != nil {
			t.Errorf("cut at %d: the state does not take writes: %v", cut, err)
		}
		c.close()
	}
}

// TestDurableKilledMidCommit kills a process writing its state, with
// SIGKILL, at random moments; what it had reported committed is always
// there, whole, and the state opens clean.
func TestDurableKilledMidCommit(t *testing.T) {
	if dir := os.Getenv("STAGEWATCH_DURABLE_WRITER"); dir != "" {
		durableWriter(dir)
		return
	}
	t.Parallel()
	const batch = 200
	dir := filepath.Join(t.TempDir(), "AN0041")
	rng := rand.New(rand.NewPCG(3, 4))
	committed := 0
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDurableKilledMidCommit$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STAGEWATCH_DURABLE_WRITER="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		want := 3 + rng.IntN(20)
		reported := -1
		for lines.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(lines.Text(), "committed "))
			if err != nil {
				continue
			}
			reported = n
			if want--; want == 0 {
				break
			}
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		if reported < 0 {
			t.Fatalf("round %d: the writer reported nothing", round)
		}

		d, logged := openTestDurable(t, dir, sdk.StateLimits{})
		evs, _ := loadAll(t, d)
		d.close()
		if len(logged) != 0 || d.movedAway != "" {
			t.Fatalf("round %d: state moved aside after a kill: %q", round, logged)
		}
		if len(evs)%batch != 0 || len(evs) < reported || len(evs) < committed {
			t.Fatalf("round %d: %d events after the kill; the writer had committed %d (before this round %d)", round, len(evs), reported, committed)
		}
		committed = len(evs)
	}
}

// durableWriter commits batches until killed, saying after each commit how
// many events the state holds.
func durableWriter(dir string) {
	d, err := openDurable(dir, sdk.StateLimits{}, func(msg string) { fmt.Fprintln(os.Stderr, msg) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	total, _, err := d.loadEvents(context.Background(), func(*event.Event, time.Duration, tableRow) {})
	if err != nil {
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := d.save(stateEvents(200, time.Now()), nil, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		total += 200
		fmt.Printf("committed %d\n", total)
	}
}

// TestStateRestartFullTables: with more events kept than the tables hold,
// a restart fills each table with exactly the rows it held (the older
// ones are seen by the correlator but never added), and every detection.
func TestStateRestartFullTables(t *testing.T) {
	t.Parallel()
	evs := dayOfEvents(DefaultMaxFileEvents*11/10, time.Now())
	dir := filepath.Join(t.TempDir(), "AN0041")
	snapshot := func(a *Analytic) map[string][]string {
		out := map[string][]string{}
		for _, table := range []string{"staging_detections", "staging_file_events", "staging_process_events"} {
			for _, r := range generate(t, a.tables, table) {
				out[table] = append(out[table], fmt.Sprint(map[string]string(r)))
			}
		}
		return out
	}
	first := New(benchDefinition(&evs))
	if _, err := first.Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeReplay, StateDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Ingest(context.Background(), "bench", "bench", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(first)
	if len(before["staging_file_events"]) != DefaultMaxFileEvents || len(before["staging_detections"]) == 0 {
		t.Fatalf("tables not full: %d file rows, %d detections", len(before["staging_file_events"]), len(before["staging_detections"]))
	}
	first.Close()

	var none []*event.Event
	second := New(benchDefinition(&none))
	if _, err := second.Configure(context.Background(), sdk.ConfigureRequest{Mode: sdk.ModeReplay, StateDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	after := snapshot(second)
	for table, rows := range before {
		if !slices.Equal(after[table], rows) {
			t.Errorf("%s after the restart: %d rows, want the same %d", table, len(after[table]), len(rows))
		}
	}
}
