package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/auditlog"
)

// Options configure a Collector. The zero value of each field means its
// default.
type Options struct {
	// Rules to install; nil means ExecRules.
	Rules []Rule
	// BacklogLimit is raised to at least this when the collector owns the
	// audit socket (default 8192): bursts of execs queue in the kernel
	// instead of being lost.
	BacklogLimit uint32
	// ReceiveBuffer is the socket receive buffer in bytes (default 32 MiB).
	ReceiveBuffer int
	// BatchSize and BatchDelay bound a batch handed to emit (defaults 256
	// events, 50 ms).
	BatchSize  int
	BatchDelay time.Duration
	// StatusInterval is how often the kernel's lost counter is polled
	// (default 1 s).
	StatusInterval time.Duration
}

// Mode says how the collector gets records.
type Mode string

const (
	// ModeOwner: no audit daemon was running; the collector registered
	// itself as the audit daemon (AUDIT_SET pid).
	ModeOwner Mode = "owner"
	// ModeMulticast: another process (auditd) owns the audit socket; the
	// collector reads the read-only multicast group alongside it.
	ModeMulticast Mode = "multicast"
)

// Stats counts what a Collector has seen.
type Stats struct {
	Mode         Mode
	Records      uint64 // audit records received
	Events       uint64 // events delivered to emit
	ParseErrors  uint64 // records that did not parse
	KernelLost   uint64 // kernel "lost" counter growth since New
	Overruns     uint64 // ENOBUFS on the socket: records dropped before we read them
	Backlog      uint32 // kernel queue length at the last poll
	RulesAdded   int    // rules this collector installed (and will remove)
	RulesPresent int    // rules already present (left in place on Close)
	RulesAdopted int    // rules with our key left by a killed collector (removed on Close)
	RulesRefused int    // optional rules the kernel refused
	// RulesRestored counts rules found missing while running (another
	// collector removed them, or someone ran `auditctl -D`) and put back.
	RulesRestored uint64
	Assembler     auditlog.Stats
}

// ErrClosed is returned by Run when Close was called.
var ErrClosed = errors.New("audit: collector closed")

// Collector reads exec events from the kernel audit subsystem.
type Collector struct {
	opts    Options
	control *conn // requests: status, rules, settings
	data    *conn // records
	mode    Mode
	prev    Status // settings found at New, restored at Close
	changed uint32 // AUDIT_SET mask bits this collector changed
	added   []Rule
	early   []message // records that arrived while claiming the socket

	mu        sync.Mutex
	stats     Stats
	closed    bool
	running   sync.Mutex
	startLost uint32
}

