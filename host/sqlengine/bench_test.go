package sqlengine

import (
	"fmt"
	"testing"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func benchEngine(b *testing.B, n int) *Engine {
	src := newMemSource(schema.DetectionsTable)
	rows := make([]sdk.Row, n)
	for i := range rows {
		rows[i] = detection(fmt.Sprint(i), int64(1700000000+i), "AN0041", "/tmp/stage", i%50)
	}
	src.setRows(schema.Detections, rows...)
	e, err := Open(b.Context(), src, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func benchQuery(b *testing.B, e *Engine, sql string, want int) {
	b.ReportAllocs()
	for b.Loop() {
		_, rows, err := e.Query(b.Context(), sql)
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) != want {
			b.Fatalf("rows = %d, want %d", len(rows), want)
		}
	}
}

// BenchmarkQuery1Row: a one-row detections query, all 19 columns.
func BenchmarkQuery1Row(b *testing.B) {
	benchQuery(b, benchEngine(b, 1), "SELECT * FROM staging_detections", 1)
}

// BenchmarkQuery10000Rows: every column of 10,000 detections.
func BenchmarkQuery10000Rows(b *testing.B) {
	benchQuery(b, benchEngine(b, 10000), "SELECT * FROM staging_detections", 10000)
}

// BenchmarkQuery10000RowsFiltered: 10,000 rows scanned, 100 returned.
func BenchmarkQuery10000RowsFiltered(b *testing.B) {
	benchQuery(b, benchEngine(b, 10000), "SELECT uid, time FROM staging_detections WHERE time >= 1700009900", 100)
}
