package an0042

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
)

// update rewrites the golden files from what the analytic produces now:
//
//	go test ./plugins/macos/an0042 -run TestGolden -update
//
// and the change to reason, score or evidence is reviewed in the diff.
var update = flag.Bool("update", false, "rewrite the *.detections.golden.jsonl files")

// TestGoldenDetections replays every eslogger fixture through the analytic
// behind the real gRPC converters and compares its detections, as
// `stagewatchd replay` prints them, with the reviewed golden file beside
// the fixture.
func TestGoldenDetections(t *testing.T) {
	t.Parallel()
	logs, err := filepath.Glob(filepath.Join(fixtures, "*.jsonl"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtures, err)
	}
	for _, log := range logs {
		if strings.HasSuffix(log, ".golden.jsonl") {
			continue
		}
		name := filepath.Base(log)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, _ := replay(t, "", name)
			rows := rowsOf(t, a, schema.Detections)
			rowjson.SortDetections(rows)
			var got bytes.Buffer
			if err := rowjson.WriteLines(&got, schema.DetectionsTable, rows); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(log, ".jsonl") + ".detections.golden.jsonl"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with -update and review it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("detections of %s differ from %s (regenerate with -update and review the diff):\n got:\n%s\nwant:\n%s",
					name, filepath.Base(golden), got.Bytes(), want)
			}
		})
	}
}
