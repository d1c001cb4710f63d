package eval

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Proc connector constants (linux/connector.h, linux/cn_proc.h).
const (
	cnIdxProc          = 1
	cnValProc          = 1
	procCnMcastListen  = 1
	procEventFork      = 0x00000001
	cnMsgLen           = 20 // struct cn_msg without data
	procEventHeaderLen = 16 // what, cpu, timestamp_ns
)

// Forks follows every fork on the machine through the kernel proc
// connector, so that the archive step of a live detection can be traced to
// the story whose process started it, and a detection made by someone else
// on the machine meanwhile (another user's job, another test) is told
// apart from the stories'. It keeps exited processes: the archiver is gone
// by the time its detection is read.
type Forks struct {
	fd   int
	done chan struct{}

	mu       sync.Mutex
	parents  map[int64]int64 // child → parent, latest fork of each pid
	roots    map[int64]string
	overruns int
}

// StartForks subscribes to fork notifications. It needs root.
func StartForks() (*Forks, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("proc connector socket: %w", err)
	}
	f := &Forks{fd: fd, done: make(chan struct{}), parents: map[int64]int64{}, roots: map[int64]string{}}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("proc connector bind: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	b := make([]byte, unix.SizeofNlMsghdr+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.NLMSG_DONE)
	ne.PutUint32(b[12:], uint32(os.Getpid()))
	cn := b[unix.SizeofNlMsghdr:]
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[cnMsgLen:], procCnMcastListen)
	if err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("proc connector listen: %w", err)
	}
	go f.read()
	return f, nil
}

func (f *Forks) read() {
	defer close(f.done)
	buf := make([]byte, 64<<10)
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(f.fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err == unix.ENOBUFS {
			f.mu.Lock()
			f.overruns++
			f.mu.Unlock()
			continue
		}
		if err != nil || n == 0 {
			return // closed
		}
		b := buf[:n]
		f.mu.Lock()
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(ne.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				break
			}
			msg := b[unix.SizeofNlMsghdr:l]
			b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
			if len(msg) < cnMsgLen+procEventHeaderLen+16 || ne.Uint32(msg[cnMsgLen:]) != procEventFork {
				continue
			}
			data := msg[cnMsgLen+procEventHeaderLen:]
			parent, childPID, child := ne.Uint32(data[4:]), ne.Uint32(data[8:]), ne.Uint32(data[12:])
			if child == childPID { // a process, not a thread
				f.parents[int64(child)] = int64(parent)
			}
		}
		f.mu.Unlock()
	}
}

// AddRoot says that pid, started by the runner, and all it forks belong
// to story.
func (f *Forks) AddRoot(story string, pid int) {
	f.mu.Lock()
	f.roots[int64(pid)] = story
	f.mu.Unlock()
}

// StoryOf returns the story whose process tree pid is in; known is false
// when no fork of pid was seen at all (nothing can be said of it).
func (f *Forks) StoryOf(pid int64) (story string, known bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < 64 && pid > 1; i++ {
		if s, ok := f.roots[pid]; ok {
			return s, true
		}
		parent, ok := f.parents[pid]
		if !ok {
			return "", i > 0
		}
		pid = parent
	}
	return "", true
}

// Overruns counts notifications the kernel dropped (socket buffer full).
func (f *Forks) Overruns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overruns
}

// Close stops following forks.
func (f *Forks) Close() {
	unix.Shutdown(f.fd, unix.SHUT_RDWR)
	unix.Close(f.fd)
	select {
	case <-f.done:
	case <-time.After(time.Second):
	}
}
