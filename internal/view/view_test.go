package view

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// goldens are the analytics' golden detections, replay's JSON lines.
var goldens = []string{
	"../../plugins/linux/testdata/audit/staging.detections.golden.jsonl",
	"../../plugins/windows/testdata/stories/admin-share-5145-then-7z.detections.golden.jsonl",
	"../../plugins/windows/testdata/stories/zipfile-createfromdirectory.detections.golden.jsonl",
	"../../plugins/macos/testdata/eslogger/scripted.detections.golden.jsonl",
}

func readGoldens(t testing.TB) []Detection {
	t.Helper()
	var all []Detection
	for _, g := range goldens {
		f, err := os.Open(g)
		if err != nil {
			t.Fatal(err)
		}
		dets, err := ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		all = append(all, dets...)
	}
	if len(all) < 5 {
		t.Fatalf("%d golden detections", len(all))
	}
	return all
}

func TestReadLinesAndArray(t *testing.T) {
	t.Parallel()
	dets := readGoldens(t)
	d := dets[0]
	if d.UID == "" || d.Time.IsZero() || d.FileCount == 0 || len(d.Evidence) == 0 || len(d.Techniques) < 2 || d.Techniques[0] != d.TechniqueID {
		t.Fatalf("first golden read as %+v", d)
	}
	// The same rows as query prints them: a JSON array, every value a string.
	var rows []map[string]string
	raw, _ := os.ReadFile(goldens[0])
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for k, v := range obj {
			row[k] = fmt.Sprint(v)
		}
		rows = append(rows, row)
	}
	arr, _ := json.Marshal(rows)
	back, err := ReadAll(bytes.NewReader(arr))
	if err != nil || len(back) != len(rows) || back[0].UID != d.UID || back[0].FileCount != d.FileCount || len(back[0].Evidence) != len(d.Evidence) {
		t.Fatalf("array: %d detections, %v", len(back), err)
	}
}

func TestTimelineText(t *testing.T) {
	t.Parallel()
	dets := readGoldens(t)
	var plain, colour bytes.Buffer
	if err := WriteTimeline(&plain, dets, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteTimeline(&colour, dets, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	for _, want := range []string{"staging ", "→", "timeline", "archive step", "T1560.001 Archive via Utility", dets[0].UID, "reason"} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("escape sequences without colour")
	}
	if !strings.Contains(colour.String(), "\x1b[") {
		t.Error("no colour with Color")
	}
	// A hostile path cannot reach the terminal raw.
	evil := Detection{UID: "x", Severity: "high", StagingPath: "/tmp/\x1b]0;pwned\x07", Evidence: []event.Evidence{{Kind: "create", Path: "/tmp/a\x1b[2J"}}}
	var b bytes.Buffer
	WriteTimeline(&b, []Detection{evil}, TextOptions{})
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("control characters printed: %q", b.String())
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, dets, TextOptions{}); err != nil || strings.Count(tb.String(), "\n") != len(dets)+1 {
		t.Errorf("table: %v\n%s", err, tb.String())
	}
}

// ecsFields are the field names of testdata/ecs_fields.csv.
func ecsFields(t *testing.T) map[string]string {
	f, err := os.Open("testdata/ecs_fields.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var body bytes.Buffer
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "#") {
			body.WriteString(sc.Text() + "\n")
		}
	}
	recs, err := csv.NewReader(&body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, r := range recs[1:] {
		fields[r[3]] = r[4]
	}
	return fields
}

// flatten lists an exported document's leaf keys as dotted names, with
// their values.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, x, out)
		}
		return
	}
	out[prefix] = v
}

func exportDocs(t *testing.T, format string, dets []Detection) []map[string]any {
	t.Helper()
	var b bytes.Buffer
	if err := WriteExport(&b, format, dets, Product{Name: "stagewatch", Vendor: "stagewatch", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("%s line is not JSON: %v\n%s", format, err, line)
		}
		docs = append(docs, doc)
	}
	return docs
}

