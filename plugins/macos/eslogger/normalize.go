package eslogger

import (
	"strconv"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Source is event.Event.Source for what eslogger reported.
const Source = "eslogger"

// Stats are what a Normalizer read.
type Stats struct {
	Lines       uint64
	Events      uint64 // model events handed over
	ParseErrors uint64
	FirstError  string
	Ignored     uint64 // messages of no use here (fork, exit, opens for reading, other events)
	Truncated   uint64 // paths ES cut short (counted; the event is kept)
	// SeqGaps are messages ES did not deliver, from the gaps in
	// global_seq_num; Restarts are the times the numbering began again (a
	// new eslogger).
	SeqGaps  uint64
	Restarts uint64
}

// Normalizer turns eslogger lines into the model's events.
type Normalizer struct {
	emit  func(*event.Event)
	dec   Decoder
	stats Stats
	last  int64 // the last global_seq_num, 0 before the first
	// asid caches the last audit session id's string: a host's events
	// come from few sessions.
	asid    int64
	asidStr string
}

// New returns a Normalizer handing events to emit.
func New(emit func(*event.Event)) *Normalizer {
	return &Normalizer{emit: emit, asid: -1}
}

// Stats reports what was read so far.
func (n *Normalizer) Stats() Stats { return n.stats }

// ParseErrors counts the lines skipped as malformed (endpoint.LineParser).
func (n *Normalizer) ParseErrors() uint64 { return n.stats.ParseErrors }

// Flush has nothing to hand over: every line is one message.
func (n *Normalizer) Flush() {}

// Line reads one eslogger line; an error says why it was skipped.
func (n *Normalizer) Line(line []byte) error {
	n.stats.Lines++
	m, err := n.dec.Decode(line)
	if err != nil {
		n.stats.ParseErrors++
		if n.stats.FirstError == "" {
			n.stats.FirstError = err.Error()
		}
		return err
	}
	n.sequence(m)
	if m.Truncated {
		n.stats.Truncated++
	}
	ev := n.convert(m)
	if ev == nil {
		n.stats.Ignored++
		return nil
	}
	n.stats.Events++
	n.emit(ev)
	return nil
}

// sequence counts the messages ES dropped between this one and the last.
func (n *Normalizer) sequence(m *Message) {
	if !m.HasGlobalSeq {
		return
	}
	switch g := m.GlobalSeq; {
	case n.last == 0:
	case g > n.last+1:
		n.stats.SeqGaps += uint64(g - n.last - 1)
	case g <= n.last:
		n.stats.Restarts++
	}
	n.last = m.GlobalSeq
}

// convert maps one message to an event, nil when it makes none.
func (n *Normalizer) convert(m *Message) *event.Event {
	var ev *event.Event
	switch m.Event {
	case "exec":
		if !m.Target.HasToken {
			return nil
		}
		ev = n.newEvent(m, &m.Target, event.KindExec)
		ev.Process.Argv = append([]string(nil), m.Args...)
		ev.Process.Cwd = m.Cwd
		if len(ev.Process.Argv) == 0 && m.Target.Exe != "" {
			ev.Process.Argv = []string{m.Target.Exe}
		}
		return ev
	case "create":
		if m.Directory || m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileCreate)
	case "close":
		if !m.Modified || m.Directory || m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileWrite)
	case "open":
		if !m.WriteOpen || m.Directory || m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileWrite)
	case "rename":
		if m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileMoveIn)
		ev.SourcePath = m.Source
		ev.Dir = m.Directory
	case "clone", "copyfile":
		if m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileCopy)
		ev.SourcePath = m.Source
		ev.Dir = m.Directory
	case "unlink":
		if m.Path == "" {
			return nil
		}
		ev = n.newEvent(m, &m.Process, event.KindFileDelete)
		ev.Dir = m.Directory
	default:
		return nil
	}
	ev.Path = m.Path
	ev.Size = m.Size
	if ev.Kind == event.KindFileDelete || ev.Dir {
		ev.Size = event.Unknown
	}
	return ev
}

func (n *Normalizer) newEvent(m *Message, p *Proc, kind event.Kind) *event.Event {
	ev := &event.Event{Time: m.Time, Kind: kind, Source: Source, Size: event.Unknown}
	ev.Process = event.Process{
		PID: p.PID, PPID: p.PPID, Exe: p.Exe,
		SigningID: p.SigningID, TeamID: p.TeamID, PlatformBinary: p.PlatformBinary,
		ResponsiblePID: p.ResponsiblePID, PIDVersion: p.PIDVersion,
	}
	if p.PIDVersion > 0 {
		// The audit token names one process: pid reuse cannot confuse
		// it, so the endpoint's process table is keyed on it.
		ev.Process.GUID = TokenID(p.PID, p.PIDVersion)
	}
	if p.ParentVersion > 0 && p.ParentPID == p.PPID {
		ev.Process.ParentGUID = TokenID(p.ParentPID, p.ParentVersion)
	}
	ev.Actor = n.actor(p)
	return ev
}

// TokenID is the process GUID an audit token makes: "pid:pidversion".
func TokenID(pid, version int64) string {
	var b [42]byte
	out := strconv.AppendInt(b[:0], pid, 10)
	out = append(out, ':')
	out = strconv.AppendInt(out, version, 10)
	return string(out)
}

func (n *Normalizer) actor(p *Proc) event.Actor {
	a := event.Actor{UID: p.RUID, EUID: p.EUID, AUID: event.Unknown}
	if !p.HasToken {
		a.UID, a.EUID = event.Unknown, event.Unknown
	}
	if p.AUID >= 0 && p.AUID != auditUnset && p.HasToken {
		a.AUID = p.AUID
		// A login's audit session: Terminal windows, ssh logins and the
		// GUI session each have their own.
		if p.ASID != n.asid {
			n.asid, n.asidStr = p.ASID, strconv.FormatInt(p.ASID, 10)
		}
		a.Session = n.asidStr
	}
	if p.TTY != "" {
		a.TTY = strings.TrimPrefix(p.TTY, "/dev/")
		a.Interactive = true
	}
	a.Elevated = p.HasToken && p.EUID == 0 && a.AUID > 0
	return a
}
