package staging

import (
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// sshDir is what `cp -r ~/.ssh /dev/shm/x` writes, with the sizes of a
// real ~/.ssh: one private key among five files.
var sshDir = []struct {
	name string
	size int64
}{{"id_ed25519", 411}, {"id_ed25519.pub", 97}, {"known_hosts", 1420}, {"config", 180}, {"authorized_keys", 570}}

func copySSHDir(secret string) []*event.Event {
	var out []*event.Event
	for i, f := range sshDir {
		p := "/dev/shm/x/.ssh/" + f.name
		at := time.Duration(i) * 10 * time.Millisecond
		w := fileEv(at+time.Millisecond, event.KindFileWrite, p, f.size, 600, "/usr/bin/cp", alice, "/usr/bin/bash")
		if f.name == "id_ed25519" {
			w.Secret = secret
		}
		out = append(out, fileEv(at, event.KindFileCreate, p, 0, 600, "/usr/bin/cp", alice, "/usr/bin/bash"), w)
	}
	return out
}

func TestKeysAndSecrets(t *testing.T) {
	t.Parallel()
	tarX := seq(one(execEv(time.Minute, 601, 100, "/dev/shm", alice, []string{"/usr/bin/bash"}, "/usr/bin/tar", "czf", "/dev/shm/x.tgz", "x")),
		one(fileEv(time.Minute+time.Second, event.KindFileWrite, "/dev/shm/x.tgz", 2100, 601, "/usr/bin/tar", alice)))
	tarL := one(execEv(time.Minute, 611, 100, "/tmp", alice, []string{"/usr/bin/bash"}, "/usr/bin/tar", "cf", "/tmp/l.tar", "l"))
	withSecret := func(e *event.Event, secret string) *event.Event { e.Secret = secret; return e }
	moved := func(at time.Duration, path, from string) *event.Event {
		e := fileEv(at, event.KindFileMoveIn, path, 400, 610, "/usr/bin/mv", alice)
		e.SourcePath = from
		return e
	}
	tests := []struct {
		name     string
		events   []*event.Event
		reason   string
		severity string
		note     string // the evidence note of a file its content made a key
	}{
		{
			name:   "cp -r ~/.ssh into /dev/shm, then tar, by a person at a terminal",
			events: seq(copySSHDir(""), tarX),
			reason: "alice (pts/0) copied 5 files (1 key or secret, 2.6 KB) into /dev/shm/x", severity: "high",
		},
		{
			name:   "the same with the key's content read: still one key",
			events: seq(copySSHDir(SecretPrivateKey), tarX),
			reason: "copied 5 files (1 key or secret, 2.6 KB)", severity: "high", note: "content: private key",
		},
		{
			// The write that closes the file says what the create could not.
			name: "a private key named notes.txt counts by its content",
			events: seq(copyInto(0, 610, "/usr/bin/cp", alice, "/tmp/l/todo.txt"),
				one(fileEv(2*time.Second, event.KindFileCreate, "/tmp/l/notes.txt", 0, 610, "/usr/bin/cp", alice)),
				one(withSecret(fileEv(3*time.Second, event.KindFileWrite, "/tmp/l/notes.txt", 2600, 610, "/usr/bin/cp", alice), SecretPrivateKey)),
				tarL),
			reason: "copied 2 files (1 key or secret,", note: "content: private key",
		},
		{
			name: "a file written again with a key in it becomes a key",
			events: seq(copyInto(0, 610, "/usr/bin/cp", alice, "/tmp/l/todo.txt", "/tmp/l/notes.txt"),
				one(withSecret(fileEv(20*time.Second, event.KindFileWrite, "/tmp/l/notes.txt", 3000, 612, "/usr/bin/vim", alice), SecretKeePass)),
				tarL),
			reason: "copied 2 files (1 key or secret,", note: "content: KeePass database",
		},
		{
			name: "renamed inside the group, a key is still one",
			events: seq(copyInto(0, 610, "/usr/bin/cp", alice, "/tmp/l/todo.txt"),
				one(withSecret(fileEv(2*time.Second, event.KindFileWrite, "/tmp/l/.x.swp", 3000, 612, "/usr/bin/vim", alice), SecretPuTTYKey)),
				one(moved(3*time.Second, "/tmp/l/notes.txt", "/tmp/l/.x.swp")),
				tarL),
			reason: "copied 1 file and created 1 file (1 key or secret,",
		},
		{
			name: "moved in from ~/.ssh under another name, a key by where it came from",
			events: seq(copyInto(0, 610, "/usr/bin/cp", alice, "/tmp/l/todo.txt"),
				one(moved(2*time.Second, "/tmp/l/a", "/home/alice/.ssh/deploy")),
				tarL),
			reason: "copied 1 file and moved 1 file from /home/alice/.ssh (1 key or secret,",
		},
		{
			name: "two documents are not high",
			events: seq(copyInto(0, 610, "/usr/bin/cp", alice, "/tmp/l/a.docx", "/tmp/l/b.pdf"),
				one(fileEv(5*time.Second, event.KindFileWrite, "/tmp/l/b.pdf", 900<<20, 610, "/usr/bin/cp", alice)),
				tarL),
			reason: "copied 2 files (2 documents,", severity: "medium",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, dets := run(t, linuxCfg, tc.events)
			if len(dets) != 1 {
				t.Fatalf("%d detections, want 1", len(dets))
			}
			d := dets[0]
			checkDetection(t, linuxCfg, d)
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tc.reason)
			}
			if tc.severity != "" && d.Severity != tc.severity {
				t.Errorf("severity %s (score %d), want %s: %s", d.Severity, d.Score, tc.severity, d.Reason)
			}
			var notes []string
			for _, e := range d.Evidence {
				if strings.HasPrefix(e.Note, "content: ") {
					notes = append(notes, e.Note)
				}
			}
			if tc.note != "" && (len(notes) != 1 || notes[0] != tc.note) {
				t.Errorf("evidence notes %q, want one %q", notes, tc.note)
			}
		})
	}
}

// TestSSHDirScore: the arithmetic doc.go gives for ~/.ssh staged and
// tarred, and what each part adds.
func TestSSHDirScore(t *testing.T) {
	t.Parallel()
	var keys [5]int64
	keys[catKey] = 1
	var bytes int64
	for _, f := range sshDir {
		bytes += f.size
	}
	for _, tc := range []struct {
		files       int64
		interactive bool
		want        int
	}{{5, true, 75}, {4, true, 72}, {5, false, 70}, {3, true, 69}} {
		if got := computeScore(tc.files, bytes, keys, false, false, tc.interactive); got != tc.want {
			t.Errorf("%d files (one key), interactive %v: score %d, want %d", tc.files, tc.interactive, got, tc.want)
		}
	}
}
