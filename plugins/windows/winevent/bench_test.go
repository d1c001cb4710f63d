package winevent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/windows/winlog"
)

// BenchmarkEVTX: parse + normalize of the corpus's largest files, MB/s
// (run with -cpu 1 for per core); all-records decodes every record, as a
// reader with no filter does.
func BenchmarkEVTX(b *testing.B) {
	root := corpusDir(b)
	for _, name := range []string{"evtx-rs-samples/security.evtx", "evtx-attack-samples/LM_5145_Remote_FileCopy.evtx", "evtx-rs-samples/sample-with-irregular-bool-values.evtx"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(name), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeEVTX(context.Background(), bytes.NewReader(data), func(*event.Event) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(filepath.Base(name)+"/all-records", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var r winlog.EVTXReader
			for b.Loop() {
				if _, err := r.Read(context.Background(), bytes.NewReader(data), func(*winlog.Record) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchShape(b *testing.B, name string, decode func(context.Context, *bytes.Reader, func(*event.Event)) error) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	if name == "evtxecmd.json" {
		// One byte-order mark, at the start.
		data = append(data[:0:0], bytes.Repeat(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), 2000)...)
	} else {
		data = bytes.Repeat(data, 2000)
	}
	var events int
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		events = 0
		if err := decode(context.Background(), bytes.NewReader(data), func(*event.Event) { events++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(7*2000*b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkJSON(b *testing.B) {
	for _, name := range []string{"winlogbeat.jsonl", "flat-export.jsonl", "evtxecmd.json"} {
		b.Run(name, func(b *testing.B) {
			benchShape(b, name, func(ctx context.Context, r *bytes.Reader, emit func(*event.Event)) error {
				_, err := DecodeJSON(ctx, r, emit)
				return err
			})
		})
	}
}

func BenchmarkXML(b *testing.B) {
	for _, name := range []string{"wevtutil.xml", "events-per-line.xml"} {
		b.Run(name, func(b *testing.B) {
			benchShape(b, name, func(ctx context.Context, r *bytes.Reader, emit func(*event.Event)) error {
				_, err := DecodeXML(ctx, r, emit)
				return err
			})
		})
	}
}
