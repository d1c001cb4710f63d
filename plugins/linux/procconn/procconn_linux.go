package procconn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagewatch/stagewatch/internal/event"
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
		opts.ProcRoot = "/proc"
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
	dir := c.opts.ProcRoot + "/" + strconv.FormatUint(uint64(tgid), 10)
	ev := &event.Event{
		Time:   now,
		Kind:   event.KindExec,
		Size:   event.Unknown,
		Source: "proc_connector",
		Actor:  event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown},
	}
	ev.Process.PID = int64(tgid)
	if p, ok := c.parents[tgid]; ok {
		ev.Process.PPID = int64(p)
	}
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil || len(cmdline) == 0 {
		st.Vanished++
	} else {
		ev.Process.Argv = strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	}
	ev.Process.Cwd, _ = os.Readlink(dir + "/cwd")
	ev.Process.Exe, _ = os.Readlink(dir + "/exe")
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		readStatus(status, ev)
	}
	if stat, err := os.ReadFile(dir + "/stat"); err == nil {
		ev.Actor.TTY = ttyName(stat)
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n != 4294967295 {
			ev.Actor.AUID = n
		}
	}
	if b, err := os.ReadFile(dir + "/sessionid"); err == nil {
		if s := strings.TrimSpace(string(b)); s != "4294967295" {
			ev.Actor.Session = s
		}
	}
	ev.Process.Parent, ev.Process.Ancestors = c.ancestors(ev.Process.PPID)
	return ev
}

// readStatus takes PPid and Uid (real, effective) from /proc/PID/status.
func readStatus(b []byte, ev *event.Event) {
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		switch key {
		case "PPid":
			if len(f) > 0 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
					ev.Process.PPID = n
				}
			}
		case "Uid":
			if len(f) >= 2 {
				ev.Actor.UID, _ = strconv.ParseInt(f[0], 10, 64)
				ev.Actor.EUID, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
}

// ttyName maps tty_nr (field 7 of /proc/PID/stat) to a name like audit's.
func ttyName(stat []byte) string {
	// comm (field 2) may hold spaces and parentheses: fields after it start
	// after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 5 {
		return ""
	}
	nr, err := strconv.ParseUint(f[4], 10, 32)
	if err != nil || nr == 0 {
		return "(none)"
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatUint(minor, 10)
	case major >= 136 && major <= 143:
		return "pts" + strconv.FormatUint((major-136)*256+minor, 10)
	}
	return "tty" + strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10)
}

// maxAncestors bounds the walk up the parent chain.
const maxAncestors = 8

// ancestors returns the parent's executable and the chain above it.
func (c *Collector) ancestors(ppid int64) (string, []string) {
	var chain []string
	for pid := ppid; pid > 1 && len(chain) < maxAncestors; {
		dir := c.opts.ProcRoot + "/" + strconv.FormatInt(pid, 10)
		exe, _ := os.Readlink(dir + "/exe")
		chain = append(chain, exe)
		status, err := os.ReadFile(dir + "/status")
		if err != nil {
			break
		}
		var parent event.Event
		readStatus(status, &parent)
		pid = parent.Process.PPID
	}
	if len(chain) == 0 {
		return "", nil
	}
	return chain[0], chain
}

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
