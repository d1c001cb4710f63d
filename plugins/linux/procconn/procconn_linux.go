package procconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/linux/procfs"
)

// Proc connector constants (linux/connector.h, linux/cn_proc.h); x/sys/unix
// does not carry them.
const (
	cnIdxProc          = 1
	cnValProc          = 1
	procCnMcastListen  = 1
	procCnMcastIgnore  = 2
	procEventFork      = 0x00000001
	procEventExec      = 0x00000002
	procEventExit      = 0x80000000
	cnMsgLen           = 20 // struct cn_msg without data
	procEventHeaderLen = 16 // what, cpu, timestamp_ns
)

// Options configure a Collector; zero values mean defaults.
type Options struct {
	ReceiveBuffer int           // socket receive buffer (default 32 MiB)
	BatchSize     int           // events per batch (default 256)
	BatchDelay    time.Duration // longest a batch is held (default 50 ms)
	// ProcRoot is where procfs is mounted (default /proc).
	ProcRoot string
}

// Stats counts what a Collector has seen.
type Stats struct {
	Messages uint64 // proc connector messages received
	Execs    uint64 // exec notifications
	Forks    uint64
	Exits    uint64
	Events   uint64 // events delivered
	// Vanished counts execs whose process was gone (or had exec'd again)
	// before /proc could be read: argv and cwd are missing.
	Vanished uint64
	// Overruns counts ENOBUFS: notifications the kernel dropped because
	// the socket buffer was full.
	Overruns    uint64
	ParseErrors uint64 // malformed messages
}

// Collector reports execs from the kernel proc connector, reading argv,
// cwd, exe and ids from /proc at notification time.
type Collector struct {
	opts Options
	fd   int

	mu      sync.Mutex
	stats   Stats
	closed  bool
	running sync.Mutex
	parents map[uint32]uint32 // tgid → parent tgid, from fork notifications
}

// ErrClosed is returned by Run when Close was called.
var ErrClosed = errors.New("procconn: collector closed")

// New opens the proc connector and subscribes to process events. It needs
// CAP_NET_ADMIN (root).
func New(opts Options) (*Collector, error) {
	if opts.ReceiveBuffer == 0 {
		opts.ReceiveBuffer = 32 << 20
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 256
	}
	if opts.BatchDelay == 0 {
		opts.BatchDelay = 50 * time.Millisecond
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = procfs.Root
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("procconn: netlink connector socket: %w", err)
	}
	c := &Collector{opts: opts, fd: fd, parents: make(map[uint32]uint32)}
	if err := c.setup(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("procconn: %w", err)
	}
	return c, nil
}

func (c *Collector) setup() error {
	if err := unix.Bind(c.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, c.opts.ReceiveBuffer); err != nil {
		_ = unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, c.opts.ReceiveBuffer)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	return c.control(procCnMcastListen)
}

// control sends a PROC_CN_MCAST_LISTEN/IGNORE request.
func (c *Collector) control(op uint32) error {
	b := make([]byte, unix.SizeofNlMsghdr+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.NLMSG_DONE)
	ne.PutUint32(b[12:], uint32(os.Getpid()))
	cn := b[unix.SizeofNlMsghdr:]
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[cnMsgLen:], op)
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("proc connector control %d: %w", op, err)
	}
	return nil
}

// Run reads notifications until ctx is cancelled or Close is called,
// calling emit with batches of exec events.
func (c *Collector) Run(ctx context.Context, emit func([]*event.Event)) error {
	if !c.running.TryLock() {
		return errors.New("procconn: Run already in progress")
	}
	defer c.running.Unlock()

	var batch []*event.Event
	var batchStart time.Time
	var local Stats
	flush := func() {
		if len(batch) > 0 {
			emit(batch)
			local.Events += uint64(len(batch))
			batch = nil
		}
		c.mu.Lock()
		c.stats = local
		c.mu.Unlock()
	}
	buf := make([]byte, 1<<16)
	for {
		if err := ctx.Err(); err != nil {
			flush()
			return err
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			flush()
			return ErrClosed
		}
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case err == nil:
			for _, ev := range c.handle(buf[:n], &local) {
				if len(batch) == 0 {
					batchStart = time.Now()
				}
				batch = append(batch, ev)
			}
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			flush()
		case errors.Is(err, unix.ENOBUFS):
			local.Overruns++
		default:
			flush()
			return fmt.Errorf("procconn: receive: %w", err)
		}
		if len(batch) >= c.opts.BatchSize || (len(batch) > 0 && time.Since(batchStart) >= c.opts.BatchDelay) {
			flush()
		}
	}
}

// handle decodes one datagram (one or more netlink messages).
func (c *Collector) handle(b []byte, st *Stats) []*event.Event {
	var out []*event.Event
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			st.ParseErrors++
			return out
		}
		msg := b[unix.SizeofNlMsghdr:l]
		b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
		st.Messages++
		if len(msg) < cnMsgLen+procEventHeaderLen {
			st.ParseErrors++
			continue
		}
		if ne.Uint32(msg[0:]) != cnIdxProc || ne.Uint32(msg[4:]) != cnValProc {
			continue
		}
		ev := msg[cnMsgLen:]
		what := ne.Uint32(ev[0:])
		data := ev[procEventHeaderLen:]
		switch what {
		case procEventExec:
			if len(data) < 8 {
				st.ParseErrors++
				continue
			}
			st.Execs++
			out = append(out, c.exec(ne.Uint32(data[4:]), st))
		case procEventFork:
			if len(data) < 16 {
				st.ParseErrors++
				continue
			}
			st.Forks++
			parent, child, childPID := ne.Uint32(data[4:]), ne.Uint32(data[12:]), ne.Uint32(data[8:])
			if child == childPID { // a new process, not a thread
				if len(c.parents) > 1<<16 {
					clear(c.parents)
				}
				c.parents[child] = parent
			}
		case procEventExit:
			if len(data) < 8 {
				st.ParseErrors++
				continue
			}
			st.Exits++
			if pid, tgid := ne.Uint32(data[0:]), ne.Uint32(data[4:]); pid == tgid {
				delete(c.parents, tgid)
			}
		}
	}
	return out
}

// exec builds the event for an exec notification from /proc. The process
// may already be gone: what could not be read stays empty and is counted.
func (c *Collector) exec(tgid uint32, st *Stats) *event.Event {
	now := time.Now()
	proc, actor, ok := procfs.Read(c.opts.ProcRoot, int64(tgid))
	if !ok || len(proc.Argv) == 0 {
		st.Vanished++
	}
	if proc.PPID <= 0 {
		if p, ok := c.parents[tgid]; ok {
			proc.PPID = int64(p)
		}
	}
	proc.Parent, proc.Ancestors = procfs.Ancestors(c.opts.ProcRoot, proc.PPID, maxAncestors)
	return &event.Event{
		Time:    now,
		Kind:    event.KindExec,
		Size:    event.Unknown,
		Source:  "proc_connector",
		Process: proc,
		Actor:   actor,
	}
}

// maxAncestors bounds the walk up the parent chain.
const maxAncestors = 8

// Stats returns the counters. It is safe to call while Run is running.
func (c *Collector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close unsubscribes and closes the socket; a Run in progress returns
// ErrClosed first.
func (c *Collector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.running.Lock()
	defer c.running.Unlock()
	err := c.control(procCnMcastIgnore)
	return errors.Join(err, unix.Close(c.fd))
}
