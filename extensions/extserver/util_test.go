//go:build !windows

package extserver_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func sscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }
