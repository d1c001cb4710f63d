package main

import (
	"fmt"
	"github.com/stagewatch/stagewatch/internal/staging"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows, on a terminal's stderr only, how far a replay has read
// one input: bytes done of the total, the rate and the time left, redrawn
// in place twice a second and cleared when the input is done. Piped or
// redirected, stderr carries only the per-file summary lines.
type progress struct {
	w     io.Writer
	name  string
	total int64 // 0: unknown (standard input)
	start time.Time
	done  atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

const progressEvery = 500 * time.Millisecond

func startProgress(w io.Writer, name string, total int64) *progress {
	p := &progress{w: w, name: name, total: total, start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(p.w, "\r\x1b[K"+progressLine(p.name, p.done.Load(), p.total, time.Since(p.start)))
			}
		}
	}()
	return p
}

func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &p.done} }

func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// progressLine is one redraw: "audit.log: 120.3 MB of 2.0 GB (6%), 85.2
// MB/s, 22s left".
func progressLine(name string, done, total int64, elapsed time.Duration) string {
	line := name + ": " + staging.HumanBytes(done)
	if total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", staging.HumanBytes(total), min(100, done*100/total))
	}
	if secs := elapsed.Seconds(); secs > 0 && done > 0 {
		rate := float64(done) / secs
		line += ", " + staging.HumanBytes(int64(rate)) + "/s"
		if total > done {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			line += ", " + left.Round(time.Second).String() + " left"
		}
	}
	return line
}
