package an0042

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const fixtures = "../testdata/eslogger"

// replay configures a fresh analytic in replay mode behind the real gRPC
// converters and ingests the named fixtures.
func replay(t *testing.T, config string, files ...string) (sdk.Analytic, []sdk.IngestStats) {
	t.Helper()
	a := sdktest.Connect(t, New())
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(fixtures, f)
	}
	return a, sdktest.Replay(t, a, "fixture-mac", config, "", paths...)
}

func rowsOf(t testing.TB, a sdk.Analytic, table string, cs ...sdk.Constraint) []sdk.Row {
	t.Helper()
	return sdktest.Rows(t, a, table, cs...)
}

// TestReplayFixtures is the labelled test: each story of the fixtures
// (README.md) detected with the right columns, or quiet.
func TestReplayFixtures(t *testing.T) {
	t.Parallel()
	type want struct {
		staging, archive, process, actor, reason string
		files                                    string
	}
	tmp := "/private/var/folders/7x/k2d9w1q50xg6m0c0000gn/T"
	tests := []struct {
		file        string
		detections  []want
		parseErrors uint64
	}{
		{file: "staging.jsonl", detections: []want{
			// cp's clones and rsync's temp file renamed into place, then ditto -c -k.
			{"/private/tmp/q3", "/private/tmp/q3.zip", "/usr/bin/ditto -c -k", "ses 100004", "with ditto", "3"},
			// The forked shell's redirections (created before cat execs), then aa archive.
			{tmp + "/st", tmp + "/st.aar", "/usr/bin/aa archive", "tty ttys001", "created 3 files", "3"},
			// Finder's copyfile and cp's clones onto a USB volume, then hdiutil -srcfolder.
			{"/Volumes/KINGSTON", "/Volumes/KINGSTON/s.dmg", "/usr/bin/hdiutil create -srcfolder", "auid 501", "keys or secrets", "4"},
		}},
		{file: "scripted.jsonl", detections: []want{
			// An ssh login's osascript has Finder duplicate documents; zip in the ssh session.
			{"/private/tmp/.cache", "/private/tmp/c.zip", "/usr/bin/zip -qr c.zip .cache", "ses 100031", "osascript through Finder", "3"},
			// A launch agent's python (a shim re-exec'd in place) collects the keychain and chat.db and zips them.
			{"/Users/Shared/.sync", "/Users/Shared/.sync.zip", "/Library/Developer/CommandLineTools/usr/bin/python3 -c", "uid 501", "with python3", "2"},
			// A cron job copies Chrome's logins into /private/var/tmp and tars them.
			{"/private/var/tmp/.b", "/private/var/tmp/.b.tgz", "/usr/bin/tar -czf", "uid 501", "keys or secrets", "3"},
			// osascript's do shell script copies Notes' database: a collection, no archive.
			{"/Users/Shared/.n", "", "/bin/cp", "ses 100004", "collected 1 file (databases", "1"},
		}},
		{file: "benign.jsonl"},
		{file: "mangled.jsonl", parseErrors: 7},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			a, stats := replay(t, "", tt.file)
			st := stats[0]
			if st.Records == 0 || st.Events == 0 || st.ParseErrors != tt.parseErrors {
				t.Errorf("ingest %+v, want %d parse errors", st, tt.parseErrors)
			}
			rows := rowsOf(t, a, schema.Detections)
			if len(rows) != len(tt.detections) {
				for _, r := range rows {
					t.Logf("detection: %v", r)
				}
				t.Fatalf("%d detections, want %d", len(rows), len(tt.detections))
			}
			for _, w := range tt.detections {
				var r sdk.Row
				for _, row := range rows {
					if row["staging_path"] == w.staging {
						r = row
					}
				}
				if r == nil {
					t.Errorf("no detection staging in %s", w.staging)
					continue
				}
				if r["archive_path"] != w.archive || !strings.HasPrefix(r["process"], w.process) || r["file_count"] != w.files ||
					!strings.Contains(r["actor"], w.actor) || !strings.Contains(r["reason"], w.reason) {
					t.Errorf("detection in %s:\n got %v\nwant %+v", w.staging, r, w)
				}
				if r["analytic_id"] != AnalyticID || r["platform"] != "darwin" || r["technique_id"] != "T1074.001" || r["host"] != "fixture-mac" {
					t.Errorf("identity columns %v", r)
				}
			}
		})
	}
}

