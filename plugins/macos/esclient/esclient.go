// Package esclient runs eslogger as a supervised child and reads its JSON
// lines as they stream: Endpoint Security events for AN0042's live
// collection. eslogger is restarted with backoff when it dies or stalls,
// and what was lost is counted: lines too long or malformed (skipped),
// messages Endpoint Security did not deliver (gaps in global_seq_num), and
// the restarts themselves. Only the executable's path is macOS's own
// (path_darwin.go): the supervision runs anywhere, and its tests run a
// stand-in eslogger on Linux.
package esclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/macos/eslogger"
)

// Events are the Endpoint Security events AN0042 subscribes to. open is
// left out: it is every file any process opens, loud; Config.Open adds
// it. unlink is in because only files that still exist count.
var Events = []string{"exec", "fork", "exit", "create", "rename", "close", "clone", "copyfile", "unlink"}

// Config is how the child runs.
type Config struct {
	// Path is the eslogger executable: /usr/bin/eslogger on macOS.
	Path string
	// Args precede the event names (a stand-in's own flags in tests).
	Args []string
	// Open subscribes to open events too (Endpoint Security reports every
	// open: loud).
	Open bool
	// Backoff is the first wait before a restart, doubling to MaxBackoff;
	// a child that ran for healthyAfter starts again at Backoff.
	Backoff, MaxBackoff time.Duration
	// Stall is how long the child may say nothing before it is taken for
	// hung and restarted: a Mac execs and exits processes every second.
	Stall time.Duration
	// BatchSize bounds one batch handed over.
	BatchSize int
}

// Defaults for Config fields left zero.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultStall      = 2 * time.Minute
	defaultBatch      = 256
	healthyAfter      = time.Minute
	stderrKeep        = 4096
)

// Collector is the eslogger child as an endpoint.Collector.
type Collector struct {
	cfg Config

	mu      sync.Mutex
	cur     *child
	closed  bool
	lastErr string // what the child's stderr or exit said last
	down    string // why no child runs now; empty while one streams

	lines, events, parseErrors, oversized atomic.Uint64
	restarts, stalls, seqGaps, seqResets  atomic.Uint64
	ignored, truncated                    atomic.Uint64
	started                               atomic.Uint64
	done                                  chan struct{}
	closeOnce                             sync.Once
}

// Open checks the executable and returns a collector; the child starts in
// Run.
func Open(cfg Config) (*Collector, error) {
	if cfg.Path == "" {
		return nil, errors.New("no eslogger executable configured")
	}
	info, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("eslogger: %w", err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("eslogger: %s is not an executable", cfg.Path)
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.Backoff)
	}
	if cfg.Stall <= 0 {
		cfg.Stall = DefaultStall
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultBatch
	}
	return &Collector{cfg: cfg, done: make(chan struct{}), down: "starting"}, nil
}

// Argv is the command line the child runs with. JSON lines on stdout are
// eslogger's default output, so no --format is passed: the flag is not in
// every release.
func (c *Collector) Argv() []string {
	argv := append([]string{c.cfg.Path}, c.cfg.Args...)
	argv = append(argv, Events...)
	if c.cfg.Open {
		argv = append(argv, "open")
	}
	return argv
}

// Run starts eslogger and keeps it running until ctx ends or Close is
// called.
func (c *Collector) Run(ctx context.Context, emit func([]*event.Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	// One normalizer for the collector's life: global_seq_num gaps are
	// counted across batches, and its restarts across children.
	var (
		batch []*event.Event
		n     = eslogger.New(func(ev *event.Event) { batch = append(batch, ev) })
	)
	flush := func() {
		if len(batch) > 0 {
			emit(batch)
			batch = nil
		}
	}
	wait := c.cfg.Backoff
	for ctx.Err() == nil {
		began := time.Now()
		err := c.runOnce(ctx, n, &batch, flush)
		flush()
		c.syncStats(n)
		if ctx.Err() != nil {
			return nil
		}
		c.restarts.Add(1)
		if time.Since(began) >= healthyAfter {
			wait = c.cfg.Backoff
		}
		c.setDown(fmt.Sprintf("eslogger stopped (%v); restarting in %s", err, wait))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, c.cfg.MaxBackoff)
	}
	return nil
}

// child is one eslogger run.
type child struct {
	cmd    *exec.Cmd
	stdout *os.File
}

