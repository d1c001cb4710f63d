package sdktest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Replay configures a (an analytic as Connect returns it) in replay mode
// for host with config (an analytic's configuration as JSON, "" for its
// defaults), then ingests each file in turn, in format ("" lets the
// analytic recognise it by its content), as `stagewatchd replay` does. A
// failure to configure, open or ingest fails the test.
func Replay(t testing.TB, a sdk.Analytic, host, config, format string, files ...string) []sdk.IngestStats {
	t.Helper()
	ctx := context.Background()
	req := sdk.ConfigureRequest{Mode: sdk.ModeReplay, HostIdentifier: host}
	if config != "" {
		req.Config = json.RawMessage(config)
	}
	if _, err := a.Configure(ctx, req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	var all []sdk.IngestStats
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		st, err := a.Ingest(ctx, filepath.Base(name), format, f)
		f.Close()
		if err != nil {
			t.Fatalf("Ingest(%s): %v", name, err)
		}
		all = append(all, st)
	}
	return all
}

// Rows generates every row of table that the constraints select.
func Rows(t testing.TB, a sdk.Analytic, table string, cs ...sdk.Constraint) []sdk.Row {
	t.Helper()
	var rows []sdk.Row
	if err := a.Generate(context.Background(), table, cs, func(b []sdk.Row) error {
		rows = append(rows, b...)
		return nil
	}); err != nil {
		t.Fatalf("Generate(%s): %v", table, err)
	}
	return rows
}
