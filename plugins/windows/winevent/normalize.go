// Package winevent turns Windows events (winlog.Record, from any of the
// shapes winlog reads) into the shared event model: Sysmon process
// creation, file creation, creation-time change and deletion, and
// Security process creation, file object access and network share
// access. It also lists the replay formats AN0040 reads.
package winevent

import (
	"strconv"
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/windows/winlog"
)

// Channels and providers of the events read.
const (
	SysmonChannel    = "Microsoft-Windows-Sysmon/Operational"
	sysmonProvider   = "Microsoft-Windows-Sysmon"
	SecurityChannel  = "Security"
	securityProvider = "Microsoft-Windows-Security-Auditing"
)

// Bounds of what a Normalizer remembers from one input: past them it
// forgets (the oldest pending events go out as they are), so that a huge
// or hostile input costs bounded memory.
const (
	maxProcesses = 1 << 18
	maxSessions  = 1 << 16
	maxPending   = 1 << 16
)

// Stats count what a Normalizer was given.
type Stats struct {
	Records uint64 // records seen
	Events  uint64 // events emitted
	Ignored uint64 // records of other channels or event ids, or accesses that change nothing
	Invalid uint64 // records of a kind read that lack what makes them an event
}

// Normalizer maps records to events. It remembers, within one input, the
// user and logon of each process created (by ProcessGuid) to complete the
// events of older Sysmon schemas that lack them, and the logon type of
// each logon (4624) to say which sessions are interactive. Not safe for
// concurrent use.
type Normalizer struct {
	emit     func(*event.Event)
	procs    map[string]actorOf // by process GUID
	sessions map[string]bool    // logon id -> interactive
	// pending are events of processes whose user is not yet known, held
	// until their process creation is read (inputs come out of order) or
	// the input ends.
	pending  map[string][]*event.Event
	order    []string // pending GUIDs, oldest first
	npending int
	Stats    Stats
}

type actorOf struct {
	user, session string
	elevated      bool
	interactive   bool
}

// New returns a Normalizer handing its events to emit.
func New(emit func(*event.Event)) *Normalizer {
	return &Normalizer{emit: emit, procs: map[string]actorOf{}, sessions: map[string]bool{}, pending: map[string][]*event.Event{}}
}

// Wants reports whether a record of this channel or provider and event id
// can become an event, so readers can skip decoding the others.
func Wants(channel, provider string, id uint32) bool {
	switch {
	case isSysmon(channel, provider):
		switch id {
		case 1, 2, 11, 23, 26:
			return true
		}
	case isSecurity(channel, provider):
		switch id {
		case 4688, 4663, 4656, 5145, 4624:
			return true
		}
	}
	return false
}

func isSysmon(channel, provider string) bool {
	return strings.EqualFold(channel, SysmonChannel) || strings.EqualFold(provider, sysmonProvider)
}

func isSecurity(channel, provider string) bool {
	return strings.EqualFold(channel, SecurityChannel) || strings.EqualFold(provider, securityProvider)
}

// Record maps one record, emitting the event it makes, if any, now or
// once what it lacks is known (Flush emits the rest).
func (n *Normalizer) Record(r *winlog.Record) {
	n.Stats.Records++
	var ev *event.Event
	switch {
	case isSysmon(r.Channel, r.Provider):
		ev = n.sysmon(r)
	case isSecurity(r.Channel, r.Provider):
		ev = n.security(r)
	default:
		n.Stats.Ignored++
		return
	}
	if ev == nil {
		return
	}
	ev.Host = r.Computer
	if ev.Time.IsZero() {
		ev.Time = r.Time
	}
	if ev.Time.IsZero() {
		ev.Time = r.Collected
	}
	n.deliver(ev)
}

// Flush emits the events still waiting for their process's user.
func (n *Normalizer) Flush() {
	for _, guid := range n.order {
		for _, ev := range n.pending[guid] {
			n.out(ev)
		}
	}
	clear(n.pending)
	n.order, n.npending = n.order[:0], 0
}