func (c *Collector) runOnce(ctx context.Context, n *eslogger.Normalizer, batch *[]*event.Event, flush func()) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	argv := c.Argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = w
	stderr := &tailBuffer{max: stderrKeep}
	cmd.Stderr = stderr
	cmd.Stdin = nil
	setGroup(cmd)
	// A grandchild holding stderr open must not keep Wait waiting.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	w.Close()
	ch := &child{cmd: cmd, stdout: r}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.stop(ch)
		_ = cmd.Wait()
		return errors.New("closed")
	}
	c.cur = ch
	c.mu.Unlock()
	c.started.Add(1)

	// The reader hands lines over; a watchdog ends a child that stalls or
	// whose collection is no longer wanted. Closing the pipe ends the read
	// even when a grandchild holds the other end.
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	stalled := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(min(c.cfg.Stall/4, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-readDone:
				return
			case <-ctx.Done():
				c.stop(ch)
				return
			case <-tick.C:
				if time.Since(time.Unix(0, last.Load())) > c.cfg.Stall {
					c.stalls.Add(1)
					close(stalled)
					c.stop(ch)
					return
				}
			}
		}
	}()
	readErr := c.read(r, n, batch, flush, &last)
	close(readDone)
	c.stop(ch)
	werr := cmd.Wait()
	c.mu.Lock()
	c.cur = nil
	if msg := stderr.last(); msg != "" {
		c.lastErr = msg
	}
	c.mu.Unlock()
	select {
	case <-stalled:
		return fmt.Errorf("no output for %s", c.cfg.Stall)
	default:
	}
	if readErr != nil && !errors.Is(readErr, os.ErrClosed) && !errors.Is(readErr, io.EOF) {
		return readErr
	}
	if werr != nil {
		if msg := stderr.last(); msg != "" {
			return fmt.Errorf("%v: %s", werr, msg)
		}
		return werr
	}
	return errors.New("exited")
}

// read hands every line to the normalizer, a batch at a time: when the
// batch is full or the child has nothing more buffered.
func (c *Collector) read(r io.Reader, n *eslogger.Normalizer, batch *[]*event.Event, flush func(), last *atomic.Int64) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var line []byte
	tooLong, streaming := false, false
	for {
		chunk, err := br.ReadSlice('\n')
		last.Store(time.Now().UnixNano())
		if !tooLong {
			if len(line)+len(chunk) > endpoint.MaxLineBytes+2 {
				tooLong, line = true, line[:0]
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		body := bytes.TrimRight(line, "\r\n")
		switch {
		case tooLong || len(body) > endpoint.MaxLineBytes:
			c.oversized.Add(1)
		case len(body) > 0:
			c.lines.Add(1)
			if !streaming {
				streaming = true
				c.setDown("")
			}
			_ = n.Line(body)
		}
		line, tooLong = line[:0], false
		if len(*batch) >= c.cfg.BatchSize || br.Buffered() == 0 {
			flush()
			c.syncStats(n)
		}
		if err != nil {
			return err
		}
	}
}

// stop ends a child: its process group, and the pipe it writes to.
func (c *Collector) stop(ch *child) {
	if ch.cmd.Process != nil {
		killGroup(ch.cmd)
	}
	_ = ch.stdout.Close()
}

func (c *Collector) syncStats(n *eslogger.Normalizer) {
	s := n.Stats()
	c.events.Store(s.Events)
	c.parseErrors.Store(s.ParseErrors)
	c.seqGaps.Store(s.SeqGaps)
	c.seqResets.Store(s.Restarts)
	c.ignored.Store(s.Ignored)
	c.truncated.Store(s.Truncated)
}

func (c *Collector) setDown(why string) {
	c.mu.Lock()
	c.down = why
	c.mu.Unlock()
}

// Close stops the child; Run returns.
func (c *Collector) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		cur := c.cur
		c.mu.Unlock()
		close(c.done)
		if cur != nil {
			c.stop(cur)
		}
	})
	return nil
}

// Stats reports what eslogger delivered and what was lost.
func (c *Collector) Stats() endpoint.CollectorStats {
	c.mu.Lock()
	down, lastErr := c.down, c.lastErr
	c.mu.Unlock()
	st := endpoint.CollectorStats{
		Dropped:     c.seqGaps.Load(),
		ParseErrors: c.parseErrors.Load() + c.oversized.Load(),
		Errors:      c.restarts.Load(),
		Counters: map[string]uint64{
			"eslogger_lines":        c.lines.Load(),
			"eslogger_events":       c.events.Load(),
			"eslogger_ignored":      c.ignored.Load(),
			"eslogger_oversized":    c.oversized.Load(),
			"eslogger_restarts":     c.restarts.Load(),
			"eslogger_stalls":       c.stalls.Load(),
			"eslogger_seq_gaps":     c.seqGaps.Load(),
			"eslogger_seq_resets":   c.seqResets.Load(),
			"eslogger_truncated":    c.truncated.Load(),
			"eslogger_parse_errors": c.parseErrors.Load(),
		},
		Mode: strings.Join(c.Argv()[1:], " "),
	}
	if down != "" && down != "starting" {
		st.Degraded = down
	}
	if lastErr != "" {
		st.Notes = append(st.Notes, "eslogger said: "+lastErr)
	}
	return st
}

// tailBuffer keeps the end of what the child writes to stderr.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// last is the last non-empty line written.
func (t *tailBuffer) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
