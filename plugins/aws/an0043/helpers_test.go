package an0043

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// configured returns an AN0043 configured for replay with cfg (a JSON
// section; "" for defaults), in memory unless stateDir is set.
func configured(t testing.TB, cfg, stateDir string, mode sdk.Mode) *Analytic {
	t.Helper()
	a := New()
	var raw json.RawMessage
	if cfg != "" {
		raw = json.RawMessage(cfg)
	}
	if _, err := a.Configure(context.Background(), sdk.ConfigureRequest{Config: raw, Mode: mode, HostIdentifier: "collector-1", StateDir: stateDir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// ingestFile replays one file.
func ingestFile(t testing.TB, a *Analytic, path string) sdk.IngestStats {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := a.Ingest(context.Background(), filepath.Base(path), "", f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st
}

// rows returns a table's rows.
func rows(t testing.TB, a *Analytic, table string) []sdk.Row {
	t.Helper()
	var out []sdk.Row
	if err := a.Generate(context.Background(), table, nil, func(b []sdk.Row) error {
		out = append(out, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// detections returns the detections sorted by first_seen then uid.
func detections(t testing.TB, a *Analytic) []sdk.Row {
	t.Helper()
	d := rows(t, a, schema.Detections)
	sort.Slice(d, func(i, j int) bool {
		if d[i]["first_seen"] != d[j]["first_seen"] {
			return d[i]["first_seen"] < d[j]["first_seen"]
		}
		return d[i]["uid"] < d[j]["uid"]
	})
	return d
}
