//go:build linux

package an0041

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestStateDiskFull: with its state on a full file system the analytic
// detects as before, in memory, and says in its health that the state is
// not saved and why; once there is room it saves again.
func TestStateDiskFull(t *testing.T) {
	fs := testenv.SmallFS(t, 1<<20)
	dir := filepath.Join(fs, "AN0041")
	u := opened(t, dir)
	defer u.close(t)
	filler := testenv.FillFS(t, fs)

	f, err := os.Open(filepath.Join(fixtures, "staging.log"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := u.Ingest(context.Background(), "staging.log", "auditd", f)
	f.Close()
	if err != nil || st.Detections != 2 {
		t.Fatalf("ingest on a full disk: %+v, %v", st, err)
	}
	want, _ := os.ReadFile(filepath.Join(fixtures, "staging.detections.golden.jsonl"))
	if got := goldenDetections(t, u); !bytes.Equal(got, want) {
		t.Errorf("detections on a full disk differ from the golden file:\n%s", got)
	}
	h := u.Health(context.Background())
	if h.State != sdk.StateDegraded || !strings.Contains(h.Message, "state not saved") || !strings.Contains(h.Message, "full") ||
		h.Extra["state_disk_full"] == 0 || h.Extra["state_write_errors"] == 0 {
		t.Errorf("health on a full disk: %s %q %v", h.State, h.Message, h.Extra)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	f, _ = os.Open(filepath.Join(fixtures, "benign.log"))
	_, err = u.Ingest(context.Background(), "benign.log", "auditd", f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if h := u.Health(context.Background()); h.State == sdk.StateDegraded || h.Extra["state_events_written"] == 0 {
		t.Errorf("health once there is room: %s %q %v", h.State, h.Message, h.Extra)
	}
}
