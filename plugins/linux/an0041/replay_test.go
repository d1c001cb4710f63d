package an0041

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const fixtures = "../testdata/audit"

// replay configures a fresh analytic in replay mode behind the real gRPC
// converters and ingests the named fixtures.
func replay(t *testing.T, config string, files ...string) (sdk.Analytic, []sdk.IngestStats) {
	t.Helper()
	a := sdktest.Connect(t, New())
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(fixtures, f)
	}
	return a, sdktest.Replay(t, a, "fixture-host", config, "auditd", paths...)
}

func rowsOf(t testing.TB, a sdk.Analytic, table string, cs ...sdk.Constraint) []sdk.Row {
	t.Helper()
	return sdktest.Rows(t, a, table, cs...)
}

func TestReplayFixtures(t *testing.T) {
	t.Parallel()
	type want struct {
		staging, archive, process, encryption string
	}
	tests := []struct {
		file        string
		detections  []want
		minParseErr uint64
	}{
		{
			// cp of five documents into /tmp/sw-stage-q3, then tar and zip
			// -r over it, each archive encrypted afterwards (gpg, openssl);
			// the zip -P of the tarball reads no staged files.
			file: "staging.log",
			detections: []want{
				{"/tmp/sw-stage-q3", "/tmp/sw-q3.tgz", "tar czf /tmp/sw-q3.tgz -C /tmp sw-stage-q3", "gpg"},
				{"/tmp/sw-stage-q3", "/tmp/sw-q3.zip", "zip -qr ../sw-q3.zip .", "openssl"},
			},
		},
		// tar -x, unzip, a .deb fetched and unpacked under /var/tmp, gcc in
		// /tmp, logrotate compressing /var/log: all benign.
		{file: "benign.log"},
		// Truncated and corrupted lines are counted and skipped.
		{file: "mangled.log", minParseErr: 4},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			a, stats := replay(t, "", tt.file)
			st := stats[0]
			if st.Records == 0 || st.Bytes == 0 || st.Events == 0 {
				t.Fatalf("nothing read: %+v", st)
			}
			if st.Detections != uint64(len(tt.detections)) {
				t.Errorf("IngestStats.Detections = %d, want %d", st.Detections, len(tt.detections))
			}
			if st.ParseErrors < tt.minParseErr || (tt.minParseErr == 0 && st.ParseErrors != 0) {
				t.Errorf("ParseErrors = %d (first %q), want at least %d", st.ParseErrors, st.FirstError, tt.minParseErr)
			}
			if st.ParseErrors > 0 && !strings.Contains(st.FirstError, "line ") {
				t.Errorf("FirstError %q does not say where", st.FirstError)
			}
			rows := rowsOf(t, a, schema.Detections)
			if len(rows) != len(tt.detections) {
				for _, r := range rows {
					t.Logf("detection: %v", r)
				}
				t.Fatalf("%d detections, want %d", len(rows), len(tt.detections))
			}
			for i, w := range tt.detections {
				r := rows[i]
				if r["staging_path"] != w.staging || r["archive_path"] != w.archive || !strings.HasSuffix(r["process"], w.process) {
					t.Errorf("detection %d = staging %q archive %q process %q, want %+v", i, r["staging_path"], r["archive_path"], r["process"], w)
				}
				if r["file_count"] != "5" || r["severity"] != "high" || r["analytic_id"] != AnalyticID ||
					r["detection_id"] != "DET0014" || r["technique_id"] != "T1074.001" || r["platform"] != "linux" || r["host"] != "fixture-host" {
					t.Errorf("detection %d fields: %v", i, r)
				}
				if !strings.Contains(r["actor"], "auid 1000") || !strings.Contains(r["actor"], "tty pts0") {
					t.Errorf("actor %q lacks the login uid and tty", r["actor"])
				}
				if !strings.Contains(r["reason"], w.encryption) {
					t.Errorf("reason %q does not mention the %s encryption", r["reason"], w.encryption)
				}
				var evidence []map[string]any
				if err := json.Unmarshal([]byte(r["evidence"]), &evidence); err != nil || len(evidence) < 6 {
					t.Errorf("evidence %q: %v", r["evidence"], err)
				}
			}
			h := a.Health(context.Background())
			if h.EventsSeen != st.Events || h.ParseErrors != st.ParseErrors || h.Detections != uint64(len(tt.detections)) {
				t.Errorf("health counters %+v, ingest %+v", h.Counters, st)
			}
		})
	}
}

