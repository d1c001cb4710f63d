package an0041

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// opened configures a fresh analytic in replay mode keeping its state in
// dir, and ingests the given logs (paths, not fixture names).
func opened(t *testing.T, dir string, logs ...string) *analyticUnderTest {
	t.Helper()
	a := New()
	ctx := context.Background()
	if _, err := a.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay, HostIdentifier: "fixture-host", StateDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	u := &analyticUnderTest{Analytic: a}
	for _, log := range logs {
		f, err := os.Open(log)
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.Ingest(ctx, filepath.Base(log), "auditd", f)
		f.Close()
		if err != nil {
			t.Fatalf("Ingest(%s): %v", log, err)
		}
		u.ingested = append(u.ingested, st)
	}
	return u
}

type analyticUnderTest struct {
	sdk.Analytic
	ingested []sdk.IngestStats
}

func (u *analyticUnderTest) close(t *testing.T) {
	t.Helper()
	if err := u.Analytic.(interface{ Close() error }).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func (u *analyticUnderTest) extra(t *testing.T) map[string]uint64 {
	t.Helper()
	return u.Health(context.Background()).Extra
}

// tablesOf renders the rows of the three event tables, sorted.
func tablesOf(t *testing.T, a sdk.Analytic) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range []string{schema.Detections, schema.FileEvents, schema.ProcessEvents} {
		var lines []string
		for _, r := range rowsOf(t, a, table) {
			lines = append(lines, fmt.Sprint(map[string]string(r))) // keys sorted
		}
		slices.Sort(lines)
		out[table] = lines
	}
	return out
}

func goldenDetections(t *testing.T, a sdk.Analytic) []byte {
	t.Helper()
	rows := rowsOf(t, a, schema.Detections)
	rowjson.SortDetections(rows)
	var b bytes.Buffer
	if err := rowjson.WriteLines(&b, schema.DetectionsTable, rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func diffTables(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if slices.Equal(g, w) {
			continue
		}
		t.Errorf("%s: %s has %d rows, want %d identical ones", what, table, len(g), len(w))
		for _, r := range g {
			if !slices.Contains(w, r) {
				t.Errorf("  extra %s", r)
			}
		}
		for _, r := range w {
			if !slices.Contains(g, r) {
				t.Errorf("  missing %s", r)
			}
		}
	}
}

// TestStateRestart: an analytic reopened on its state serves, before any
// new input, the same detections (same uid, every column), file events
// and process events it served before it was stopped.
func TestStateRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	first := opened(t, dir, filepath.Join(fixtures, "staging.log"), filepath.Join(fixtures, "benign.log"))
	before := tablesOf(t, first)
	if len(before[schema.Detections]) != 2 || len(before[schema.FileEvents]) == 0 || len(before[schema.ProcessEvents]) == 0 {
		t.Fatalf("nothing to keep: %v", before)
	}
	x := first.extra(t)
	if x["state_events"] == 0 || x["state_detections"] != 2 || x["state_bytes"] == 0 || x["state_events_written"] != x["state_events"] || x["state_write_errors"] != 0 {
		t.Errorf("state counters %v", x)
	}
	if x["state_events_max"] != 200000 || x["state_events_expiry_seconds"] != 86400 || x["state_detections_max"] != 10000 {
		t.Errorf("state bounds %v", x)
	}
	first.close(t)

	second := opened(t, dir)
	defer second.close(t)
	diffTables(t, "after restart", tablesOf(t, second), before)
	x2 := second.extra(t)
	if x2["state_restored_events"] != x["state_events"] || x2["state_restored_detections"] != 2 {
		t.Errorf("restored %v, kept %v", x2, x)
	}
	if h := second.Health(context.Background()); h.State == sdk.StateDegraded || h.Detections != 2 {
		t.Errorf("health after restart: %s %q, %d detections", h.State, h.Message, h.Detections)
	}
}

