package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The binary form of events and detections is what an analytic keeps in
// its durable state. It keeps every byte of every string (a file name need
// not be UTF-8, and JSON would replace what is not), costs a fraction of a
// microsecond each way, and starts with a version byte so a later layout
// can still read this one. TestCodecCoversEveryField fails when a field is
// added to Event, Detection or Evidence and not here.
//
// Event layouts: 1 ends with ArchiveFormat; 2 adds Actor.Scope,
// Process.Listed, Dir and Secret; 3 adds Process.GUID, Process.ParentGUID,
// Process.OriginalName and RemoteAddr (Windows process GUIDs, the name a
// renamed binary was built with, the SMB client of a share write) and
// macOS's Process.SigningID, TeamID, PlatformBinary, ResponsiblePID and
// PIDVersion.
//
// Detection layouts: 1 ends with UID; 2 adds Techniques.
//
// A state kept by a build that wrote an earlier layout reads back with
// what it lacks empty, as it was.

const (
	eventCodecVersion     = 3
	detectionCodecVersion = 2
)

// AppendBinary appends ev's binary form to b.
func (ev *Event) AppendBinary(b []byte) []byte {
	b = append(b, eventCodecVersion)
	b = appendTime(b, ev.Time)
	b = append(b, byte(ev.Kind))
	b = binary.AppendVarint(b, ev.Actor.UID)
	b = binary.AppendVarint(b, ev.Actor.EUID)
	b = binary.AppendVarint(b, ev.Actor.AUID)
	b = appendString(b, ev.Actor.User)
	b = appendString(b, ev.Actor.Session)
	b = appendString(b, ev.Actor.TTY)
	b = appendBool(b, ev.Actor.Interactive)
	b = appendBool(b, ev.Actor.Elevated)
	b = appendString(b, ev.Actor.Scope)
	p := &ev.Process
	b = binary.AppendVarint(b, p.PID)
	b = binary.AppendVarint(b, p.PPID)
	b = appendString(b, p.Exe)
	b = appendStrings(b, p.Argv)
	b = appendString(b, p.CommandLine)
	b = appendString(b, p.Cwd)
	b = appendString(b, p.Parent)
	b = appendStrings(b, p.Ancestors)
	b = appendStrings(b, p.Listed)
	b = appendString(b, p.GUID)
	b = appendString(b, p.ParentGUID)
	b = appendString(b, p.OriginalName)
	b = appendString(b, p.SigningID)
	b = appendString(b, p.TeamID)
	b = appendBool(b, p.PlatformBinary)
	b = binary.AppendVarint(b, p.ResponsiblePID)
	b = binary.AppendVarint(b, p.PIDVersion)
	b = appendString(b, ev.Path)
	b = appendString(b, ev.SourcePath)
	b = binary.AppendVarint(b, ev.Size)
	b = appendString(b, ev.Host)
	b = appendString(b, ev.Source)
	b = appendBool(b, ev.Recovered)
	b = appendBool(b, ev.Dir)
	b = appendString(b, ev.ArchiveFormat)
	b = appendString(b, ev.Secret)
	b = appendString(b, ev.RemoteAddr)
	return b
}

// UnmarshalBinary reads what AppendBinary wrote.
func (ev *Event) UnmarshalBinary(data []byte) error { return ev.UnmarshalShared(data, nil) }

// Strings holds one copy of each string read through it, so that events
// read back in bulk share their processes' and actors' strings, as events
// from a live process table do. The zero value is not usable: make one.
type Strings map[string]string

