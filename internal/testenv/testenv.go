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

// createLoop creates, writes and closes files as fast as one process can,
// and prints its own files/s so the figure excludes exec and cleanup.
const createLoop = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	long n = atol(argv[2]);
	char path[4096], data[64];
	memset(data, 'x', sizeof data);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%ld", argv[1], i);
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0 || write(fd, data, sizeof data) != sizeof data || close(fd) != 0) {
			perror(path);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.0f\n", n / s);
	return 0;
}
`

// BuildCreateLoop compiles a program that creates DIR/f0…f(N-1), each
// written and closed, as fast as one process can (createloop DIR N), and
// prints its files per second: the file flood of benchmarks and tests.
func BuildCreateLoop(t testing.TB) string {
	t.Helper()
	RequireTool(t, "gcc")
	dir := t.TempDir()
	src := dir + "/createloop.c"
	if err := os.WriteFile(src, []byte(createLoop), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := dir + "/createloop"
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}
