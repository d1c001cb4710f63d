package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// A syslog receiver for remote analytics whose sources forward syslog
// (ESXi's esxcli system syslog config set --loghost): UDP datagrams, and
// TCP or TLS streams framed by octet counting (RFC 6587 3.4.1, RFC 5425)
// or by newlines, told apart per message. It is bounded: a message over
// MaxMessage is counted and skipped unread, a full queue drops (and
// counts) what arrives, and connections past MaxConns are refused.

// SyslogMessage is one message received.
type SyslogMessage struct {
	Data     []byte
	Peer     string // sender's address
	Received time.Time
}

// SyslogConfig says where to listen.
type SyslogConfig struct {
	// Listen are udp://ADDR:PORT, tcp://ADDR:PORT or tls://ADDR:PORT.
	Listen []string
	// TLS serves tls:// addresses (a certificate is needed).
	TLS        *tls.Config
	MaxMessage int // default 64 KiB
	Queue      int // messages waiting; default 65536
	MaxConns   int // TCP and TLS connections at once; default 512
	// IdleTimeout closes a stream connection silent this long; default
	// 15 minutes (ESXi reconnects when it has something to send).
	IdleTimeout time.Duration
	Counters    *Counters
}

// SyslogListener receives until Close.
type SyslogListener struct {
	cfg    SyslogConfig
	out    chan SyslogMessage
	addrs  []string
	closes []io.Closer
	wg     sync.WaitGroup
	conns  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	open map[net.Conn]bool
}

// ListenSyslog binds every address (all or none) and starts receiving.
func ListenSyslog(cfg SyslogConfig) (*SyslogListener, error) {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 64 << 10
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 512
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.Counters == nil {
		cfg.Counters = &Counters{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &SyslogListener{cfg: cfg, out: make(chan SyslogMessage, cfg.Queue), conns: make(chan struct{}, cfg.MaxConns), ctx: ctx, cancel: cancel, open: map[net.Conn]bool{}}
	for _, a := range cfg.Listen {
		scheme, addr, ok := strings.Cut(a, "://")
		if !ok {
			l.Close()
			return nil, fmt.Errorf("syslog listen %q: want udp://, tcp:// or tls://ADDR:PORT", a)
		}
		switch scheme {
		case "udp":
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("syslog listen %s: %w", a, err)
			}
			l.closes = append(l.closes, pc)
			l.addrs = append(l.addrs, "udp://"+pc.LocalAddr().String())
			l.wg.Add(1)
			go l.udp(pc)
		case "tcp", "tls":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("syslog listen %s: %w", a, err)
			}
			if scheme == "tls" {
				if cfg.TLS == nil {
					ln.Close()
					l.Close()
					return nil, fmt.Errorf("syslog listen %s: no certificate for TLS", a)
				}
				ln = tls.NewListener(ln, cfg.TLS)
			}
			l.closes = append(l.closes, ln)
			l.addrs = append(l.addrs, scheme+"://"+ln.Addr().String())
			l.wg.Add(1)
			go l.accept(ln)
		default:
			l.Close()
			return nil, fmt.Errorf("syslog listen %q: want udp://, tcp:// or tls://ADDR:PORT", a)
		}
	}
	return l, nil
}

// Messages is where received messages wait.
func (l *SyslogListener) Messages() <-chan SyslogMessage { return l.out }

// Addrs are the addresses bound (ports chosen when :0 was asked).
func (l *SyslogListener) Addrs() []string { return l.addrs }