// TestECSFields: every field the ecs export writes outside stagewatch.* is
// an ECS field, of a JSON type its ECS type takes, and the fields the issue
// names are there.
func TestECSFields(t *testing.T) {
	t.Parallel()
	fields := ecsFields(t)
	dets := readGoldens(t)
	docs := exportDocs(t, FormatECS, dets)
	if len(docs) != len(dets) {
		t.Fatalf("%d documents for %d detections", len(docs), len(dets))
	}
	for i, doc := range docs {
		flat := map[string]any{}
		flatten("", doc, flat)
		for name, v := range flat {
			if strings.HasPrefix(name, "stagewatch.") {
				continue
			}
			typ, ok := fields[name]
			if !ok {
				t.Errorf("%s is not an ECS field (testdata/ecs_fields.csv)", name)
				continue
			}
			switch typ {
			case "long", "float":
				if _, ok := v.(float64); !ok {
					t.Errorf("%s = %#v, want a number (%s)", name, v, typ)
				}
			case "date":
				if s, ok := v.(string); !ok || s == "" {
					t.Errorf("%s = %#v, want a date", name, v)
				} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
					t.Errorf("%s = %q: %v", name, s, err)
				}
			default:
				switch v.(type) {
				case string, []any:
				default:
					t.Errorf("%s = %#v, want a keyword or a list of them (%s)", name, v, typ)
				}
			}
		}
		for _, want := range []string{"@timestamp", "event.kind", "event.severity", "event.risk_score", "threat.technique.id", "host.name", "user.name", "file.path", "process.executable"} {
			if _, ok := flat[want]; !ok {
				t.Errorf("document %d lacks %s", i, want)
			}
		}
		ids, _ := flat["threat.technique.id"].([]any)
		if len(ids) == 0 || ids[0] != "T1074" {
			t.Errorf("threat.technique.id = %v", ids)
		}
	}
}

// TestOCSFDetectionFinding: each document is a Detection Finding with
// every required attribute, and only attributes the class has.
func TestOCSFDetectionFinding(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/ocsf_detection_finding.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		ClassUID    float64           `json:"class_uid"`
		CategoryUID float64           `json:"category_uid"`
		Attributes  map[string]string `json:"attributes"`
		FindingInfo map[string]string `json:"finding_info"`
		SeverityID  map[string]string `json:"severity_id"`
		ActivityID  map[string]string `json:"activity_id"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	dets := readGoldens(t)
	for i, doc := range exportDocs(t, FormatOCSF, dets) {
		for k := range doc {
			if _, ok := spec.Attributes[k]; !ok {
				t.Errorf("%s is not an attribute of detection_finding", k)
			}
		}
		for k, req := range spec.Attributes {
			if _, ok := doc[k]; !ok && req == "required" {
				t.Errorf("document %d lacks required %s", i, k)
			}
		}
		info, _ := doc["finding_info"].(map[string]any)
		for k := range info {
			if _, ok := spec.FindingInfo[k]; !ok {
				t.Errorf("finding_info.%s is not an attribute of finding_info", k)
			}
		}
		if info["uid"] != dets[i].UID {
			t.Errorf("finding_info.uid = %v, want %s", info["uid"], dets[i].UID)
		}
		if doc["class_uid"] != spec.ClassUID || doc["category_uid"] != spec.CategoryUID || doc["type_uid"] != spec.ClassUID*100+doc["activity_id"].(float64) {
			t.Errorf("class %v category %v type %v", doc["class_uid"], doc["category_uid"], doc["type_uid"])
		}
		if _, ok := spec.SeverityID[fmt.Sprint(doc["severity_id"])]; !ok {
			t.Errorf("severity_id %v", doc["severity_id"])
		}
		attacks, _ := info["attacks"].([]any)
		if len(attacks) != len(dets[i].Techniques) {
			t.Errorf("%d attacks for techniques %v", len(attacks), dets[i].Techniques)
		}
	}
}

// TestTimesketchFields: every line has Timesketch's mandatory fields, an
// ISO 8601 datetime, and the detection's uid; a detection and each of its
// evidence events are a line each.
func TestTimesketchFields(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/timesketch_fields.md")
	if err != nil {
		t.Fatal(err)
	}
	var mandatory []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "- `") {
			mandatory = append(mandatory, strings.SplitN(line[3:], "`", 2)[0])
		}
	}
	if len(mandatory) != 3 {
		t.Fatalf("mandatory fields %v", mandatory)
	}
	dets := readGoldens(t)
	want := 0
	for _, d := range dets {
		want += 1 + len(d.Evidence)
	}
	docs := exportDocs(t, FormatTimesketch, dets)
	if len(docs) != want {
		t.Fatalf("%d lines, want %d", len(docs), want)
	}
	for _, doc := range docs {
		for _, f := range mandatory {
			if s, ok := doc[f].(string); !ok || s == "" {
				t.Errorf("%s missing or empty in %v", f, doc)
			}
		}
		dt, err := time.Parse(time.RFC3339Nano, doc["datetime"].(string))
		if err != nil {
			t.Error(err)
		}
		if ts, _ := doc["timestamp"].(float64); int64(ts) != dt.UnixMicro() {
			t.Errorf("timestamp %v is not datetime %v in microseconds", doc["timestamp"], dt)
		}
		if doc["detection_uid"] == "" || doc["techniques"] == nil {
			t.Errorf("no uid or techniques: %v", doc)
		}
	}
}