func (in Strings) of(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// UnmarshalShared is UnmarshalBinary taking the strings of the process and
// the actor from shared (nil: each its own). File paths are not shared:
// they are one an event.
func (ev *Event) UnmarshalShared(data []byte, shared Strings) error {
	r := reader{b: data, shared: shared}
	v := r.byte()
	if v < 1 || v > eventCodecVersion {
		return fmt.Errorf("event: binary form version %d, this build reads 1 to %d", v, eventCodecVersion)
	}
	*ev = Event{}
	ev.Time = r.time()
	ev.Kind = Kind(r.byte())
	ev.Actor.UID = r.varint()
	ev.Actor.EUID = r.varint()
	ev.Actor.AUID = r.varint()
	ev.Actor.User = r.sharedString()
	ev.Actor.Session = r.sharedString()
	ev.Actor.TTY = r.sharedString()
	ev.Actor.Interactive = r.bool()
	ev.Actor.Elevated = r.bool()
	if v >= 2 {
		ev.Actor.Scope = r.sharedString()
	}
	p := &ev.Process
	p.PID = r.varint()
	p.PPID = r.varint()
	p.Exe = r.sharedString()
	p.Argv = r.strings()
	p.CommandLine = r.sharedString()
	p.Cwd = r.sharedString()
	p.Parent = r.sharedString()
	p.Ancestors = r.strings()
	if v >= 2 {
		p.Listed = r.strings()
	}
	if v >= 3 {
		p.GUID = r.sharedString()
		p.ParentGUID = r.sharedString()
		p.OriginalName = r.sharedString()
		p.SigningID = r.sharedString()
		p.TeamID = r.sharedString()
		p.PlatformBinary = r.bool()
		p.ResponsiblePID = r.varint()
		p.PIDVersion = r.varint()
	}
	ev.Path = r.string()
	ev.SourcePath = r.string()
	ev.Size = r.varint()
	ev.Host = r.sharedString()
	ev.Source = r.sharedString()
	ev.Recovered = r.bool()
	if v >= 2 {
		ev.Dir = r.bool()
	}
	ev.ArchiveFormat = r.sharedString()
	if v >= 2 {
		ev.Secret = r.sharedString()
	}
	if v >= 3 {
		ev.RemoteAddr = r.sharedString()
	}
	return r.done("event")
}

// AppendBinary appends d's binary form to b.
func (d *Detection) AppendBinary(b []byte) []byte {
	b = append(b, detectionCodecVersion)
	b = appendTime(b, d.Time)
	for _, s := range []string{d.DetectionID, d.AnalyticID, d.TechniqueID, d.Platform, d.Host, d.Actor, d.Process, d.StagingPath, d.ArchivePath} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, d.FileCount)
	b = binary.AppendVarint(b, d.Bytes)
	b = appendTime(b, d.FirstSeen)
	b = appendTime(b, d.LastSeen)
	b = appendString(b, d.Severity)
	b = binary.AppendVarint(b, int64(d.Score))
	b = appendString(b, d.Reason)
	b = binary.AppendUvarint(b, uint64(len(d.Evidence)))
	for i := range d.Evidence {
		e := &d.Evidence[i]
		b = appendTime(b, e.Time)
		b = appendString(b, e.Kind)
		b = appendString(b, e.Path)
		b = binary.AppendVarint(b, e.Size)
		b = binary.AppendVarint(b, e.PID)
		b = appendString(b, e.Process)
		b = appendString(b, e.Cmdline)
		b = appendString(b, e.Actor)
		b = appendString(b, e.Note)
	}
	b = appendString(b, d.UID)
	b = appendStrings(b, d.Techniques)
	return b
}

// UnmarshalBinary reads what AppendBinary wrote.
func (d *Detection) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	v := r.byte()
	if v < 1 || v > detectionCodecVersion {
		return fmt.Errorf("detection: binary form version %d, this build reads 1 to %d", v, detectionCodecVersion)
	}
	*d = Detection{}
	d.Time = r.time()
	for _, s := range []*string{&d.DetectionID, &d.AnalyticID, &d.TechniqueID, &d.Platform, &d.Host, &d.Actor, &d.Process, &d.StagingPath, &d.ArchivePath} {
		*s = r.string()
	}
	d.FileCount = r.varint()
	d.Bytes = r.varint()
	d.FirstSeen = r.time()
	d.LastSeen = r.time()
	d.Severity = r.string()
	d.Score = int(r.varint())
	d.Reason = r.string()
	n := r.count()
	if n > 0 {
		d.Evidence = make([]Evidence, n)
	}
	for i := range d.Evidence {
		e := &d.Evidence[i]
		e.Time = r.time()
		e.Kind = r.string()
		e.Path = r.string()
		e.Size = r.varint()
		e.PID = r.varint()
		e.Process = r.string()
		e.Cmdline = r.string()
		e.Actor = r.string()
		e.Note = r.string()
	}
	d.UID = r.string()
	if v >= 2 {
		d.Techniques = r.strings()
	}
	return r.done("detection")
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ss))+1)
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime writes nanoseconds since the epoch, and the zero time as
// itself (its UnixNano is out of range).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, t.UnixNano())
}

var errShort = errors.New("truncated")

// reader decodes; the first error sticks and every later read is zero.
type reader struct {
	b      []byte
	err    error
	shared Strings
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad boolean"))
	return false
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, refusing one longer than what is left (each item
// takes at least a byte), so a damaged length cannot ask for gigabytes.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// sharedString reads a string through r.shared, when there is one.
func (r *reader) sharedString() string {
	if r.shared == nil {
		return r.string()
	}
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := r.shared.of(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strings() []string {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	n--
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.sharedString()
	}
	return ss
}

func (r *reader) time() time.Time {
	if !r.bool() {
		return time.Time{}
	}
	return time.Unix(0, r.varint())
}

func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%s: binary form %w", what, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%s: %d bytes left over in its binary form", what, len(r.b))
	}
	return nil
}