func (n *Normalizer) out(ev *event.Event) {
	n.Stats.Events++
	n.emit(ev)
}

// deliver completes ev from what is known of its process and emits it, or
// holds it until its process creation is read.
func (n *Normalizer) deliver(ev *event.Event) {
	guid := ev.Process.GUID
	if ev.Kind == event.KindExec && guid != "" {
		if len(n.procs) >= maxProcesses {
			clear(n.procs)
		}
		n.procs[guid] = actorOf{ev.Actor.User, ev.Actor.Session, ev.Actor.Elevated, ev.Actor.Interactive}
		n.out(ev)
		if held := n.pending[guid]; held != nil {
			delete(n.pending, guid)
			n.npending -= len(held)
			for _, h := range held {
				n.complete(h)
				n.out(h)
			}
		}
		return
	}
	if ev.Actor.User != "" && ev.Actor.Session != "" || guid == "" {
		n.complete(ev)
		n.out(ev)
		return
	}
	if _, ok := n.procs[guid]; ok {
		n.complete(ev)
		n.out(ev)
		return
	}
	if n.npending >= maxPending {
		n.Flush()
	}
	if n.pending[guid] == nil {
		n.order = append(n.order, guid)
	}
	n.pending[guid] = append(n.pending[guid], ev)
	n.npending++
}

// complete fills what ev's source left out from its process's creation
// and its logon.
func (n *Normalizer) complete(ev *event.Event) {
	if p, ok := n.procs[ev.Process.GUID]; ok && ev.Process.GUID != "" {
		if ev.Actor.User == "" {
			ev.Actor.User = p.user
		}
		if ev.Actor.Session == "" {
			ev.Actor.Session = p.session
			ev.Actor.Elevated = ev.Actor.Elevated || p.elevated
		}
		ev.Actor.Interactive = ev.Actor.Interactive || p.interactive
	}
	if n.sessions[ev.Actor.Session] {
		ev.Actor.Interactive = true
	}
}

func newEvent(kind event.Kind, source string) *event.Event {
	return &event.Event{
		Kind:   kind,
		Actor:  event.Actor{UID: event.Unknown, EUID: event.Unknown, AUID: event.Unknown},
		Size:   event.Unknown,
		Source: source,
	}
}

func (n *Normalizer) sysmon(r *winlog.Record) *event.Event {
	var ev *event.Event
	switch r.EventID {
	case 1:
		ev = newEvent(event.KindExec, "sysmon")
		p := &ev.Process
		p.Exe = r.Get("Image")
		p.OriginalName = r.Get("OriginalFileName")
		if p.OriginalName == "-" {
			p.OriginalName = ""
		}
		p.CommandLine = r.Get("CommandLine")
		p.Argv = event.SplitWindowsCommandLine(p.CommandLine)
		p.Cwd = r.Get("CurrentDirectory")
		p.Parent = r.Get("ParentImage")
		p.PPID = pid(r.Get("ParentProcessId"))
		p.ParentGUID = GUID(r.Get("ParentProcessGuid"))
		ev.Actor.Elevated = elevatedLevel(r.Get("IntegrityLevel"))
		if s, ok := winlog.ParseUint(r.Get("TerminalSessionId")); ok && s > 0 && !serviceLogon(LogonID(r.Get("LogonId"))) {
			ev.Actor.Interactive = true
		}
		ev.Actor.Session = LogonID(r.Get("LogonId"))
	case 11:
		ev = newEvent(event.KindFileCreate, "sysmon")
	case 2:
		// The file is where it was; its times were rewritten, the mark of
		// a tool covering what it touched: a write in place.
		ev = newEvent(event.KindFileWrite, "sysmon")
	case 23, 26:
		ev = newEvent(event.KindFileDelete, "sysmon")
	default:
		n.Stats.Ignored++
		return nil
	}
	if ev.Kind.IsFile() {
		ev.Path = r.Get("TargetFilename")
		if ev.Path == "" {
			n.Stats.Invalid++
			return nil
		}
		ev.Process.Exe = r.Get("Image")
	}
	ev.Process.PID = pid(r.Get("ProcessId"))
	ev.Process.GUID = GUID(r.Get("ProcessGuid"))
	ev.Actor.User = user(r.Get("User"))
	if t, ok := winlog.ParseTime(r.Get("UtcTime")); ok {
		ev.Time = t
	}
	return ev
}

