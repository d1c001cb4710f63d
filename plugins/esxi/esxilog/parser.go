package esxilog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// MaxLine bounds one line or message: a longer one is counted and
// skipped, never held.
const MaxLine = 64 << 10

// maxContinuation bounds what "-->" lines add to the line before them.
const maxContinuation = 16 << 10

// Stats count what a parser read.
type Stats struct {
	Lines         uint64 // lines or messages read
	Events        uint64 // events they reported
	ParseErrors   uint64 // lines neither a log line nor a continuation
	BadPRI        uint64 // PRI outside 0..191 (read anyway)
	Continuations uint64 // "-->" lines joined to the line before
	Oversized     uint64 // lines over MaxLine, skipped
	FirstError    string
}

// Parser reads lines one at a time. A line is classified when the next
// line of its host arrives (a "-->" line continues it) or at Flush. It
// is not safe for concurrent use.
type Parser struct {
	// Host names the source of lines that carry no host (a saved log).
	Host  string
	Stats Stats
	// ref is the last full timestamp read: a BSD timestamp's year.
	ref     time.Time
	pending map[string]*pending
}

type pending struct {
	line    Line
	raw     string
	arrived time.Time
}

// NewParser returns a parser for lines of host (empty: the envelope's).
func NewParser(host string) *Parser {
	return &Parser{Host: host, pending: map[string]*pending{}}
}

// Line reads one line or syslog message; events complete by it go to
// emit.
func (p *Parser) Line(raw []byte, now time.Time, emit func(activity.Event)) {
	p.Stats.Lines++
	if len(raw) > MaxLine {
		p.Stats.Oversized++
		return
	}
	s := string(bytes.TrimRight(raw, "\r\n\x00"))
	if strings.TrimSpace(s) == "" {
		p.Stats.Lines--
		return
	}
	l, ok := parseEnvelope(s, p.ref)
	if !ok {
		p.Stats.ParseErrors++
		if p.Stats.FirstError == "" {
			p.Stats.FirstError = fmt.Sprintf("not an ESXi log line or syslog message: %.80q", s)
		}
		return
	}
	if l.BadPRI {
		p.Stats.BadPRI++
	}
	if l.Host == "" {
		l.Host = p.Host
	}
	if !l.Time.IsZero() {
		p.ref = l.Time
	}
	if l.Continuation {
		p.Stats.Continuations++
		if pd := p.pending[l.Host]; pd != nil && len(pd.line.Msg) < maxContinuation {
			pd.line.Msg += "\n" + l.Msg
		}
		return
	}
	if pd := p.pending[l.Host]; pd != nil {
		p.emit(pd, emit)
	}
	pd := p.pending[l.Host]
	if pd == nil {
		pd = &pending{}
		p.pending[l.Host] = pd
	}
	pd.line, pd.raw, pd.arrived = l, s, now
}

func (p *Parser) emit(pd *pending, emit func(activity.Event)) {
	evs := classify(&pd.line)
	var key string
	if len(evs) > 0 {
		key = activity.LineKey(pd.line.Host, pd.raw)
	}
	for i := range evs {
		e := evs[i]
		e.Key = key
		if i > 0 {
			e.Key += "#" + strconv.Itoa(i)
		}
		p.Stats.Events++
		emit(e)
	}
	delete(p.pending, pd.line.Host)
}

// Flush classifies every line still waiting for its continuations.
func (p *Parser) Flush(emit func(activity.Event)) { p.FlushIdle(time.Time{}, emit) }

// FlushIdle classifies the lines waiting that arrived before cutoff (the
// zero time: all): live, a line's continuations arrive at once with it.
func (p *Parser) FlushIdle(cutoff time.Time, emit func(activity.Event)) {
	for _, pd := range p.pending {
		if cutoff.IsZero() || pd.arrived.Before(cutoff) {
			p.emit(pd, emit)
		}
	}
}

var gzipMagic = []byte{0x1f, 0x8b}

// Decode reads a saved log or syslog capture, plain or gzipped (known by
// its content): ESXi log lines, syslog messages one a line, or an
// octet-counted stream ("123 <166>1 …", as TCP syslog frames it).
// Events go to emit in batches.
func Decode(r io.Reader, host string, emit func([]activity.Event)) (Stats, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Stats{}, err
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	p := NewParser(host)
	var batch []activity.Event
	add := func(e activity.Event) {
		batch = append(batch, e)
		if len(batch) >= 4096 {
			emit(batch)
			batch = nil
		}
	}
	// Lines, syslog messages one a line, or octet-counted frames: the
	// shared syslog stream reader tells them apart message by message.
	err := remote.ReadSyslogStream(br, MaxLine, func(msg []byte) { p.Line(msg, time.Time{}, add) }, func() { p.Stats.Oversized++; p.Stats.Lines++ })
	p.Flush(add)
	if len(batch) > 0 {
		emit(batch)
	}
	return p.Stats, err
}
