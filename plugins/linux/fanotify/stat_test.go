//go:build linux

package fanotify

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A lagging reader must not move a staged file after the archiver that
// followed it; a prompt one keeps the read time, which is never early.
func TestStatOfCorrectsOnlyLargeLag(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()

	prompt := changed.Add(20 * time.Millisecond)
	if size, when := statOf(path, prompt); size != 5 || !when.Equal(prompt) {
		t.Errorf("prompt read: size %d, time %v; want 5 and the read time %v", size, when, prompt)
	}
	lagging := changed.Add(3 * time.Second)
	_, when := statOf(path, lagging)
	if lag := lagging.Sub(when); lag < 2900*time.Millisecond {
		t.Errorf("read 3s late stamped only %v earlier; want the change time", lag)
	}
	if when.After(changed.Add(coarseClock)) {
		t.Errorf("corrected time %v is after the change %v plus the clock's granularity", when, changed)
	}
	stale := changed.Add(time.Minute)
	if _, when := statOf(path, stale); !when.Equal(stale) {
		t.Errorf("change time a minute old was believed: %v", when)
	}
	if size, when := statOf(filepath.Join(t.TempDir(), "gone"), prompt); size != -1 || !when.Equal(prompt) {
		t.Errorf("missing file: %d %v", size, when)
	}
}
