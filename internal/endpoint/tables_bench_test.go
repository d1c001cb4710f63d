package endpoint

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func BenchmarkAddFileEvent(b *testing.B) {
	s := NewTables(TablesConfig{})
	ev := fileEvent(0, "/tmp/x/report.docx")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev.Time = base.Add(time.Duration(i) * time.Microsecond)
		s.AddFileEvent(ev, "/tmp/")
		i++
	}
}

func BenchmarkGenerateDetections10k(b *testing.B) {
	s := NewTables(TablesConfig{})
	for i := range DefaultMaxDetections {
		s.UpsertDetection(detection(fmt.Sprintf("uid-%d", i), i, 5))
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.Generate(context.Background(), schema.Detections, nil, func(rows []sdk.Row) error {
			n += len(rows)
			return nil
		})
		if err != nil || n != DefaultMaxDetections {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
}

// BenchmarkTimeConstraint50k asks for the newest 100 of 50,000 file events,
// the shape of a scheduled "time > last run" query.
func BenchmarkTimeConstraint50k(b *testing.B) {
	s := NewTables(TablesConfig{})
	for i := range DefaultMaxFileEvents {
		ev := fileEvent(0, "/tmp/x/"+strconv.Itoa(i))
		ev.Time = base.Add(time.Duration(i) * 100 * time.Millisecond)
		s.AddFileEvent(ev, "/tmp/")
	}
	last := base.Add(time.Duration(DefaultMaxFileEvents) * 100 * time.Millisecond).Unix()
	cons := []sdk.Constraint{{Column: "time", Op: sdk.OpGreaterThan, Expr: strconv.FormatInt(last-11, 10)}}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := s.Generate(context.Background(), schema.FileEvents, cons, func(rows []sdk.Row) error {
			n += len(rows)
			return nil
		})
		if err != nil || n != 100 {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
}
