//go:build linux

package fanotify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"golang.org/x/sys/unix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requireFanotify skips unless this process can create a fanotify group with
// directory-fid+name reporting and mark a filesystem.
func requireFanotify(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "fanotify filesystem marks and open_by_handle_at")
	w, err := New(Options{Dirs: []string{"/tmp"}, RecheckInterval: -1})
	if err != nil {
		testenv.Unavailable(t, "fanotify unavailable: %v", err)
	}
	defer w.Close()
	if st := w.Stats(); len(st.Marked) == 0 {
		testenv.Unavailable(t, "cannot mark /tmp's filesystem: %+v", st.Skipped)
	}
}

// collector runs a Watcher and keeps every event it emits.
type collector struct {
	w      *Watcher
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []*event.Event
}

func startWatcher(t *testing.T, opts Options) *collector {
	t.Helper()
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- w.Run(ctx, func(batch []*event.Event) {
			c.mu.Lock()
			c.events = append(c.events, batch...)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *collector) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("Run did not return after cancel")
	}
	c.w.Close()
}

// waitFor polls until match finds an event or the deadline passes.
func (c *collector) waitFor(t *testing.T, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, e := range c.events {
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no event %s; stats %+v; got:\n%s", what, c.w.Stats(), c.dump())
	return nil
}

func (c *collector) matching(match func(*event.Event) bool) []*event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*event.Event
	for _, e := range c.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func (c *collector) dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, e := range c.events {
		if i == 40 {
			fmt.Fprintf(&b, "… %d more\n", len(c.events)-i)
			break
		}
		fmt.Fprintf(&b, "  %s %q from %q pid %d size %d\n", e.Kind, e.Path, e.SourcePath, e.Process.PID, e.Size)
	}
	return b.String()
}

func is(kind event.Kind, path string, pid int) func(*event.Event) bool {
	return func(e *event.Event) bool {
		return e.Kind == kind && e.Path == path && e.Process.PID == int64(pid)
	}
}

// run starts a real child process, waits for it and returns its pid.
func run(t *testing.T, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return cmd.Process.Pid
}

