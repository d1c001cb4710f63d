package auditlog

import (
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Stats counts what an Assembler has seen.
type Stats struct {
	Records      uint64 // records parsed
	Events       uint64 // events emitted
	ParseErrors  uint64 // lines or messages that did not parse (skipped)
	SkippedTypes uint64 // records of types that carry nothing stagewatch uses
	Incomplete   uint64 // events missing their SYSCALL record (lost or cut off)
	Late         uint64 // records arriving after their event was emitted
	Unresolved   uint64 // file events whose directory could not be made absolute
	FirstError   error  // the first parse error, for the health report
}

// Defaults for an Assembler's limits.
const (
	// DefaultGrace is how long, in record time, an event without its
	// closing record waits for more records before it is emitted anyway.
	// auditd's own end_of_event_timeout is 2 s.
	DefaultGrace = 2 * time.Second
	// DefaultMaxPending caps events held open at once; beyond it the oldest
	// is emitted as it is.
	DefaultMaxPending = 1024
	// inodeCacheSize bounds the directory inode → path cache.
	inodeCacheSize = 8192
	// recentSize is how many emitted events are remembered so that their
	// trailing records (the EOE after a PROCTITLE) are recognised.
	recentSize = 64
)

type eventKey struct {
	millis int64
	serial uint64
}

// pending is an event whose records are still arriving.
type pending struct {
	key      eventKey
	time     time.Time
	node     string
	syscall  *Record
	execve   []*Record
	cwd      *Record
	paths    []*Record
	title    *Record
	complete bool // PROCTITLE seen: the kernel writes it last
}

// Assembler groups records into events and emits stagewatch events. Records
// of one event share (timestamp, serial); the netlink stream interleaves
// events from different CPUs and audit.log has no EOE records, so an event is
// emitted at its EOE, or once it is complete (PROCTITLE seen) and a record of
// another event arrives, or after Grace of record time, or at Flush.
//
// An Assembler is not safe for concurrent use.
type Assembler struct {
	// Grace and MaxPending may be changed before the first record.
	Grace      time.Duration
	MaxPending int

	emit    func(*event.Event)
	open    map[eventKey]*pending
	order   []eventKey // open events, oldest first
	recent  [recentSize]eventKey
	next    int
	newest  time.Time
	inodes  map[string]string // "dev:inode" of directories → absolute path
	stats   Stats
	scratch []string
}

// NewAssembler returns an Assembler that calls emit for every event.
func NewAssembler(emit func(*event.Event)) *Assembler {
	return &Assembler{
		Grace:      DefaultGrace,
		MaxPending: DefaultMaxPending,
		emit:       emit,
		open:       make(map[eventKey]*pending),
		inodes:     make(map[string]string),
	}
}

// Line feeds one audit.log text line. A line that does not parse is counted
// and skipped; the error says why.
func (a *Assembler) Line(line []byte) error {
	r, err := ParseLine(line)
	if err != nil {
		a.parseError(err)
		return err
	}
	a.Add(&r)
	return nil
}

// Netlink feeds the body of one NETLINK_AUDIT message of type msgType.
func (a *Assembler) Netlink(msgType uint16, body []byte) error {
	r, err := ParseNetlink(msgType, body)
	if err != nil {
		a.parseError(err)
		return err
	}
	a.Add(&r)
	return nil
}

func (a *Assembler) parseError(err error) {
	a.stats.ParseErrors++
	if a.stats.FirstError == nil {
		a.stats.FirstError = err
	}
}

// Add feeds one parsed record. The Assembler keeps r.
func (a *Assembler) Add(r *Record) {
	a.stats.Records++
	switch r.Type {
	case TypeSyscall, TypeExecve, TypeCwd, TypePath, TypeProctitle, TypeEOE:
	default:
		a.stats.SkippedTypes++
		return
	}
	k := eventKey{millis: r.Time.UnixMilli(), serial: r.Serial}
	p := a.open[k]
	if p == nil {
		if a.wasEmitted(k) {
			if r.Type != TypeEOE {
				a.stats.Late++
			}
			return
		}
		p = &pending{key: k, time: r.Time, node: r.Node}
		a.open[k] = p
		a.order = append(a.order, k)
	}
	switch r.Type {
	case TypeSyscall:
		p.syscall = r
	case TypeExecve:
		p.execve = append(p.execve, r)
	case TypeCwd:
		p.cwd = r
	case TypePath:
		p.paths = append(p.paths, r)
	case TypeProctitle:
		p.title = r
		p.complete = true
	case TypeEOE:
		a.finish(p)
		return
	}
	if r.Time.After(a.newest) {
		a.newest = r.Time
	}
	if len(a.order) > 1 {
		a.expire(k)
	}
}

// expire emits open events other than current that are complete or have
// waited longer than Grace, and the oldest ones beyond MaxPending.
func (a *Assembler) expire(current eventKey) {
	kept := a.order[:0]
	for i, k := range a.order {
		p := a.open[k]
		if p == nil {
			continue
		}
		over := len(a.order)-i > a.MaxPending
		if k != current && (p.complete || over || a.newest.Sub(p.time) > a.Grace) {
			a.finish(p)
			continue
		}
		kept = append(kept, k)
	}
	a.order = kept
}

// Flush emits every open event, e.g. at the end of a log file.
func (a *Assembler) Flush() {
	for _, k := range a.order {
		if p := a.open[k]; p != nil {
			a.finish(p)
		}
	}
	a.order = a.order[:0]
}

// Stats returns the counters so far.
func (a *Assembler) Stats() Stats { return a.stats }

func (a *Assembler) wasEmitted(k eventKey) bool {
	for _, r := range a.recent {
		if r == k {
			return true
		}
	}
	return false
}

func (a *Assembler) finish(p *pending) {
	delete(a.open, p.key)
	a.recent[a.next] = p.key
	a.next = (a.next + 1) % recentSize
	if p.syscall == nil {
		// Records of types we keep but no SYSCALL: the start of the event
		// was lost or cut off from the log.
		a.stats.Incomplete++
		return
	}
	if ev := a.build(p); ev != nil {
		a.stats.Events++
		a.emit(ev)
	}
}
