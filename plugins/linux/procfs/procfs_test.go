//go:build linux

package procfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTTYName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stat string
		want string
	}{
		{"1 (bash) S 0 1 1 34816 1", "pts0"},   // 136<<8 | 0
		{"1 (a b) c) S 0 1 1 34819 1", "pts3"}, // comm with ") "
		{"1 (getty) S 0 1 1 1025 1", "tty1"},
		{"1 (kthreadd) S 0 0 0 0 0", "(none)"},
		{"garbage", ""},
		{"1 (x) S 0", ""},
	}
	for _, tc := range tests {
		if got := TTYName([]byte(tc.stat)); got != tc.want {
			t.Errorf("TTYName(%q) = %q, want %q", tc.stat, got, tc.want)
		}
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		proc, actor, ok := Read(Root, int64(cmd.Process.Pid))
		// Mid-exec, /proc shows the new executable a moment before its
		// arguments: wait for both.
		if ok && filepath.Base(proc.Exe) == "sleep" && len(proc.Argv) > 0 {
			if want := []string{"sleep", "30"}; strings.Join(proc.Argv, " ") != strings.Join(want, " ") {
				t.Errorf("argv = %q, want %q", proc.Argv, want)
			}
			if proc.PPID != int64(os.Getpid()) || actor.UID != int64(os.Getuid()) || actor.EUID != int64(os.Geteuid()) || actor.TTY == "" {
				t.Errorf("proc %+v actor %+v", proc, actor)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Read never saw the exec: %+v %v", proc, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, ok := Read(Root, 1<<30); ok {
		t.Error("lookup of a pid that cannot exist succeeded")
	}
}

func TestAncestors(t *testing.T) {
	t.Parallel()
	parent, chain := Ancestors(Root, int64(os.Getpid()), 8)
	self, _ := os.Executable()
	if parent != self || len(chain) == 0 || chain[0] != self {
		t.Errorf("Ancestors of this test: %q %q, want %q first", parent, chain, self)
	}
}
