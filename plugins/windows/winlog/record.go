// Package winlog reads Windows event logs in every shape people keep them
// (EVTX files, wevtutil and log-shipper XML, Winlogbeat, flat and EvtxECmd
// JSON lines) into one generic Record: the System fields the analytics key
// on and the event's data as name/value pairs. Turning a Record into the
// shared event model is the normalizer's work (plugins/windows/winevent).
// Nothing here depends on the OS it runs on.
package winlog

import (
	"strconv"
	"strings"
	"time"
)

// Record is one Windows event, whatever shape it was read from.
type Record struct {
	Provider string // System/Provider/@Name
	EventID  uint32 // System/EventID
	Channel  string // System/Channel: "Security", "Microsoft-Windows-Sysmon/Operational"
	Computer string
	// Time is System/TimeCreated/@SystemTime, or the shape's own time of
	// the event; zero when the shape gave none.
	Time     time.Time
	RecordID uint64
	UserSID  string // System/Security/@UserID
	// Collected is a collector's own time (a shipper's @timestamp), kept
	// apart because the event's time wins over it.
	Collected time.Time
	// Data is EventData/Data by Name, then UserData's leaves, in order.
	// Names are unique per record in every schema the analytics read; Get
	// returns the first.
	Data []Field

	// buf holds the bytes of Data's values while a reader builds the
	// record; finish turns them into strings with one allocation.
	buf  []byte
	offs []fieldOffset
}

// Field is one named value of an event.
type Field struct {
	Name, Value string
}

type fieldOffset struct {
	name       string
	start, end int
}

// Get returns the value of the field named name, "" when there is none.
func (r *Record) Get(name string) string {
	for i := range r.Data {
		if r.Data[i].Name == name {
			return r.Data[i].Value
		}
	}
	return ""
}

// Lookup is Get reporting whether the field is there.
func (r *Record) Lookup(name string) (string, bool) {
	for i := range r.Data {
		if r.Data[i].Name == name {
			return r.Data[i].Value, true
		}
	}
	return "", false
}

// Reset empties r for reuse, keeping its buffers.
func (r *Record) Reset() {
	data, buf, offs := r.Data[:0], r.buf[:0], r.offs[:0]
	clear(r.Data[:cap(r.Data)])
	*r = Record{Data: data, buf: buf, offs: offs}
}

// addBytes appends a field whose value is v (copied).
func (r *Record) addBytes(name string, v []byte) {
	start := len(r.buf)
	r.buf = append(r.buf, v...)
	r.offs = append(r.offs, fieldOffset{name, start, len(r.buf)})
}

// addString appends a field whose value is v (copied into the record's
// buffer so that every value shares one allocation).
func (r *Record) addString(name, v string) {
	start := len(r.buf)
	r.buf = append(r.buf, v...)
	r.offs = append(r.offs, fieldOffset{name, start, len(r.buf)})
}

// begin opens a field whose value the caller appends to r.buf; end closes it.
func (r *Record) begin() int { return len(r.buf) }

func (r *Record) end(name string, start int) {
	r.offs = append(r.offs, fieldOffset{name, start, len(r.buf)})
}

// finish turns the fields added into Data.
func (r *Record) finish() {
	all := string(r.buf)
	for _, o := range r.offs {
		r.Data = append(r.Data, Field{o.name, all[o.start:o.end]})
	}
	r.offs = r.offs[:0]
	r.buf = r.buf[:0]
}

// names interns field names, so that a name read from a file costs no
// allocation after its first sighting.
type names map[string]string

func (n names) of(b []byte) string {
	if s, ok := n[string(b)]; ok {
		return s
	}
	if len(n) > 4096 {
		// Names come from schemas; a file that invents thousands is
		// damaged or hostile, and gets no cache.
		return string(b)
	}
	s := string(b)
	n[s] = s
	return s
}

// ParseTime reads the times Windows shapes write: RFC 3339 with up to nine
// decimals (System/TimeCreated/@SystemTime, @timestamp) and Sysmon's
// UtcTime "2006-01-02 15:04:05.000", always UTC.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006/01/02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// ParseUint reads a decimal or 0x-prefixed hexadecimal number, as Windows
// writes process ids (decimal in Sysmon, hex in Security events).
func ParseUint(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		return v, err == nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
