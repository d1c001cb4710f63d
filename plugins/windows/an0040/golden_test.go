package an0040

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// update rewrites the golden files from what the analytic produces now:
//
//	go test ./plugins/windows/an0040 -run TestGolden -update
//
// and the change to reason, score or evidence is reviewed in the diff.
var update = flag.Bool("update", false, "rewrite the *.detections.golden.jsonl files")

const (
	testdata = "../testdata"
	stories  = "../testdata/stories"
)

// replay configures a fresh analytic in replay mode behind the real gRPC
// converters and ingests the files.
func replay(t testing.TB, files ...string) (sdk.Analytic, []sdk.IngestStats) {
	t.Helper()
	a := sdktest.Connect(t, New())
	return a, sdktest.Replay(t, a, "fixture-host", "", "", files...)
}

func rowsOf(t testing.TB, a sdk.Analytic, table string) []sdk.Row {
	t.Helper()
	rows := sdktest.Rows(t, a, table)
	rowjson.SortDetections(rows)
	return rows
}

// detectionLines are a replay's detections as `stagewatchd replay` prints them.
func detectionLines(t testing.TB, files ...string) []byte {
	t.Helper()
	a, stats := replay(t, files...)
	for i, st := range stats {
		if st.ParseErrors != 0 {
			t.Errorf("%s: %d parse errors (first %q)", files[i], st.ParseErrors, st.FirstError)
		}
	}
	var got bytes.Buffer
	if err := rowjson.WriteLines(&got, schema.DetectionsTable, rowsOf(t, a, schema.Detections)); err != nil {
		t.Fatal(err)
	}
	return got.Bytes()
}

// fixtureSets are the replay fixtures by the golden file they share: the
// shapes of testdata's one scenario, and each story's three shapes. The
// XML shape comes first: -update writes the golden file from it.
func fixtureSets(t testing.TB) map[string][]string {
	t.Helper()
	sets := map[string][]string{}
	scenario := filepath.Join(testdata, "scenario.detections.golden.jsonl")
	for _, name := range []string{"wevtutil.xml", "events-per-line.xml", "winlogbeat.jsonl", "flat-export.jsonl", "evtxecmd.json", "winlogbeat.jsonl.gz"} {
		sets[scenario] = append(sets[scenario], filepath.Join(testdata, name))
	}
	// The zip holds the scenario twice (two exports of one log): its files
	// count once, its evidence lists both reports.
	exports := filepath.Join(testdata, "exports.detections.golden.jsonl")
	sets[exports] = []string{filepath.Join(testdata, "exports.zip")}
	for name := range storyExpectations(t) {
		golden := filepath.Join(stories, name+".detections.golden.jsonl")
		for _, shape := range storyShapes {
			sets[golden] = append(sets[golden], filepath.Join(stories, name+shape))
		}
	}
	return sets
}

// storyShapes are the shapes every story is written in.
var storyShapes = []string{".xml", ".winlogbeat.jsonl", ".flat.jsonl"}

// TestGoldenDetections replays every fixture through the analytic and
// compares its detections, as `stagewatchd replay` prints them, with the
// reviewed golden file of its scenario or story: any change to what is
// detected, its reason, score or evidence fails here until the golden file
// is regenerated on purpose. Every shape of one story must match the same
// golden file.
func TestGoldenDetections(t *testing.T) {
	t.Parallel()
	for golden, files := range fixtureSets(t) {
		t.Run(filepath.Base(golden), func(t *testing.T) {
			t.Parallel()
			if *update {
				if err := os.WriteFile(golden, detectionLines(t, files[0]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with -update and review it)", err)
			}
			for _, f := range files {
				if got := detectionLines(t, f); !bytes.Equal(got, want) {
					t.Errorf("detections of %s differ from %s (regenerate with -update and review the diff):\n got:\n%s\nwant:\n%s",
						filepath.Base(f), filepath.Base(golden), got, want)
				}
			}
		})
	}
}

// expectation is one story of stories/expect.json.
type expectation struct {
	Label      string `json:"label"`
	How        string `json:"how"`
	Detections []struct {
		StagingPath string `json:"staging_path"`
		ArchivePath string `json:"archive_path"`
		SeverityMin string `json:"severity_min"`
		TechniqueID string `json:"technique_id"`
	} `json:"detections"`
}

func storyExpectations(t testing.TB) map[string]expectation {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stories, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expectation
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("no stories")
	}
	return m
}

var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3}

// knownGaps are the stories AN0040 does not yet get right, and why. A
// story listed here that comes out as expected fails the test, so the
// list only shrinks.
var knownGaps = map[string]string{}

// TestStories: each labelled story yields the detections its label
// expects, with the right staging and archive paths, technique and at
// least its severity floor, or none.
func TestStories(t *testing.T) {
	t.Parallel()
	for name, want := range storyExpectations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, _ := replay(t, filepath.Join(stories, name+".xml"))
			rows := rowsOf(t, a, schema.Detections)
			problems := storyProblems(rows, want)
			gap, known := knownGaps[name]
			switch {
			case known && len(problems) == 0:
				t.Errorf("%s now comes out as expected: remove it from knownGaps (%s)", name, gap)
			case known:
				t.Logf("known gap (%s): %s", gap, strings.Join(problems, "; "))
			case len(problems) > 0:
				for _, r := range rows {
					t.Logf("detection: %s %s %s | %s | %s | %s", r["technique_id"], r["severity"], r["score"], r["staging_path"], r["archive_path"], r["reason"])
				}
				t.Errorf("%s (%s): %s", name, want.Label, strings.Join(problems, "; "))
			}
		})
	}
}

// storyProblems says how rows differ from a story's expectations: each
// expected detection must be matched by one row, and no row be left over.
func storyProblems(rows []sdk.Row, want expectation) []string {
	var problems []string
	left := slices.Clone(rows)
	for _, w := range want.Detections {
		i := slices.IndexFunc(left, func(r sdk.Row) bool {
			return r["staging_path"] == w.StagingPath && r["archive_path"] == w.ArchivePath
		})
		if i < 0 {
			problems = append(problems, "no detection staging "+w.StagingPath+" archive "+w.ArchivePath)
			continue
		}
		r := left[i]
		left = slices.Delete(left, i, i+1)
		if severityRank[r["severity"]] < severityRank[w.SeverityMin] {
			problems = append(problems, w.StagingPath+": severity "+r["severity"]+" (score "+r["score"]+"), want at least "+w.SeverityMin)
		}
		if r["technique_id"] != w.TechniqueID {
			problems = append(problems, w.StagingPath+": technique "+r["technique_id"]+", want "+w.TechniqueID)
		}
	}
	for _, r := range left {
		problems = append(problems, "unexpected detection staging "+r["staging_path"]+" archive "+r["archive_path"]+": "+r["reason"])
	}
	return problems
}
