package an0043

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// update rewrites the golden files from what the analytic produces now:
//
//	go test ./plugins/aws/an0043 -run TestGolden -update
//
// and the change to reason, score or evidence is reviewed in the diff.
var update = flag.Bool("update", false, "rewrite the *.detections.golden.jsonl files")

const fixtures = "../testdata"

// fixtureFiles are the replay fixtures (gen_fixtures.py writes them).
func fixtureFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.json", "*.json.gz", "*.jsonl"} {
		got, _ := filepath.Glob(filepath.Join(fixtures, pat))
		for _, g := range got {
			if !strings.HasSuffix(g, ".golden.jsonl") {
				out = append(out, g)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures in %s", fixtures)
	}
	return out
}

func goldenOf(path string) string {
	base := path
	for _, ext := range []string{".gz", ".jsonl", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base + ".detections.golden.jsonl"
}

// replayed replays one fixture through AN0043 behind the real gRPC
// converters, as `stagewatchd replay` does.
func replayed(t *testing.T, path string) sdk.Analytic {
	t.Helper()
	a := sdktest.Connect(t, New())
	ctx := context.Background()
	if _, err := a.Configure(ctx, sdk.ConfigureRequest{Config: json.RawMessage(`{}`), Mode: sdk.ModeReplay, HostIdentifier: "collector-1"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := a.Ingest(ctx, filepath.Base(path), "", f)
	if err != nil || st.ParseErrors != 0 || st.Records == 0 {
		t.Fatalf("%s: %+v %v", path, st, err)
	}
	return a
}

// TestGoldenDetections: each fixture's detections, as stagewatchd replay
// prints them, equal its reviewed golden file; a tp- fixture raises at
// least one detection and a benign- one none.
func TestGoldenDetections(t *testing.T) {
	t.Parallel()
	for _, path := range fixtureFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := replayed(t, path)
			var got []sdk.Row
			if err := a.Generate(context.Background(), schema.Detections, nil, func(b []sdk.Row) error { got = append(got, b...); return nil }); err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(name, "tp-") && len(got) == 0:
				t.Errorf("true-positive fixture raised nothing")
			case strings.HasPrefix(name, "benign-") && len(got) != 0:
				t.Errorf("benign fixture raised %d detections: %v", len(got), got)
			}
			rowjson.SortDetections(got)
			var out bytes.Buffer
			if err := rowjson.WriteLines(&out, schema.DetectionsTable, got); err != nil {
				t.Fatal(err)
			}
			golden := goldenOf(path)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with -update and review it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("detections of %s differ from %s (regenerate with -update and review the diff):\n got:\n%s\nwant:\n%s", name, filepath.Base(golden), out.Bytes(), want)
			}
		})
	}
}
