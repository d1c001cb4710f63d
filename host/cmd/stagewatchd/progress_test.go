package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{120 << 20, 2 << 30, 2 * time.Second, "audit.log: 120.0 MB of 2.0 GB (5%), 60.0 MB/s, 32s left"},
		{2 << 30, 2 << 30, 10 * time.Second, "audit.log: 2.0 GB of 2.0 GB (100%), 204.8 MB/s"},
		{512, 0, time.Second, "audit.log: 512 bytes, 512 bytes/s"},
		{0, 1 << 20, 0, "audit.log: 0 bytes of 1.0 MB (0%)"},
	} {
		if got := progressLine("audit.log", tc.done, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("%d of %d in %s: %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

// TestProgressRedrawsAndClears: the counting reader feeds the redraws, and
// the line is cleared when the input is done.
func TestProgressRedrawsAndClears(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	p := startProgress(&out, "x.evtx", 10<<20)
	n, err := io.Copy(io.Discard, p.reader(bytes.NewReader(make([]byte, 5<<20))))
	if err != nil || n != 5<<20 {
		t.Fatal(n, err)
	}
	time.Sleep(progressEvery + 200*time.Millisecond)
	p.finish()
	s := out.String()
	if !strings.Contains(s, "x.evtx: 5.0 MB of 10.0 MB (50%)") {
		t.Errorf("no redraw with the bytes read: %q", s)
	}
	if !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("the line is not cleared at the end: %q", s)
	}
}

// TestNoProgressWhenPiped: a replay whose stderr is not a terminal writes
// only its summary lines.
func TestNoProgressWhenPiped(t *testing.T) {
	t.Parallel()
	if isTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is a terminal")
	}
}

// syncBuffer is a bytes.Buffer safe for the redrawing goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