func TestHTMLReport(t *testing.T) {
	t.Parallel()
	dets := readGoldens(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, dets, ReportOptions{Generated: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"http://", "https://fonts", "<script src", "<link", "@import", "url("} {
		if bad == "http://" && strings.Contains(page, bad) {
			t.Errorf("the report refers to %q", bad)
		}
		if bad != "http://" && strings.Contains(page, bad) {
			t.Errorf("the report loads something from outside: %q", bad)
		}
	}
	if n := strings.Count(page, "<article class=\"det\""); n != len(dets) {
		t.Errorf("%d detections drawn, want %d", n, len(dets))
	}
	// Timelines and evidence tables are drawn by the page from the
	// evidence data (TestReportInBrowser counts them drawn).
	if n := strings.Count(page, "<div class=\"more\""); n != len(dets) {
		t.Errorf("%d places for a timeline, want %d", n, len(dets))
	}
	i := strings.Index(page, `<script type="application/json" id="evidence">`)
	j := strings.Index(page[max(i, 0):], "</script>")
	var data []timeline
	if i < 0 || j < 0 || json.Unmarshal([]byte(page[i+len(`<script type="application/json" id="evidence">`):i+j]), &data) != nil || len(data) != len(dets) {
		t.Errorf("evidence data missing or not one entry a detection")
	} else if len(data[0].Events) != len(dets[0].Evidence) {
		t.Errorf("first detection: %d events in the data, %d in its evidence", len(data[0].Events), len(dets[0].Evidence))
	}
	if !strings.Contains(page, fmt.Sprintf(`<span id="total">%d</span>`, len(dets))) || !strings.Contains(page, "T1560.002") {
		t.Error("summary or techniques missing")
	}
}

// manyDetections makes n detections across the platforms and severities,
// each with a handful of evidence events, as a big fleet's report has.
func manyDetections(n int) []Detection {
	plats := []string{"linux", "windows", "darwin", "aws", "esxi"}
	sevs := []string{"low", "medium", "high"}
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	out := make([]Detection, n)
	for i := range out {
		t := t0.Add(time.Duration(i) * time.Minute)
		var ev []event.Evidence
		for k := range 6 {
			ev = append(ev, event.Evidence{Time: t.Add(time.Duration(k-6) * time.Second), Kind: "create", Path: fmt.Sprintf("/tmp/stage-%d/file-%d.docx", i, k), Size: 4096, PID: 100, Process: "/usr/bin/cp"})
		}
		ev = append(ev, event.Evidence{Time: t, Kind: "exec", Path: fmt.Sprintf("/tmp/stage-%d.tgz", i), PID: 101, Process: "/usr/bin/tar", Cmdline: "tar czf x", Note: "archive step (tar)"})
		out[i] = Detection{Time: t, DetectionID: "DET0014", AnalyticID: fmt.Sprintf("AN004%d", i%5), TechniqueID: "T1074.001",
			Techniques: []string{"T1074.001", "T1005", "T1560.001"}, Platform: plats[i%5], Host: fmt.Sprintf("host-%d", i%50),
			Actor: "alice (uid 1000)", Process: "tar czf x", StagingPath: fmt.Sprintf("/tmp/stage-%d", i), ArchivePath: fmt.Sprintf("/tmp/stage-%d.tgz", i),
			FileCount: 6, Bytes: 6 * 4096, FirstSeen: t.Add(-6 * time.Second), LastSeen: t, Severity: sevs[i%3], Score: 30 + i%60,
			Reason: "alice copied 6 files into /tmp/stage and archived them with tar", Evidence: ev, UID: fmt.Sprintf("%032x", i)}
	}
	return out
}

// BenchmarkHTMLReport10k: the report of 10,000 detections (the issue's
// bound: under 2 s).
func BenchmarkHTMLReport10k(b *testing.B) {
	dets := manyDetections(10000)
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, dets, ReportOptions{}); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/(1<<20), "MB")
}

func TestHTMLReport10kUnder2s(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dets := manyDetections(10000)
	f, err := os.Create(filepath.Join(t.TempDir(), "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := WriteHTML(f, dets, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("10,000 detections took %s, want under 2 s", took)
	} else {
		t.Logf("10,000 detections in %s", took)
	}
}

func BenchmarkTimelineText(b *testing.B) {
	dets := manyDetections(1000)
	for b.Loop() {
		var buf bytes.Buffer
		WriteTimeline(&buf, dets, TextOptions{Color: true})
	}
}