// Close stops listening, closes every connection and waits.
func (l *SyslogListener) Close() error {
	l.cancel()
	for _, c := range l.closes {
		c.Close()
	}
	l.mu.Lock()
	for c := range l.open {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return nil
}

func (l *SyslogListener) deliver(data []byte, peer string) {
	l.cfg.Counters.Add("syslog_messages", 1)
	msg := SyslogMessage{Data: append([]byte(nil), data...), Peer: peer, Received: time.Now()}
	select {
	case l.out <- msg:
	default:
		l.cfg.Counters.Add("syslog_dropped", 1)
	}
}

func (l *SyslogListener) oversized() { l.cfg.Counters.Add("syslog_oversized", 1) }

func (l *SyslogListener) udp(pc net.PacketConn) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.cfg.Counters.Add("syslog_errors", 1)
			continue
		}
		if n > l.cfg.MaxMessage {
			l.oversized()
			continue
		}
		host, _, _ := net.SplitHostPort(addr.String())
		l.deliver(buf[:n], host)
	}
}

func (l *SyslogListener) accept(ln net.Listener) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.cfg.Counters.Add("syslog_errors", 1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case l.conns <- struct{}{}:
		default:
			l.cfg.Counters.Add("syslog_refused", 1)
			c.Close()
			continue
		}
		l.mu.Lock()
		l.open[c] = true
		l.mu.Unlock()
		l.cfg.Counters.Add("syslog_connections", 1)
		l.wg.Add(1)
		go l.stream(c)
	}
}

func (l *SyslogListener) stream(c net.Conn) {
	defer func() {
		c.Close()
		l.mu.Lock()
		delete(l.open, c)
		l.mu.Unlock()
		<-l.conns
		l.wg.Done()
	}()
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	r := &deadlineReader{c: c, idle: l.cfg.IdleTimeout}
	err := ReadSyslogStream(bufio.NewReaderSize(r, 64<<10), l.cfg.MaxMessage, func(m []byte) { l.deliver(m, host) }, l.oversized)
	if err != nil && l.ctx.Err() == nil {
		l.cfg.Counters.Add("syslog_stream_errors", 1)
	}
}

// deadlineReader closes a silent connection after idle.
type deadlineReader struct {
	c    net.Conn
	idle time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.c.SetReadDeadline(time.Now().Add(d.idle))
	return d.c.Read(p)
}

// ReadSyslogStream reads a stream of syslog messages, each framed by
// octet counting ("LEN MSG") or ended by a newline, as each message's
// first byte says; one over max is skipped (oversized is told) without
// being held. It returns at the stream's end; an error is a bad frame
// or the reader's.
func ReadSyslogStream(br *bufio.Reader, max int, msg func([]byte), oversized func()) error {
	var buf []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c == '\n' || c == '\r' || c == ' ' || c == 0 {
			continue
		}
		br.UnreadByte()
		n, ok := frameLength(br)
		if !ok {
			// Not "LEN ": a newline-framed message (which may start
			// with a digit: a bare log line's timestamp).
			if err := readLine(br, max, msg, oversized); err != nil {
				return err
			}
			continue
		}
		if n > max {
			oversized()
			if _, err := br.Discard(n); err != nil {
				return ignoreEOF(err)
			}
			continue
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return ignoreEOF(err)
		}
		msg(buf)
	}
}

// frameLength reads an octet count and its space, if the stream has one
// next ("123 "), leaving the stream as it was otherwise.
func frameLength(br *bufio.Reader) (int, bool) {
	head, _ := br.Peek(12)
	n, i := 0, 0
	for i < len(head) && i < 10 && head[i] >= '0' && head[i] <= '9' {
		n = n*10 + int(head[i]-'0')
		i++
	}
	if i == 0 || i >= len(head) || head[i] != ' ' {
		return 0, false
	}
	br.Discard(i + 1)
	return n, true
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// readLine reads one newline-ended message, skipping one over max.
func readLine(br *bufio.Reader, max int, msg func([]byte), oversized func()) error {
	var long []byte
	skipping := false
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !skipping && len(long)+len(chunk) > max {
				skipping, long = true, nil
				oversized()
			} else if !skipping {
				long = append(long, chunk...)
			}
			continue
		}
		if !skipping {
			switch {
			case len(long)+len(chunk) > max:
				oversized()
			case len(long) > 0:
				msg(append(long, chunk...))
			case len(chunk) > 0:
				msg(chunk)
			}
		}
		return ignoreEOF(err)
	}
}