// freshDir makes a new directory under base that the test removes after.
func freshDir(t *testing.T, base string) string {
	t.Helper()
	dir, err := os.MkdirTemp(base, "stagewatch-fanotify-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestLiveFileEvents(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	c := startWatcher(t, Options{Dirs: []string{"/tmp/", "/dev/shm/"}})
	outside := freshDir(t, "/root") // same filesystem as /tmp, not staging

	for _, base := range []string{"/tmp", "/dev/shm"} {
		t.Run(strings.TrimPrefix(base, "/"), func(t *testing.T) {
			stage := freshDir(t, base)

			t.Run("shell redirect creates and writes", func(t *testing.T) {
				f := filepath.Join(stage, "note.txt")
				pid := run(t, "sh", "-c", `echo hello > "$1"`, "sh", f)
				c.waitFor(t, "create "+f, is(event.KindFileCreate, f, pid))
				w := c.waitFor(t, "write "+f, is(event.KindFileWrite, f, pid))
				if w.Size != 6 || w.Source != Source || w.Time.IsZero() {
					t.Errorf("write event = %+v, want size 6, source %q, a time", w, Source)
				}
			})

			t.Run("cp from outside into a subdirectory made after start", func(t *testing.T) {
				src := filepath.Join(outside, "report.pdf")
				if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 12345), 0o600); err != nil {
					t.Fatal(err)
				}
				sub := filepath.Join(stage, "a", "b", "c")
				run(t, "mkdir", "-p", sub)
				dst := filepath.Join(sub, "report.pdf")
				pid := run(t, "cp", src, dst)
				c.waitFor(t, "create "+dst, is(event.KindFileCreate, dst, pid))
				if w := c.waitFor(t, "write "+dst, is(event.KindFileWrite, dst, pid)); w.Size != 12345 {
					t.Errorf("size = %d, want 12345", w.Size)
				}
			})

			t.Run("mv into staging", func(t *testing.T) {
				src := filepath.Join(outside, "keys-"+filepath.Base(stage))
				if err := os.WriteFile(src, []byte("secret"), 0o600); err != nil {
					t.Fatal(err)
				}
				dst := filepath.Join(stage, "id_rsa")
				pid := run(t, "mv", src, dst)
				if base == "/tmp" {
					// Same filesystem: a rename, reported with its source.
					e := c.waitFor(t, "move-in "+dst, is(event.KindFileMoveIn, dst, pid))
					if e.SourcePath != src || e.Size != 6 {
						t.Errorf("move-in = source %q size %d, want %q and 6", e.SourcePath, e.Size, src)
					}
				} else {
					// Across filesystems mv copies: a create and a write.
					c.waitFor(t, "write "+dst, is(event.KindFileWrite, dst, pid))
				}
			})

			t.Run("hostile names come through intact", func(t *testing.T) {
				src := filepath.Join(outside, "hostile-src")
				if err := os.WriteFile(src, []byte("abc"), 0o600); err != nil {
					t.Fatal(err)
				}
				deep := stage
				for range 20 {
					deep = filepath.Join(deep, strings.Repeat("d", 60))
				}
				run(t, "mkdir", "-p", deep)
				for _, name := range []string{
					"new\nline",
					"\xff\xfe invalid utf-8",
					"-rf",
					"--help",
					" (deleted)",
					"tab\tand space ",
					strings.Repeat("L", 255),
				} {
					for _, dir := range []string{stage, deep} {
						dst := filepath.Join(dir, name)
						pid := run(t, "cp", src, dst)
						if w := c.waitFor(t, fmt.Sprintf("write %q", dst), is(event.KindFileWrite, dst, pid)); w.Size != 3 {
							t.Errorf("%q size = %d, want 3", dst, w.Size)
						}
					}
				}
			})

			t.Run("directory renamed into staging", func(t *testing.T) {
				// Written to first while outside, so its path is cached as
				// not staging; the rename must invalidate that.
				moving := filepath.Join(outside, "project-"+filepath.Base(stage))
				run(t, "mkdir", moving)
				run(t, "sh", "-c", `echo before > "$1"/a`, "sh", moving)
				time.Sleep(50 * time.Millisecond)
				dst := filepath.Join(stage, "project")
				if base == "/tmp" {
					pid := run(t, "mv", moving, dst)
					// What was staged is the files below the directory.
					e := c.waitFor(t, "move-in of the file inside the directory", is(event.KindFileMoveIn, filepath.Join(dst, "a"), pid))
					if e.SourcePath != filepath.Join(moving, "a") || e.Size != int64(len("before\n")) {
						t.Errorf("file moved in with its directory = source %q size %d", e.SourcePath, e.Size)
					}
				} else {
					run(t, "mkdir", dst)
				}
				f := filepath.Join(dst, "after")
				pid := run(t, "sh", "-c", `echo after > "$1"`, "sh", f)
				c.waitFor(t, "write after the rename", is(event.KindFileWrite, f, pid))
				// And the old location is no longer reported under a stale path.
				if got := c.matching(func(e *event.Event) bool { return strings.HasPrefix(e.Path, outside) }); len(got) != 0 {
					t.Errorf("events outside staging: %v", got)
				}
			})
		})
	}

	t.Run("this process's own writes are ignored", func(t *testing.T) {
		stage := freshDir(t, "/tmp")
		f := filepath.Join(stage, "self")
		if err := os.WriteFile(f, []byte("me"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A child's write after ours: once it arrives, ours had its chance.
		marker := filepath.Join(stage, "marker")
		pid := run(t, "touch", marker)
		c.waitFor(t, "marker", is(event.KindFileCreate, marker, pid))
		if got := c.matching(func(e *event.Event) bool { return e.Path == f }); len(got) != 0 {
			t.Errorf("own write reported: %+v", got[0])
		}
		if c.w.Stats().Self == 0 {
			t.Error("Stats.Self = 0")
		}
	})
}

// Files deleted or moved out of a staging directory are reported, so the
// correlator counts only what is still there when an archive is made.
func TestDeletesAndMovesOut(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	c := startWatcher(t, Options{Dirs: []string{"/tmp/"}})
	stage := freshDir(t, "/tmp")
	outside := freshDir(t, "/root") // same filesystem as /tmp, not staging

	spill := filepath.Join(stage, "sortAbc123")
	run(t, "sh", "-c", `echo spill > "$1"`, "sh", spill)
	pid := run(t, "rm", spill)
	if d := c.waitFor(t, "delete "+spill, is(event.KindFileDelete, spill, pid)); d.Dir {
		t.Errorf("a file's delete says it is a directory")
	}

	f := filepath.Join(stage, "plan.docx")
	run(t, "sh", "-c", `echo plan > "$1"`, "sh", f)
	pid = run(t, "mv", f, filepath.Join(outside, "plan.docx"))
	c.waitFor(t, "move-out "+f, is(event.KindFileMoveOut, f, pid))

	tree := filepath.Join(stage, "loot")
	run(t, "mkdir", tree)
	run(t, "sh", "-c", `echo a > "$1"/a.docx`, "sh", tree)
	pid = run(t, "mv", tree, filepath.Join(outside, "loot"))
	if e := c.waitFor(t, "move-out "+tree, is(event.KindFileMoveOut, tree, pid)); !e.Dir {
		t.Errorf("a directory's move-out does not say it is one: %+v", e)
	}

	// Renamed within staging: a move-in with its source, no move-out.
	g := filepath.Join(stage, ".tmp-x")
	run(t, "sh", "-c", `echo x > "$1"`, "sh", g)
	h := filepath.Join(stage, "x.docx")
	pid = run(t, "mv", g, h)
	if e := c.waitFor(t, "move-in "+h, is(event.KindFileMoveIn, h, pid)); e.SourcePath != g {
		t.Errorf("rename within staging: source %q, want %q", e.SourcePath, g)
	}
	if got := c.matching(func(e *event.Event) bool { return e.Kind == event.KindFileMoveOut && e.Path == g }); len(got) != 0 {
		t.Errorf("a rename within staging reported as a move-out: %+v", got[0])
	}
}

func TestOutsideStagingIsFiltered(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/tmp")
	c := startWatcher(t, Options{Dirs: []string{stage}})
	var outsideFiles []string
	for _, base := range []string{"/root", "/var/lib", "/tmp"} {
		// /tmp itself is outside when only a directory below it stages.
		dir := freshDir(t, base)
		f := filepath.Join(dir, "quiet")
		run(t, "sh", "-c", `echo x > "$1"`, "sh", f)
		outsideFiles = append(outsideFiles, f)
	}
	marker := filepath.Join(stage, "marker")
	pid := run(t, "touch", marker)
	c.waitFor(t, "marker", is(event.KindFileCreate, marker, pid))
	if got := c.matching(func(e *event.Event) bool { return !strings.HasPrefix(e.Path, stage+"/") }); len(got) != 0 {
		t.Errorf("%d events outside %s, first %q", len(got), stage, got[0].Path)
	}
	if st := c.w.Stats(); st.Filtered < uint64(len(outsideFiles)) || st.CacheHits+st.CacheMisses == 0 {
		t.Errorf("stats = %+v, want at least %d filtered", st, len(outsideFiles))
	}
}

// An entry with a "*" element (/home/*/tmp/) is watched: files in every
// directory it matches are staging, the same files elsewhere below its
// static part are not, and a matching directory made after the start is
// covered too.
func TestWildcardStagingDirectory(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	home := freshDir(t, "/tmp")
	for _, d := range []string{"alice/tmp", "alice/Documents"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := startWatcher(t, Options{Dirs: []string{home + "/*/tmp/"}})
	quiet := filepath.Join(home, "alice", "Documents", "quiet.docx")
	run(t, "touch", quiet)
	staged := filepath.Join(home, "alice", "tmp", "a.docx")
	pid := run(t, "touch", staged)
	c.waitFor(t, "create in alice's tmp", is(event.KindFileCreate, staged, pid))
	if err := os.MkdirAll(filepath.Join(home, "bob", "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(home, "bob", "tmp", "b.docx")
	pid = run(t, "touch", later)
	c.waitFor(t, "create in a matching directory made later", is(event.KindFileCreate, later, pid))
	if got := c.matching(func(e *event.Event) bool { return e.Path == quiet }); len(got) != 0 {
		t.Errorf("a file outside every matching directory was staged: %+v", got[0])
	}
}

// Files written through a bind mount of a staging directory are staged
// under the watched path: a path is resolved through the marked mount,
// whichever mount the writer used.
func TestWritesThroughABindMountAreSeenUnderTheWatchedPath(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/tmp")
	elsewhere := freshDir(t, "/var/lib")
	if out, err := exec.Command("mount", "--bind", stage, elsewhere).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "mount --bind: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", elsewhere).Run() })
	c := startWatcher(t, Options{Dirs: []string{stage}})
	pid := run(t, "touch", filepath.Join(elsewhere, "via-bind.docx"))
	want := filepath.Join(stage, "via-bind.docx")
	c.waitFor(t, "create through the bind mount", is(event.KindFileCreate, want, pid))
}

// A directory bind-mounted into a staging directory from outside it
// (mount --bind /srv/data /tmp/s/inner) is staging under the mount point,
// though its files live elsewhere on the same file system.
func TestWritesIntoABindMountInsideStagingAreSeen(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/tmp")
	source := freshDir(t, "/var/lib")
	inner := filepath.Join(stage, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", source, inner).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "mount --bind: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", inner).Run() })
	c := startWatcher(t, Options{Dirs: []string{stage}})
	want := filepath.Join(inner, "staged.docx")
	pid := run(t, "touch", want)
	c.waitFor(t, "create in the bind mount under staging", is(event.KindFileCreate, want, pid))
}

// A tree deeper than PATH_MAX, made on purpose to hide from tools that
// use paths, is still resolved: the path is found by walking up.
func TestPathsLongerThanPathMax(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/dev/shm")
	c := startWatcher(t, Options{Dirs: []string{stage}})
	testenv.RequireTool(t, "python3")
	elem := strings.Repeat("d", 250)
	want := stage
	for range 21 {
		want += "/" + elem
	}
	want += "/staged.docx"
	if len(want) <= unix.PathMax {
		t.Fatalf("the test path is only %d bytes", len(want))
	}
	// Shells refuse to cd past PATH_MAX; chdir by relative steps does not.
	script := "import os\nfor _ in range(21):\n    os.mkdir('" + elem + "'); os.chdir('" + elem + "')\nopen('staged.docx', 'w').write('secret')\n"
	cmd := exec.Command("python3", "-c", script)
	cmd.Dir = stage
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the deep tree: %v %s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(stage, elem)) })
	e := c.waitFor(t, "a write "+strconv.Itoa(len(want))+" bytes deep", func(e *event.Event) bool {
		return e.Kind == event.KindFileWrite && e.Path == want
	})
	if e.Process.PID <= 0 {
		t.Errorf("deep event without its writer: %+v", e)
	}
	if st := c.w.Stats(); st.LongPaths == 0 {
		t.Errorf("stats %+v: no long path counted", st)
	}
}