// New sets the audit subsystem up for collection: it claims the audit
// socket (or joins the read-only multicast group when an audit daemon owns
// it), enables auditing, raises the backlog and installs the rules. Close
// undoes exactly what New changed. It needs CAP_AUDIT_CONTROL and
// CAP_AUDIT_READ (root).
func New(opts Options) (*Collector, error) {
	if opts.Rules == nil {
		opts.Rules = ExecRules
	}
	if len(opts.Rules) == 0 {
		return nil, errors.New("audit: no rules for GOARCH; pass Options.Rules")
	}
	if opts.BacklogLimit == 0 {
		opts.BacklogLimit = 8192
	}
	if opts.ReceiveBuffer == 0 {
		opts.ReceiveBuffer = 32 << 20
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 256
	}
	if opts.BatchDelay == 0 {
		opts.BatchDelay = 50 * time.Millisecond
	}
	if opts.StatusInterval == 0 {
		opts.StatusInterval = time.Second
	}
	control, err := dial(0)
	if err != nil {
		return nil, err
	}
	if err := control.setTimeout(500 * time.Millisecond); err != nil {
		control.close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	c := &Collector{opts: opts, control: control}
	if err := c.setup(); err != nil {
		c.teardown()
		return nil, fmt.Errorf("audit: %w", err)
	}
	c.stats.Mode = c.mode
	c.stats.RulesAdded = len(c.added)
	return c, nil
}

func (c *Collector) setup() error {
	prev, err := c.control.status()
	if err != nil {
		return err
	}
	c.prev, c.startLost = prev, prev.Lost
	if prev.Enabled == 2 {
		return errors.New("audit configuration is locked (enabled=2); rules cannot be added")
	}

	if prev.PID == 0 {
		c.mode = ModeOwner
		if c.data, err = dial(0); err != nil {
			return err
		}
		// The kernel sends records to the socket the claim came from.
		if err := c.data.setTimeout(receiveTimeout); err != nil {
			return err
		}
		claim := Status{Mask: statusPID, PID: uint32(os.Getpid())}
		if err := c.data.set(claim, func(m message) { c.early = append(c.early, m) }); err != nil {
			return fmt.Errorf("claim audit socket: %w", err)
		}
		c.changed |= statusPID
		if prev.BacklogLimit < c.opts.BacklogLimit {
			if err := c.control.set(Status{Mask: statusBacklogLimit, BacklogLimit: c.opts.BacklogLimit}, nil); err != nil {
				return err
			}
			c.changed |= statusBacklogLimit
		}
	} else {
		c.mode = ModeMulticast
		if c.data, err = dial(1 << (unix.AUDIT_NLGRP_READLOG - 1)); err != nil {
			return err
		}
		if err := c.data.setTimeout(receiveTimeout); err != nil {
			return err
		}
	}
	if err := unix.SetsockoptInt(c.data.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, c.opts.ReceiveBuffer); err != nil {
		// Without CAP_NET_ADMIN the capped variant still helps.
		_ = unix.SetsockoptInt(c.data.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, c.opts.ReceiveBuffer)
	}

	if prev.Enabled == 0 {
		if err := c.control.set(Status{Mask: statusEnabled, Enabled: 1}, nil); err != nil {
			return err
		}
		c.changed |= statusEnabled
	}

	for _, r := range c.opts.Rules {
		b, err := r.marshal()
		if err != nil {
			return err
		}
		_, err = c.control.request(unix.AUDIT_ADD_RULE, b, 0, nil)
		switch {
		case err == nil:
			c.added = append(c.added, r)
		case errors.Is(err, unix.EEXIST) && c.mode == ModeOwner && r.Key == Key:
			// Our key, and no audit daemon holds the socket: left by a
			// collector that was killed before it could clean up. Without
			// a reader the kernel would print a record per exec to its
			// log, so it is ours to remove on exit.
			c.added = append(c.added, r)
			c.stats.RulesAdopted++
		case errors.Is(err, unix.EEXIST):
			// Someone else's identical rule: theirs to keep.
			c.stats.RulesPresent++
		case r.Optional:
			c.stats.RulesRefused++
		default:
			return fmt.Errorf("add rule %s: %w", r, err)
		}
	}
	return nil
}

// Run reads records until ctx is cancelled, calling emit with batches of
// events. It returns ctx's error, or the first socket error.
func (c *Collector) Run(ctx context.Context, emit func([]*event.Event)) error {
	if !c.running.TryLock() {
		return errors.New("audit: Run already in progress")
	}
	defer c.running.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}

	var batch []*event.Event
	var batchStart time.Time
	asm := auditlog.NewAssembler(func(ev *event.Event) {
		if len(batch) == 0 {
			batchStart = time.Now()
		}
		batch = append(batch, ev)
	})
	var records, overruns uint64
	flush := func() {
		if len(batch) > 0 {
			emit(batch)
			c.mu.Lock()
			c.stats.Events += uint64(len(batch))
			c.mu.Unlock()
			batch = nil
		}
		c.mu.Lock()
		c.stats.Records, c.stats.Overruns = records, overruns
		c.stats.Assembler = asm.Stats()
		c.stats.ParseErrors = c.stats.Assembler.ParseErrors
		c.mu.Unlock()
	}
	feed := func(m message) {
		if !isRecord(m.typ) {
			return // acks and replies, not records
		}
		records++
		_ = asm.Netlink(m.typ, m.body) // counted in asm.Stats
	}
	for _, m := range c.early {
		feed(m)
	}
	c.early = nil

	buf := make([]byte, 1<<16)
	var msgs []message
	lastPoll := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			asm.Flush()
			flush()
			return err
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			asm.Flush()
			flush()
			return ErrClosed
		}
		// With events held, only take what is already queued: once the
		// socket is drained the batch goes out, rather than waiting for
		// the receive timeout with an archiver's exec in hand.
		flags := 0
		if len(batch) > 0 {
			flags = unix.MSG_DONTWAIT
		}
		n, _, err := unix.Recvfrom(c.data.fd, buf, flags)
		switch {
		case err == nil:
			msgs = splitMessages(buf[:n], msgs[:0])
			for _, m := range msgs {
				feed(m)
			}
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			// Idle: emit what is held.
			flush()
		case errors.Is(err, unix.ENOBUFS):
			overruns++
		default:
			asm.Flush()
			flush()
			return fmt.Errorf("audit: receive: %w", err)
		}
		if len(batch) >= c.opts.BatchSize || (len(batch) > 0 && time.Since(batchStart) >= c.opts.BatchDelay) {
			flush()
		}
		if time.Since(lastPoll) >= c.opts.StatusInterval {
			lastPoll = time.Now()
			c.pollStatus()
		}
	}
}

