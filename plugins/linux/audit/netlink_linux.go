package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Status is the kernel's struct audit_status.
type Status struct {
	Mask                  uint32
	Enabled               uint32
	Failure               uint32
	PID                   uint32
	RateLimit             uint32
	BacklogLimit          uint32
	Lost                  uint32
	Backlog               uint32
	FeatureBitmap         uint32
	BacklogWaitTime       uint32
	BacklogWaitTimeActual uint32
}

const statusSize = 11 * 4

// AUDIT_SET mask bits (linux/audit.h).
const (
	statusEnabled      = 0x1
	statusPID          = 0x4
	statusBacklogLimit = 0x10
)

const nlmsgHdrLen = unix.SizeofNlMsghdr

func (s *Status) marshal() []byte {
	b := make([]byte, statusSize)
	for i, v := range []uint32{s.Mask, s.Enabled, s.Failure, s.PID, s.RateLimit, s.BacklogLimit,
		s.Lost, s.Backlog, s.FeatureBitmap, s.BacklogWaitTime, s.BacklogWaitTimeActual} {
		binary.NativeEndian.PutUint32(b[i*4:], v)
	}
	return b
}

func unmarshalStatus(b []byte) (Status, error) {
	// Older kernels send a shorter struct; missing tail fields stay zero.
	if len(b) < 8*4 {
		return Status{}, fmt.Errorf("audit status reply of %d bytes", len(b))
	}
	var v [11]uint32
	for i := range v {
		if (i+1)*4 <= len(b) {
			v[i] = binary.NativeEndian.Uint32(b[i*4:])
		}
	}
	return Status{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]}, nil
}

// conn is one NETLINK_AUDIT socket.
type conn struct {
	fd  int
	seq atomic.Uint32
}

func dial(groups uint32) (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("netlink audit socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink audit socket (groups %#x): %w", groups, err)
	}
	return &conn{fd: fd}, nil
}

func (c *conn) close() error { return unix.Close(c.fd) }

// setTimeout bounds each receive so loops can notice cancellation.
func (c *conn) setTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (c *conn) send(msgType uint16, flags uint16, payload []byte) (uint32, error) {
	seq := c.seq.Add(1)
	b := make([]byte, nlmsgHdrLen+len(payload))
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], msgType)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	copy(b[nlmsgHdrLen:], payload)
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("netlink send type %d: %w", msgType, err)
	}
	return seq, nil
}

// message is one received netlink message.
type message struct {
	typ  uint16
	seq  uint32
	body []byte
}

// splitMessages splits a datagram into netlink messages. kauditd sends one
// record per datagram with an nlmsg_len that leaves out the header, so a
// record takes the rest of the datagram.
func splitMessages(b []byte, out []message) []message {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		seq := binary.NativeEndian.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) || isRecord(typ) {
			l = len(b)
		}
		out = append(out, message{typ: typ, seq: seq, body: b[nlmsgHdrLen:l]})
		next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return out
}

// errAckTimeout is returned when the kernel does not answer a request.
var errAckTimeout = errors.New("no reply from the kernel audit subsystem")

// request sends a message and waits for its reply: the NLMSG_ERROR ack (with
// NLM_F_ACK) or, when want is not 0, a message of that type. Other messages
// (records delivered to this socket meanwhile) go to other.
func (c *conn) request(msgType uint16, payload []byte, want uint16, other func(message)) (message, error) {
	flags := uint16(0)
	if want == 0 {
		flags = unix.NLM_F_ACK
	}
	seq, err := c.send(msgType, flags, payload)
	if err != nil {
		return message{}, err
	}
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(2 * time.Second)
	var msgs []message
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return message{}, fmt.Errorf("netlink receive: %w", err)
		}
		msgs = splitMessages(buf[:n], msgs[:0])
		for _, m := range msgs {
			switch {
			case m.typ == unix.NLMSG_ERROR && m.seq == seq:
				if len(m.body) < 4 {
					return m, fmt.Errorf("short netlink ack")
				}
				if errno := int32(binary.NativeEndian.Uint32(m.body)); errno != 0 {
					return m, unix.Errno(-errno)
				}
				if want == 0 {
					return m, nil
				}
			case want != 0 && m.typ == want:
				m.body = append([]byte(nil), m.body...)
				return m, nil
			default:
				if other != nil {
					m.body = append([]byte(nil), m.body...)
					other(m)
				}
			}
		}
	}
	return message{}, errAckTimeout
}

func (c *conn) status() (Status, error) {
	m, err := c.request(unix.AUDIT_GET, nil, unix.AUDIT_GET, nil)
	if err != nil {
		return Status{}, fmt.Errorf("AUDIT_GET: %w", err)
	}
	return unmarshalStatus(m.body)
}

func (c *conn) set(s Status, other func(message)) error {
	if _, err := c.request(unix.AUDIT_SET, s.marshal(), 0, other); err != nil {
		return fmt.Errorf("AUDIT_SET mask %#x: %w", s.Mask, err)
	}
	return nil
}

// isRecord reports whether typ is an audit record rather than a reply: the
// kernel's record types start at 1100 (AUDIT_FIRST_USER_MSG).
func isRecord(typ uint16) bool { return typ >= 1100 }
