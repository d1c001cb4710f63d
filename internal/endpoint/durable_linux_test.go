//go:build linux

package endpoint

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestDurableDiskFull: on a full file system a save fails, is counted as
// a full disk and logged (once, not per batch); the state stays
// consistent, and saves work again once there is room.
func TestDurableDiskFull(t *testing.T) {
	fs := testenv.SmallFS(t, 2<<20)
	dir := filepath.Join(fs, "AN0041")
	var mu sync.Mutex
	var logged []string
	d, err := openDurable(dir, sdk.StateLimits{}, func(msg string) {
		mu.Lock()
		logged = append(logged, msg)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.save(stateEvents(100, time.Now()), nil, nil); err != nil {
		t.Fatal(err)
	}
	filler := testenv.FillFS(t, fs)
	var failed int
	for i := range 50 {
		if err := d.save(stateEvents(500, time.Now().Add(time.Duration(i)*time.Second)), nil, []event.Detection{{UID: "u", Time: time.Now()}}); err != nil {
			failed++
		}
	}
	x := map[string]uint64{}
	problem := d.counters(x)
	if failed == 0 || x["state_disk_full"] == 0 || x["state_write_errors"] != uint64(failed) || !strings.Contains(problem, "full") {
		t.Fatalf("%d saves failed; counters %v; problem %q", failed, x, problem)
	}
	mu.Lock()
	if len(logged) != 1 || !strings.Contains(logged[0], "not saved") || !strings.Contains(logged[0], d.path) {
		t.Errorf("log on a full disk: %q", logged)
	}
	mu.Unlock()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := d.save(stateEvents(10, time.Now()), nil, nil); err != nil {
		t.Fatalf("save after space was freed: %v", err)
	}
	if p := d.counters(x); p != "" {
		t.Errorf("problem after recovery: %q", p)
	}
	mu.Lock()
	if last := logged[len(logged)-1]; !strings.Contains(last, "saved again") {
		t.Errorf("recovery not logged: %q", logged)
	}
	mu.Unlock()
	evs, _ := loadAll(t, d)
	if len(evs)%10 != 0 || len(evs) < 110 {
		t.Errorf("%d events kept: not whole batches", len(evs))
	}

	// Restarted on a full disk: the state is read back, never moved aside
	// for want of space.
	testenv.FillFS(t, fs)
	if err := d.close(); err != nil {
		t.Logf("close on a full disk: %v", err)
	}
	again, err := openDurable(dir, sdk.StateLimits{}, func(msg string) { t.Logf("log: %s", msg) })
	if err != nil {
		if matches, _ := filepath.Glob(filepath.Join(dir, stateFile+".bad-*")); len(matches) > 0 {
			t.Fatalf("moved aside on a full disk: %v", matches)
		}
		t.Logf("open on a full disk: %v (kept for the next start)", err)
		return
	}
	defer again.close()
	if again.movedAway != "" {
		t.Fatalf("moved aside on a full disk: %s", again.movedAway)
	}
	if back, _ := loadAll(t, again); len(back) != len(evs) {
		t.Errorf("%d events after a restart on a full disk, had %d", len(back), len(evs))
	}
}
