package sqlengine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// memSource is a real host.TableSource serving tables from memory. It
// records the constraints each scan received and, like a careless plugin,
// ignores them, so tests show SQLite's own filtering is what results rest on.
type memSource struct {
	mu     sync.Mutex
	specs  []sdk.TableSpec
	rows   map[string][]sdk.Row
	seen   [][]sdk.Constraint
	batch  int
	panics bool
}

func newMemSource(specs ...sdk.TableSpec) *memSource {
	return &memSource{specs: specs, rows: make(map[string][]sdk.Row), batch: 500}
}

func (s *memSource) Tables() []sdk.TableSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.specs)
	slices.SortFunc(out, func(a, b sdk.TableSpec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *memSource) setRows(table string, rows ...sdk.Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[table] = rows
}

func (s *memSource) setSpecs(specs ...sdk.TableSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.specs = specs
}

func (s *memSource) constraints() [][]sdk.Constraint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func (s *memSource) Generate(ctx context.Context, table string, cs []sdk.Constraint, emit func([]sdk.Row) error) error {
	s.mu.Lock()
	known := slices.ContainsFunc(s.specs, func(t sdk.TableSpec) bool { return t.Name == table })
	rows := s.rows[table]
	s.seen = append(s.seen, slices.Clone(cs))
	batch, panics := s.batch, s.panics
	s.mu.Unlock()
	if !known {
		return fmt.Errorf("unknown table %q", table)
	}
	if panics {
		panic("source bug")
	}
	for len(rows) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(batch, len(rows))
		if err := emit(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// hangingSource serves one table whose Generate blocks. With honour set it
// returns when its context ends, as the TableSource contract asks; without,
// it is a wedged plugin that only the release channel frees.
type hangingSource struct {
	honour  bool
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

var slowTable = sdk.TableSpec{Name: "staging_slow", Columns: []sdk.ColumnSpec{{Name: "time", Type: sdk.ColumnBigInt}}}

func (h *hangingSource) Tables() []sdk.TableSpec { return []sdk.TableSpec{slowTable} }

func (h *hangingSource) Generate(ctx context.Context, _ string, _ []sdk.Constraint, emit func([]sdk.Row) error) error {
	h.once.Do(func() { close(h.started) })
	if h.honour {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.release:
		}
	} else {
		<-h.release
	}
	return emit([]sdk.Row{{"time": "1"}})
}