// TestStateReplayTwice: the same input replayed again into a kept state
// adds nothing: no second row in any table, nothing more on disk.
func TestStateReplayTwice(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	log := filepath.Join(fixtures, "staging.log")
	first := opened(t, dir, log)
	before := tablesOf(t, first)
	kept := first.extra(t)["state_events"]
	first.close(t)

	second := opened(t, dir, log, log)
	defer second.close(t)
	diffTables(t, "after replaying twice", tablesOf(t, second), before)
	x := second.extra(t)
	if x["state_events"] != kept || x["state_events_written"] != 0 {
		t.Errorf("state grew: %d events (was %d), %d written", x["state_events"], kept, x["state_events_written"])
	}
	if x["replay_duplicates"] != 2*kept {
		t.Errorf("replay_duplicates = %d, want %d (the kept events, twice)", x["replay_duplicates"], 2*kept)
	}
	if second.ingested[0].Detections != 0 || second.ingested[1].Detections != 0 {
		t.Errorf("replays counted new detections: %+v", second.ingested)
	}
}

// TestStateSplitStaging: the copies recorded before a restart and the
// archive after it make one detection, the same (uid, reason, evidence)
// as the log replayed whole.
func TestStateSplitStaging(t *testing.T) {
	t.Parallel()
	whole := filepath.Join(fixtures, "staging.log")
	want, err := os.ReadFile(filepath.Join(fixtures, "staging.detections.golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	before, after := splitAuditLog(t, whole, `comm="tar"`)

	dir := filepath.Join(t.TempDir(), "state")
	first := opened(t, dir, before)
	if n := len(rowsOf(t, first, schema.Detections)); n != 0 {
		t.Fatalf("%d detections before the archive step", n)
	}
	if len(rowsOf(t, first, schema.FileEvents)) < 5 {
		t.Fatal("the copies are not in the first half")
	}
	first.close(t)

	second := opened(t, dir, after)
	defer second.close(t)
	if got := goldenDetections(t, second); !bytes.Equal(got, want) {
		t.Errorf("split across a restart:\n got:\n%s\nwant (whole log):\n%s", got, want)
	}
}

// splitAuditLog writes the log in two files, cut before the first record
// of the event whose SYSCALL line contains marker.
func splitAuditLog(t *testing.T, log, marker string) (before, after string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	serial := regexp.MustCompile(`msg=audit\(([0-9.]+:[0-9]+)\)`)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	cut := -1
	for _, l := range lines {
		if strings.HasPrefix(l, "type=SYSCALL") && strings.Contains(l, marker) {
			id := serial.FindStringSubmatch(l)[1]
			cut = slices.IndexFunc(lines, func(l string) bool {
				m := serial.FindStringSubmatch(l)
				return m != nil && m[1] == id
			})
			break
		}
	}
	if cut <= 0 {
		t.Fatalf("%s: no %s", log, marker)
	}
	dir := t.TempDir()
	before, after = filepath.Join(dir, "before.log"), filepath.Join(dir, "after.log")
	if err := os.WriteFile(before, []byte(strings.Join(lines[:cut], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(after, []byte(strings.Join(lines[cut:], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return before, after
}

// TestStateMovedAside: an analytic finding a file that is not its state
// moves it aside, says so in its health without calling itself degraded,
// and keeps a new state from then on.
func TestStateMovedAside(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.db"), bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	u := opened(t, dir, filepath.Join(fixtures, "staging.log"))
	h := u.Health(context.Background())
	if h.State == sdk.StateDegraded || !strings.Contains(h.Message, "moved aside to "+filepath.Join(dir, "state.db.bad-")) {
		t.Errorf("health: %s %q", h.State, h.Message)
	}
	if h.Detections != 2 || h.Extra["state_detections"] != 2 {
		t.Errorf("after the move: %d detections, %d kept", h.Detections, h.Extra["state_detections"])
	}
	u.close(t)
}