// After a kernel queue overflow the watcher rescans the staging
// directories once the queue drains: files still there are reported again
// (newest first, marked Recovered, the owner as their actor), the loss is
// estimated as a number, and health says degraded. Not parallel: it
// shrinks the kernel's queue limit for the group it creates.
func TestOverflowIsRecovered(t *testing.T) {
	requireFanotify(t)
	const limit = "/proc/sys/fs/fanotify/max_queued_events"
	old, err := os.ReadFile(limit)
	if err != nil {
		testenv.Unavailable(t, "%s: %v", limit, err)
	}
	stage := freshDir(t, "/dev/shm")
	if err := os.WriteFile(limit, []byte("64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Dirs: []string{stage}, RecheckInterval: -1})
	restoreErr := os.WriteFile(limit, old, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if restoreErr != nil {
		t.Fatal(restoreErr)
	}
	defer w.Close()
	var mu sync.Mutex
	var got []*event.Event
	first := true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(batch []*event.Event) {
			mu.Lock()
			got = append(got, batch...)
			slow := first
			first = false
			mu.Unlock()
			if slow {
				// A reader behind a burst: the queue of 64 overflows.
				time.Sleep(300 * time.Millisecond)
			}
		})
	}()
	defer func() { cancel(); <-done }()
	loop := testenv.BuildCreateLoop(t)
	if out, err := exec.Command(loop, stage, "2000").CombinedOutput(); err != nil {
		t.Fatalf("create loop: %v %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Rescans == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := w.Stats()
	if st.Overflows == 0 || st.Rescans == 0 || st.Rescanned == 0 || st.EstimatedLost == 0 || st.Degraded == "" {
		t.Fatalf("after an overflow: %+v", st)
	}
	seen := map[string]bool{}
	mu.Lock()
	for _, e := range got {
		seen[e.Path] = true
		if e.Source == RescanSource && (!e.Recovered || e.Actor.UID != 0 || e.Kind != event.KindFileCreate) {
			t.Errorf("rescanned event %+v", e)
		}
	}
	mu.Unlock()
	for i := range 2000 {
		if p := filepath.Join(stage, "f"+strconv.Itoa(i)); !seen[p] {
			t.Fatalf("%s neither read from the queue nor found by the rescan; stats %+v", p, st)
		}
	}
	t.Logf("overflows %d, rescanned %d files, estimated lost %d; %s", st.Overflows, st.Rescanned, st.EstimatedLost, st.Degraded)
}

func TestMissingDirIsSkippedThenPickedUp(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	parent := freshDir(t, "/dev/shm")
	later := filepath.Join(parent, "later")
	c := startWatcher(t, Options{Dirs: []string{later}, RecheckInterval: 50 * time.Millisecond})
	st := c.w.Stats()
	if len(st.Marked) != 0 || len(st.Skipped) != 1 || st.Skipped[0].Dir != later || st.Skipped[0].Reason != "does not exist" {
		t.Fatalf("stats before mkdir = %+v", st)
	}
	run(t, "mkdir", later)
	deadline := time.Now().Add(3 * time.Second)
	for len(c.w.Stats().Marked) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := c.w.Stats(); len(st.Marked) != 1 || len(st.Skipped) != 0 {
		t.Fatalf("stats after mkdir = %+v", st)
	}
	f := filepath.Join(later, "f")
	pid := run(t, "touch", f)
	c.waitFor(t, "create in late directory", is(event.KindFileCreate, f, pid))
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	for _, dirs := range [][]string{{"relative/dir"}, {""}, {"/tmp", "tmp"}} {
		if w, err := New(Options{Dirs: dirs}); err == nil {
			w.Close()
			t.Errorf("New(%q) succeeded", dirs)
		}
	}
}

func TestCancelAndCloseStopRunPromptly(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			w, err := New(Options{Dirs: []string{"/tmp"}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, func([]*event.Event) {}) }()
			time.Sleep(100 * time.Millisecond) // let Run block in the poller
			start := time.Now()
			if how == "cancel" {
				cancel()
			} else {
				w.Close()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
				// Without the wake-up, Run would sit in poll(2) for good; any
				// prompt return shows it, with room for a loaded machine.
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("Run took %v to stop", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not stop")
			}
			err = w.Run(context.Background(), nil)
			if how == "cancel" && err == nil {
				t.Error("second Run succeeded")
			}
			if how == "close" && err != nil {
				t.Errorf("Run after Close = %v, want nil at once", err)
			}
		})
	}
}

func TestLookupHookEnriches(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/dev/shm")
	var calls sync.Map
	c := startWatcher(t, Options{Dirs: []string{stage}, Lookup: func(pid int64) (event.Process, event.Actor, bool) {
		calls.Store(pid, true)
		return event.Process{Exe: "/usr/bin/tracked"}, event.Actor{UID: 1234, EUID: 0, AUID: 1234}, true
	}})
	f := filepath.Join(stage, "f")
	pid := run(t, "touch", f)
	e := c.waitFor(t, "create", is(event.KindFileCreate, f, pid))
	if e.Process.Exe != "/usr/bin/tracked" || e.Actor.UID != 1234 || e.Process.PID != int64(pid) {
		t.Errorf("event not enriched: %+v", e)
	}
	if _, ok := calls.Load(int64(pid)); !ok {
		t.Error("Lookup not called with the writer's pid")
	}
}

func TestErrorsAreNotFatal(t *testing.T) {
	// A closed watcher's Run returns at once rather than failing.
	requireFanotify(t)
	t.Parallel()
	w, err := New(Options{Dirs: []string{"/tmp"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := w.Run(context.Background(), func([]*event.Event) {}); err != nil {
		t.Errorf("Run after Close = %v", err)
	}
}

// CaughtUp passes a file event's time only once the event has been emitted,
// stays behind while emit is blocked, and reaches now when idle.
func TestCaughtUp(t *testing.T) {
	requireFanotify(t)
	dir := freshDir(t, "/tmp")
	w, err := New(Options{Dirs: []string{"/tmp/"}, RecheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.CaughtUp().IsZero() {
		t.Error("caught up before reading anything")
	}
	var mu sync.Mutex
	var got []*event.Event
	gate := make(chan struct{})
	var hold atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(batch []*event.Event) {
			if hold.Load() {
				<-gate
			}
			mu.Lock()
			got = append(got, batch...)
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		hold.Store(false)
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	emitted := func(path string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if e.Path == path {
				return true
			}
		}
		return false
	}
	waitCaughtUp := func(to time.Time) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); w.CaughtUp().Before(to); {
			if time.Now().After(deadline) {
				t.Fatalf("not caught up to %v after 5s: %v", to, w.CaughtUp())
			}
			time.Sleep(time.Millisecond)
		}
	}

	// Idle: caught up to about now.
	waitCaughtUp(time.Now())

	// Blocked in emit: the watcher must not claim the file it holds.
	blocked := filepath.Join(dir, "blocked")
	hold.Store(true)
	run(t, "touch", blocked)
	wrote := time.Now()
	time.Sleep(100 * time.Millisecond)
	if c := w.CaughtUp(); !c.Before(wrote) {
		t.Fatalf("caught up to %v while the event written at %v waits in emit", c, wrote)
	}
	hold.Store(false)
	gate <- struct{}{}
	waitCaughtUp(wrote)
	if !emitted(blocked) {
		t.Fatal("caught up past a file event not emitted")
	}
	for i := range 50 {
		path := filepath.Join(dir, fmt.Sprintf("f%d", i))
		run(t, "touch", path)
		waitCaughtUp(time.Now())
		if !emitted(path) {
			t.Fatalf("caught up past %s, not emitted", path)
		}
	}
}

// A file written with a private key in it, under any name, has its event's
// Secret set from its first bytes; other content leaves it empty.
func TestSecretsByContent(t *testing.T) {
	requireFanotify(t)
	t.Parallel()
	stage := freshDir(t, "/dev/shm")
	outside := freshDir(t, "/root")
	c := startWatcher(t, Options{Dirs: []string{stage}})

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ed.Public(), ed)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pkcs8)
	zw.Close()

	for _, tc := range []struct {
		name    string
		content []byte
		secret  string
		archive string
	}{
		{"notes.txt", pkcs8, staging.SecretPrivateKey, ""},
		{"todo", append([]byte("\r\n  "), bytes.ReplaceAll(pkcs1, []byte("\n"), []byte("\r\n"))...), staging.SecretPrivateKey, ""},
		{"vault.bin", append([]byte{0x03, 0xd9, 0xa2, 0x9a, 0x67, 0xfb, 0x4b, 0xb5, 0x01, 0x00, 0x04, 0x00}, make([]byte, 200)...), staging.SecretKeePass, ""},
		{"server.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), "", ""},
		{"keys.dat", gz.Bytes(), "", "gzip"},
		{"readme", []byte("nothing to see\n"), "", ""},
	} {
		src := filepath.Join(outside, tc.name)
		if err := os.WriteFile(src, tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(stage, tc.name)
		pid := run(t, "cp", src, dst)
		e := c.waitFor(t, "write "+dst, is(event.KindFileWrite, dst, pid))
		if e.Secret != tc.secret || e.ArchiveFormat != tc.archive {
			t.Errorf("%s: secret %q archive %q, want %q and %q", tc.name, e.Secret, e.ArchiveFormat, tc.secret, tc.archive)
		}
		if create := c.waitFor(t, "create "+dst, is(event.KindFileCreate, dst, pid)); create.Secret != "" {
			t.Errorf("%s: a create, before any write, says %q", tc.name, create.Secret)
		}
	}
	if st := c.w.Stats(); st.HeadsRead < 6 {
		t.Errorf("heads read %d, want 6", st.HeadsRead)
	}
}