// The macOS fields reach the tables: signing id, team, platform binary,
// responsible pid, the audit token's process id and the tty.
func TestReplayTables(t *testing.T) {
	t.Parallel()
	a, _ := replay(t, "", "scripted.jsonl")
	procs := rowsOf(t, a, schema.ProcessEvents, sdk.Constraint{Column: "category", Op: sdk.OpEquals, Expr: "archiver"})
	var zip sdk.Row
	for _, r := range procs {
		if strings.HasSuffix(r["path"], "/zip") {
			zip = r
		}
	}
	if zip == nil {
		t.Fatalf("no zip in %v", procs)
	}
	if zip["signing_id"] != "com.apple.zip" || zip["platform_binary"] != "1" || zip["tty"] != "ttys004" ||
		!strings.HasPrefix(zip["guid"], "2103:") || zip["responsible_pid"] == "" || zip["parent"] != "/bin/zsh" {
		t.Errorf("zip row %v", zip)
	}
	files := rowsOf(t, a, schema.FileEvents)
	var finder int
	for _, r := range files {
		if strings.HasSuffix(r["process"], "/Finder") {
			finder++
			if r["action"] != "copy" || r["size"] == "-1" || !strings.HasPrefix(r["guid"], "611:") {
				t.Errorf("Finder row %v", r)
			}
		}
	}
	if finder != 3 {
		t.Errorf("%d Finder file rows, want 3 (the table says who wrote them)", finder)
	}
}

// A gzipped log replays as the plain one does.
func TestReplayGzip(t *testing.T) {
	t.Parallel()
	uids := func(name string) []string {
		a, _ := replay(t, "", name)
		var out []string
		for _, r := range rowsOf(t, a, schema.Detections) {
			out = append(out, r["uid"]+" "+r["reason"])
		}
		slices.Sort(out)
		return out
	}
	plain, gz := uids("scripted.jsonl"), uids("scripted-gzip.jsonl.gz")
	if len(plain) != 4 || !slices.Equal(plain, gz) {
		t.Errorf("plain %v\ngzip %v", plain, gz)
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	t.Parallel()
	uids := func() []string {
		a, _ := replay(t, "", "staging.jsonl", "scripted.jsonl", "benign.jsonl")
		var out []string
		for _, r := range rowsOf(t, a, schema.Detections) {
			out = append(out, r["uid"])
		}
		return out
	}
	first, second := uids(), uids()
	if len(first) != 7 || !slices.Equal(first, second) {
		t.Fatalf("uids %v then %v", first, second)
	}
}

func TestConfigElements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		config string
		file   string
		want   int
	}{
		{`{}`, "scripted.jsonl", 4},
		// No script contexts: Finder's copies stay the GUI session's, the
		// lone collection is no detection.
		{`{"ScriptInvocationContext": []}`, "scripted.jsonl", 2},
		{`{"CompressionUtilityList": ["tar"]}`, "staging.jsonl", 0},
		{`{"SharedDirectoryIndicators": ["/Volumes/"]}`, "staging.jsonl", 1},
		{`{"TimeWindow": "20s"}`, "staging.jsonl", 0},
	}
	for _, tt := range tests {
		a := sdktest.Connect(t, New())
		_, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(tt.config), Mode: sdk.ModeReplay})
		if tt.config == `{"TimeWindow": "20s"}` {
			if err == nil || !strings.Contains(err.Error(), "TimeWindow") {
				t.Errorf("TimeWindow 20s: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.config, err)
		}
		f, _ := os.Open(filepath.Join(fixtures, tt.file))
		_, err = a.Ingest(context.Background(), tt.file, "eslogger", f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rowsOf(t, a, schema.Detections)); got != tt.want {
			t.Errorf("%s over %s: %d detections, want %d", tt.config, tt.file, got, tt.want)
		}
	}
}

// pid 1330 runs /usr/bin/true, then, reused twice, cp: each run is its own
// process by its audit token (pid:pidversion), and the files name cp.
func TestPIDReuseByAuditToken(t *testing.T) {
	t.Parallel()
	a, _ := replay(t, "", "staging.jsonl")
	rows := rowsOf(t, a, schema.FileEvents, sdk.Constraint{Column: "pid", Op: sdk.OpEquals, Expr: "1330"})
	if len(rows) != 2 {
		t.Fatalf("%d file rows of pid 1330, want 2", len(rows))
	}
	guids := map[string]bool{}
	for _, r := range rows {
		if r["process"] != "/bin/cp" || !strings.HasPrefix(r["guid"], "1330:") {
			t.Errorf("row %v", r)
		}
		guids[r["guid"]] = true
	}
	if len(guids) != 2 {
		t.Errorf("the two cp runs share a guid: %v", guids)
	}
}
