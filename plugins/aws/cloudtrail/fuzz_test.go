package cloudtrail

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: whatever bytes arrive, Decode returns (no panic, no hang),
// every record it hands on normalizes without panicking, and counts add
// up. Seeded with each shape and the replay fixtures.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{putObject, noise, modifyVolumeRecord, `{"Records":[` + putObject + `,` + noise + `]}`, `[` + modifyVolumeRecord + `]`,
		`{"Events":[{"CloudTrailEvent":"{\"eventName\":\"PutObject\",\"eventTime\":\"2026-03-02T09:00:00Z\"}"}]}`, `{"Records":[{"eventName":"x"`, `"`, `[[[`, "{\"a\":\"\\\"}"} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.json*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n := uint64(0)
		st, _ := Decode(bytes.NewReader(in), func(r *Record) {
			n++
			if e, ok := Normalize(r); ok {
				_ = e.Resource()
			}
		})
		if n > st.Records || st.Skipped > st.Records {
			t.Fatalf("%d handed on, stats %+v", n, st)
		}
	})
}