// Access rights in 4656, 4663 and 5145's AccessMask.
const (
	accessWriteData  = 0x2
	accessAppendData = 0x4
	accessDelete     = 0x10000
)

func (n *Normalizer) security(r *winlog.Record) *event.Event {
	switch r.EventID {
	case 4624:
		// A logon: remember whether it is one a person made (interactive,
		// remote interactive, cached interactive).
		switch strings.TrimSpace(r.Get("LogonType")) {
		case "2", "10", "11":
			if len(n.sessions) >= maxSessions {
				clear(n.sessions)
			}
			if id := LogonID(r.Get("TargetLogonId")); id != "" {
				n.sessions[id] = true
			}
		}
		n.Stats.Ignored++
		return nil
	case 4688:
		ev := newEvent(event.KindExec, "security")
		p := &ev.Process
		p.PID = pid(r.Get("NewProcessId"))
		p.PPID = pid(r.Get("ProcessId"))
		p.Exe = r.Get("NewProcessName")
		p.CommandLine = r.Get("CommandLine")
		if p.CommandLine != "" {
			p.Argv = event.SplitWindowsCommandLine(p.CommandLine)
		} else if p.Exe != "" {
			p.Argv = []string{p.Exe}
		}
		p.Parent = r.Get("ParentProcessName")
		// The new process runs as the target account where 4688 names
		// one (Windows 10 and later), else as its creator.
		ev.Actor.User = account(r.Get("TargetDomainName"), r.Get("TargetUserName"))
		ev.Actor.Session = LogonID(r.Get("TargetLogonId"))
		if ev.Actor.User == "" || ev.Actor.Session == "" || ev.Actor.Session == "0x0" {
			ev.Actor.User = account(r.Get("SubjectDomainName"), r.Get("SubjectUserName"))
			ev.Actor.Session = LogonID(r.Get("SubjectLogonId"))
		}
		tet := strings.TrimSpace(r.Get("TokenElevationType"))
		ev.Actor.Elevated = tet == "%%1937" || strings.Contains(tet, "Type2") || elevatedLabel(r.Get("MandatoryLabel"))
		if p.Exe == "" {
			n.Stats.Invalid++
			return nil
		}
		return ev
	case 4663, 4656:
		if !strings.EqualFold(strings.TrimSpace(r.Get("ObjectType")), "File") {
			n.Stats.Ignored++
			return nil
		}
		kind, ok := accessKind(r.Get("AccessMask"), r.Get("AccessList"))
		if !ok {
			n.Stats.Ignored++
			return nil
		}
		ev := newEvent(kind, "security")
		ev.Path = r.Get("ObjectName")
		if ev.Path == "" || ev.Path == "-" {
			n.Stats.Invalid++
			return nil
		}
		ev.Process.PID = pid(r.Get("ProcessId"))
		ev.Process.Exe = r.Get("ProcessName")
		subject(ev, r)
		return ev
	case 5145:
		kind, ok := accessKind(r.Get("AccessMask"), r.Get("AccessList"))
		if !ok {
			n.Stats.Ignored++
			return nil
		}
		rel := strings.TrimLeft(r.Get("RelativeTargetName"), `\`)
		share := strings.TrimRight(r.Get("ShareName"), `\`)
		if rel == "" || share == "" {
			// The share itself, not a file in it.
			n.Stats.Ignored++
			return nil
		}
		ev := newEvent(kind, "security")
		// The file as this host keeps it (ShareLocalPath, \??\C:\ for C$),
		// so that what is archived here names the same path; the share's
		// form where the local path is not given.
		ev.Path = share + `\` + rel
		if local := localPath(r.Get("ShareLocalPath")); local != "" {
			ev.Path = local + rel
		}
		ev.RemoteAddr = strings.TrimSpace(r.Get("IpAddress"))
		subject(ev, r)
		return ev
	}
	n.Stats.Ignored++
	return nil
}

// localPath is a share's local path as 5145 gives it (\??\C:\, C:\data)
// with one trailing separator, or "" for none.
func localPath(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, `\??\`)
	s = strings.TrimRight(s, `\`)
	if len(s) < 2 || s[1] != ':' {
		return ""
	}
	return s + `\`
}

// subject takes the actor of an object access from its subject.
func subject(ev *event.Event, r *winlog.Record) {
	ev.Actor.User = account(r.Get("SubjectDomainName"), r.Get("SubjectUserName"))
	ev.Actor.Session = LogonID(r.Get("SubjectLogonId"))
}

// accessKind is what an access mask (or, where a shape dropped it, the
// access list's rendered names or %% codes) does to a file: a delete, a
// write, or nothing that changes it (reads).
func accessKind(mask, list string) (event.Kind, bool) {
	if m, ok := winlog.ParseUint(mask); ok {
		// A copy onto a share opens with DELETE too: writing wins.
		switch {
		case m&(accessWriteData|accessAppendData) != 0:
			return event.KindFileWrite, true
		case m&accessDelete != 0:
			return event.KindFileDelete, true
		}
		return 0, false
	}
	switch {
	case strings.Contains(list, "%%4417") || strings.Contains(list, "%%4418") || strings.Contains(list, "WriteData") || strings.Contains(list, "AppendData"):
		return event.KindFileWrite, true
	case strings.Contains(list, "%%1537") || strings.Contains(list, "DELETE"):
		return event.KindFileDelete, true
	}
	return 0, false
}

// GUID is a Windows GUID as the event model keeps it: without braces,
// lower case; "" for none or the null GUID.
func GUID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	if s == "" || s == "00000000-0000-0000-0000-000000000000" {
		return ""
	}
	return strings.ToLower(s)
}

// LogonID is a logon id as the event model keeps it as the actor's
// session: "0x" and lower-case hex, whatever the shape wrote (hex,
// decimal); "" for none.
func LogonID(s string) string {
	v, ok := winlog.ParseUint(s)
	if !ok {
		return strings.ToLower(strings.TrimSpace(s))
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// serviceLogon reports the logons of the system's own accounts: SYSTEM,
// LOCAL SERVICE and NETWORK SERVICE.
func serviceLogon(id string) bool {
	return id == "0x3e7" || id == "0x3e5" || id == "0x3e4"
}

func pid(s string) int64 {
	if v, ok := winlog.ParseUint(s); ok && v <= 1<<53 {
		return int64(v)
	}
	return event.Unknown
}

func account(domain, name string) string {
	domain, name = strings.TrimSpace(domain), strings.TrimSpace(name)
	if name == "" || name == "-" {
		return ""
	}
	if domain == "" || domain == "-" {
		return name
	}
	return domain + `\` + name
}

// user is Sysmon's User field: "DOMAIN\user", or "-" for none.
func user(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	return s
}

func elevatedLevel(level string) bool {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "high", "system":
		return true
	}
	return false
}

// elevatedLabel reads 4688's MandatoryLabel: high (S-1-16-12288) and
// system (S-1-16-16384) integrity, and above.
func elevatedLabel(sid string) bool {
	rid, ok := strings.CutPrefix(strings.TrimSpace(sid), "S-1-16-")
	if !ok {
		return false
	}
	v, err := strconv.Atoi(rid)
	return err == nil && v >= 12288
}
