package packs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// queryState is what osquery keeps in its database per scheduled query: the
// last results (the base of the next differential), the epoch and counter
// they belong to, the query text (a changed query restarts the counter) and
// the splayed interval (kept while the interval is unchanged).
type queryState struct {
	Query    string              `json:"query"`
	Epoch    uint64              `json:"epoch"`
	Counter  uint64              `json:"counter"`
	Interval int                 `json:"interval"`
	Splay    int                 `json:"splayed_interval"`
	Rows     []map[string]string `json:"rows"`
}

// stateFile names a query's file. Query names are free text, so anything
// outside a safe set is %-escaped; distinct names map to distinct files.
func stateFile(dir, name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return filepath.Join(dir, b.String()+".json")
}

// loadState returns nil, nil when there is no state yet.
func loadState(path string) (*queryState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st queryState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// saveState replaces path atomically: a crash leaves the old state or the
// new one, never half of either.
func saveState(path string, st *queryState) (err error) {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		// Persist the rename itself; a failure here only weakens durability.
		d.Sync()
		d.Close()
	}
	return nil
}
