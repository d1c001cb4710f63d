package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var base = time.Unix(1_700_000_000, 0)

// cloudEvents is a table shaped unlike the endpoint ones, with its own time
// column, as a remote analytic declares it.
var cloudEvents = sdk.TableSpec{
	Name: "staging_cloud_events",
	Columns: []sdk.ColumnSpec{
		{Name: "event_time", Type: sdk.ColumnBigInt},
		{Name: "event_name", Type: sdk.ColumnText},
		{Name: "objects", Type: sdk.ColumnInteger},
		{Name: "event_id", Type: sdk.ColumnText},
	},
}

type cloudRecord struct {
	at      time.Time
	name    string
	objects int
	id      string
}

func (r *cloudRecord) Time() time.Time { return r.at }

func (r *cloudRecord) Row() sdk.Row {
	return sdk.Row{"event_time": UnixSeconds(r.at), "event_name": r.name, "objects": strconv.Itoa(r.objects), "event_id": r.id}
}

func rec(sec int, name string) *cloudRecord {
	return &cloudRecord{at: base.Add(time.Duration(sec) * time.Second), name: name, objects: sec, id: fmt.Sprint("id-", sec)}
}

func collect(t *testing.T, s *Store, table string, cs ...sdk.Constraint) []sdk.Row {
	t.Helper()
	var rows []sdk.Row
	err := s.Generate(context.Background(), table, cs, func(b []sdk.Row) error {
		if len(b) == 0 || len(b) > BatchSize {
			t.Errorf("batch of %d rows", len(b))
		}
		rows = append(rows, b...)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate(%s): %v", table, err)
	}
	return rows
}

func names(rows []sdk.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["event_name"])
	}
	return out
}

func TestAnyTableShape(t *testing.T) {
	t.Parallel()
	s := New()
	tbl := s.Declare(Def{Spec: cloudEvents, TimeColumn: "event_time", Max: 5})
	for i := range 8 {
		tbl.Add(rec(i, "e"+strconv.Itoa(i)))
	}
	if got := names(collect(t, s, cloudEvents.Name)); !slices.Equal(got, []string{"e3", "e4", "e5", "e6", "e7"}) {
		t.Fatalf("kept %v", got)
	}
	ts := strconv.FormatInt(base.Unix()+5, 10)
	got := names(collect(t, s, cloudEvents.Name, sdk.Constraint{Column: "event_time", Op: sdk.OpGreaterThanOrEqual, Expr: ts}))
	if !slices.Equal(got, []string{"e5", "e6", "e7"}) {
		t.Fatalf("event_time >= base+5: %v", got)
	}
	got = names(collect(t, s, cloudEvents.Name, sdk.Constraint{Column: "objects", Op: sdk.OpEquals, Expr: "6"}))
	if !slices.Equal(got, []string{"e6"}) {
		t.Fatalf("objects = 6: %v", got)
	}
	if st := tbl.Stats(); st.Rows != 5 || st.Evictions != 3 || st.Name != cloudEvents.Name {
		t.Fatalf("stats %+v", st)
	}
	if specs := s.Tables(); len(specs) != 1 || specs[0].Name != cloudEvents.Name {
		t.Fatalf("tables %v", specs)
	}
}

func TestUpsertAndEviction(t *testing.T) {
	t.Parallel()
	s := New()
	tbl := s.Declare(Def{Spec: cloudEvents, TimeColumn: "event_time", Max: 3})
	tbl.Upsert("a", rec(1, "a1"))
	tbl.Upsert("b", rec(2, "b1"))
	tbl.Upsert("a", rec(5, "a2")) // moves to its new time
	if got := names(collect(t, s, cloudEvents.Name)); !slices.Equal(got, []string{"b1", "a2"}) {
		t.Fatalf("after update %v", got)
	}
	tbl.Upsert("c", rec(6, "c1"))
	tbl.Upsert("d", rec(7, "d1")) // b leaves, and with it its key
	tbl.Upsert("b", rec(8, "b2"))
	if got := names(collect(t, s, cloudEvents.Name)); !slices.Equal(got, []string{"c1", "d1", "b2"}) {
		t.Fatalf("after eviction %v", got)
	}
	tbl.Upsert("old", rec(0, "old")) // older than everything at the cap
	if got := names(collect(t, s, cloudEvents.Name)); !slices.Equal(got, []string{"c1", "d1", "b2"}) {
		t.Fatalf("after old %v", got)
	}
	if st := tbl.Stats(); st.Rows != 3 || st.Evictions != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	s := New()
	s.Declare(Def{Spec: cloudEvents, TimeColumn: "event_time", Max: 10}).Add(rec(1, "x"))
	if err := s.Generate(context.Background(), "staging_nope", nil, func([]sdk.Row) error { return nil }); err == nil || !strings.Contains(err.Error(), "staging_nope") {
		t.Errorf("unknown table: %v", err)
	}
	err := s.Generate(context.Background(), cloudEvents.Name, []sdk.Constraint{{Column: "colour", Op: sdk.OpEquals, Expr: "x"}}, func([]sdk.Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown column: %v", err)
	}
	stop := errors.New("consumer gone")
	if err := s.Generate(context.Background(), cloudEvents.Name, nil, func([]sdk.Row) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("emit error = %v, want %v", err, stop)
	}
}

func TestBadDeclarationsPanic(t *testing.T) {
	t.Parallel()
	for name, d := range map[string]Def{
		"no name":          {Spec: sdk.TableSpec{Columns: cloudEvents.Columns}},
		"no time column":   {Spec: cloudEvents},
		"text time column": {Spec: cloudEvents, TimeColumn: "event_name"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: declared", name)
				}
			}()
			New().Declare(d)
		}()
	}
	s := New()
	s.Declare(Def{Spec: cloudEvents, TimeColumn: "event_time"})
	defer func() {
		if recover() == nil {
			t.Error("a table declared twice")
		}
	}()
	s.Declare(Def{Spec: cloudEvents, TimeColumn: "event_time"})
}
