// Package testenv is how a test says what it needs from the machine: root,
// a kernel interface, a tool, a built binary. On a developer's machine a
// missing need skips the test with the reason; under CI (CI=true), where
// the machine is known to provide it, the test fails instead, so a broken
// environment is never read as a pass.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI: CI=true (or 1), as CI
// services and .ci/run set it.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Unavailable stops the test for a need the machine does not meet: a skip
// on a developer's machine, a failure under CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (under CI this is a failure, not a skip)", msg)
	}
	t.Skip(msg)
}

// RequireRoot stops the test unless it runs as root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root: %s", why)
	}
}

// RequireTool stops the test unless each named program is on PATH.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			Unavailable(t, "%s is not installed (make deps installs the test packages)", name)
		}
	}
}