func TestReplayTables(t *testing.T) {
	t.Parallel()
	a, _ := replay(t, "", "staging.log")
	procs := rowsOf(t, a, schema.ProcessEvents, sdk.Constraint{Column: "category", Op: sdk.OpEquals, Expr: "archiver"})
	var cmdlines []string
	for _, r := range procs {
		cmdlines = append(cmdlines, r["cmdline"])
		if r["category"] != "archiver" {
			t.Errorf("category filter let %v through", r)
		}
	}
	for _, want := range []string{"tar czf /tmp/sw-q3.tgz -C /tmp sw-stage-q3", "zip -qr ../sw-q3.zip ."} {
		if !slices.Contains(cmdlines, want) {
			t.Errorf("archiver %q missing from %q", want, cmdlines)
		}
	}
	for _, r := range procs {
		if r["cmdline"] != "zip -qr ../sw-q3.zip ." {
			continue
		}
		// The chain comes from the process table: bash (the script) under
		// script(1), as recorded.
		var ancestry []string
		if err := json.Unmarshal([]byte(r["ancestry"]), &ancestry); err != nil || len(ancestry) < 2 || r["parent"] != "/usr/bin/bash" || ancestry[0] != "/usr/bin/bash" {
			t.Errorf("zip parent %q ancestry %q: %v", r["parent"], r["ancestry"], err)
		}
		if r["cwd"] != "/tmp/sw-stage-q3" || r["auid"] != "1000" || r["tty"] != "pts0" {
			t.Errorf("zip row %v", r)
		}
	}
	files := rowsOf(t, a, schema.FileEvents, sdk.Constraint{Column: "process", Op: sdk.OpEquals, Expr: "/usr/bin/cp"})
	if len(files) != 5 {
		t.Fatalf("%d files written by cp, want 5", len(files))
	}
	for _, r := range files {
		if r["staging_path"] != "/tmp/" || !strings.HasPrefix(r["path"], "/tmp/sw-stage-q3/") || r["actor"] == "" {
			t.Errorf("file row %v", r)
		}
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	t.Parallel()
	uids := func() []string {
		a, _ := replay(t, "", "staging.log", "benign.log")
		var out []string
		for _, r := range rowsOf(t, a, schema.Detections) {
			out = append(out, r["uid"])
		}
		return out
	}
	first, second := uids(), uids()
	if len(first) != 2 || !slices.Equal(first, second) {
		t.Fatalf("uids %v then %v", first, second)
	}
}

func TestReplayHonoursConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config string
		want   int
	}{
		{"defaults", `{}`, 2},
		{"more files than staged", `{"MinimumFileCount": 6}`, 0},
		{"tar not an archiver", `{"ArchivingCommandPatterns": ["zip"]}`, 1},
		{"only elevated", `{"UserContext": ["elevated"]}`, 0},
		{"interactive", `{"UserContext": ["interactive"]}`, 2},
		{"elsewhere", `{"StagingDirectoryList": ["/mnt/"]}`, 0},
		{"allowlisted path", `{"AllowedPaths": ["/tmp/sw-stage-q3/*"]}`, 0},
		{"allowlisted parent", `{"AllowedParentProcesses": ["script"]}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, stats := replay(t, tt.config, "staging.log")
			if got := len(rowsOf(t, a, schema.Detections)); got != tt.want || stats[0].Detections != uint64(tt.want) {
				t.Fatalf("%d detections (ingest says %d), want %d", got, stats[0].Detections, tt.want)
			}
		})
	}
}

func TestIngestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := sdktest.Connect(t, New())
	if _, err := a.Ingest(ctx, "x.log", "auditd", strings.NewReader("")); err == nil {
		t.Error("Ingest before Configure succeeded")
	}
	if _, err := a.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ingest(ctx, "x.evtx", "evtx", strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "auditd") {
		t.Errorf("unknown format: %v", err)
	}
	// Binary garbage, an over-long line and a log without a final newline.
	var in bytes.Buffer
	in.Write([]byte{0, 1, 2, 0xff, '\n', '\n'})
	in.WriteString(strings.Repeat("x", endpoint.MaxLineBytes+10) + "\n")
	last := `type=SYSCALL msg=audit(1700000000.123:99): arch=c000003e syscall=59`
	in.WriteString(last)
	st, err := a.Ingest(ctx, "garbage.log", "", &in)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if st.Records != 3 || st.ParseErrors < 2 || st.Bytes != uint64(6+endpoint.MaxLineBytes+11+len(last)) {
		t.Errorf("stats %+v", st)
	}
	// A reader that fails is an error, with what was read counted. (Over
	// gRPC the host's own read fails first, so this is the analytic's side.)
	direct := New()
	if _, err := direct.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay}); err != nil {
		t.Fatal(err)
	}
	st, err = direct.Ingest(ctx, "broken.log", "auditd", &failingReader{data: []byte("type=EOE msg=audit(1.000:1): \n")})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || st.Records != 1 {
		t.Errorf("failing reader: %+v, %v", st, err)
	}
}

type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	d := sdktest.Connect(t, New()).Describe()
	if d.AnalyticID != "AN0041" || d.DetectionID != "DET0014" || d.TechniqueID != "T1074.001" || d.Platform != "linux" ||
		d.Version != Version || !slices.Equal(d.InputFormats, []string{"auditd"}) {
		t.Fatalf("descriptor %+v", d)
	}
	var names []string
	for _, e := range d.MutableElements {
		names = append(names, e.Name)
	}
	want := []string{"StagingDirectoryList", "ArchivingCommandPatterns", "UserContext", "TimeWindow", "AllowedParentProcesses", "AllowedPaths", "MinimumFileCount"}
	if !slices.Equal(names, want) {
		t.Fatalf("elements %v", names)
	}
	if err := elements.CheckDefaults(d.MutableElements); err != nil {
		t.Fatalf("defaults after the gRPC round trip: %v", err)
	}
	var tables []string
	for _, tb := range d.Tables {
		tables = append(tables, tb.Name)
	}
	if !slices.Equal(tables, []string{schema.Detections, schema.FileEvents, schema.ProcessEvents}) {
		t.Fatalf("tables %v", tables)
	}
}