func (c *Collector) pollStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	s, err := c.control.status()
	if err != nil {
		return
	}
	c.stats.KernelLost = uint64(s.Lost - c.startLost)
	c.stats.Backlog = s.Backlog
	c.reassertRules()
}

// reassertRules puts back any of our rules that disappeared. Without them
// the collector goes blind while looking healthy; a flush of the audit
// rules is also what someone covering their tracks would do. The kernel
// answers EEXIST for a rule still present, so this is one cheap netlink
// round trip per rule. A rule we put back is ours to remove on Close.
func (c *Collector) reassertRules() {
	for _, r := range c.opts.Rules {
		b, err := r.marshal()
		if err != nil {
			continue
		}
		if _, err := c.control.request(unix.AUDIT_ADD_RULE, b, 0, nil); err != nil {
			continue
		}
		c.stats.RulesRestored++
		if !slices.ContainsFunc(c.added, func(a Rule) bool { return a.String() == r.String() }) {
			c.added = append(c.added, r)
			c.stats.RulesAdded = len(c.added)
		}
	}
}

// Stats returns the counters. It is safe to call while Run is running.
func (c *Collector) Stats() Stats {
	c.pollStatus()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close removes the rules this collector added, restores the enabled flag
// and backlog limit it changed, releases the audit socket and closes its
// sockets. A Run in progress returns ErrClosed first.
func (c *Collector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.running.Lock() // wait for Run to return
	defer c.running.Unlock()
	return c.teardown()
}

func (c *Collector) teardown() error {
	var errs []error
	for _, r := range c.added {
		b, _ := r.marshal()
		if _, err := c.control.request(unix.AUDIT_DEL_RULE, b, 0, nil); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete rule %s: %w", r, err))
		}
	}
	c.added = nil
	if c.changed&statusEnabled != 0 {
		if err := c.control.set(Status{Mask: statusEnabled, Enabled: c.prev.Enabled}, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if c.changed&statusBacklogLimit != 0 {
		if err := c.control.set(Status{Mask: statusBacklogLimit, BacklogLimit: c.prev.BacklogLimit}, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if c.changed&statusPID != 0 {
		if err := c.control.set(Status{Mask: statusPID, PID: 0}, nil); err != nil {
			errs = append(errs, err)
		}
	}
	c.changed = 0
	if c.data != nil {
		errs = append(errs, c.data.close())
		c.data = nil
	}
	errs = append(errs, c.control.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

// receiveTimeout bounds each blocking receive, so Run notices cancellation
// and polls the kernel's status; on an idle host it is the collector's only
// wake-up.
const receiveTimeout = 250 * time.Millisecond
