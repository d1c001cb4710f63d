package an0041

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/view"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// BenchmarkReplayOutput is a replay of the recorded staging log as
// `stagewatchd replay` does it, the analytic in process (its plugin's start
// left out, which only makes the output's share larger), ending in each
// output: the JSON-lines contract, and the timeline a terminal shows. The
// difference is what rendering adds to a replay's time.
func BenchmarkReplayOutput(b *testing.B) {
	log, err := os.ReadFile(filepath.Join(fixtures, "staging.log"))
	if err != nil {
		b.Fatal(err)
	}
	for _, out := range []string{"json", "timeline"} {
		b.Run(out, func(b *testing.B) {
			b.SetBytes(int64(len(log)))
			for b.Loop() {
				a := New()
				ctx := context.Background()
				if _, err := a.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay, HostIdentifier: "bench"}); err != nil {
					b.Fatal(err)
				}
				if _, err := a.Ingest(ctx, "staging.log", "auditd", bytes.NewReader(log)); err != nil {
					b.Fatal(err)
				}
				var rows []sdk.Row
				if err := a.Generate(ctx, schema.Detections, nil, func(batch []sdk.Row) error { rows = append(rows, batch...); return nil }); err != nil {
					b.Fatal(err)
				}
				rowjson.SortDetections(rows)
				switch out {
				case "json":
					err = rowjson.WriteLines(io.Discard, schema.DetectionsTable, rows)
				case "timeline":
					dets := make([]view.Detection, 0, len(rows))
					for _, r := range rows {
						d, derr := view.FromMap(r)
						if derr != nil {
							b.Fatal(derr)
						}
						dets = append(dets, d)
					}
					err = view.WriteTimeline(io.Discard, dets, view.TextOptions{Color: true})
				}
				if err != nil {
					b.Fatal(err)
				}
				a.Close()
			}
		})
	}
}
