package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Corpus finds ../shared/corpus/NAME beside the repository (the shared
// corpus of real logs), walking up from the test's directory to the
// module root. Missing, it is Unavailable: a skip on a developer's
// machine, a failure under CI, where it is always there.
func Corpus(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpus", name)
			if _, err := os.Stat(c); err != nil {
				Unavailable(t, "no corpus at %s: %v", c, err)
			}
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			Unavailable(t, "no go.mod above the test's directory, so no corpus")
		}
		dir = parent
	}
}
