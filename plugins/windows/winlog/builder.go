package winlog

import (
	"errors"
	"time"
)

// builder files the parts of an event's XML, as a reader walks it, into a
// Record: System's fields, EventData's Data by Name, UserData's leaves.
// Readers of binary XML (EVTX) drive it; the text XML reader files the
// same parts with its own walk.
type builder struct {
	r        *Record
	names    names
	stack    []string
	dataName string
	// textStart is where the open element's text starts in r.buf, -1 when
	// its text is not kept.
	textStart int
	// attrKey is the attribute being read, "" when it is not kept;
	// attrStart where its value starts in r.buf.
	attrKey   string
	attrStart int
	inAttr    bool // an attribute is being read, kept or not
	attrTime  time.Time
	// keep, when set, is asked once System is read whether the record is
	// wanted; a record it refuses is abandoned (errSkip).
	keep func(channel, provider string, id uint32) bool
}

// errSkip abandons a record keep refused.
var errSkip = errors.New("record not wanted")

func (b *builder) reset(r *Record) {
	r.Reset()
	b.r, b.stack, b.dataName, b.textStart, b.attrKey, b.inAttr = r, b.stack[:0], "", -1, "", false
}

func (b *builder) open(name string) error {
	if len(b.stack) >= maxXMLDepth {
		return errors.New("elements nested too deep")
	}
	b.stack = append(b.stack, name)
	b.dataName = ""
	b.textStart = -1
	if b.wantsText(name) {
		b.textStart = b.r.begin()
	}
	return nil
}

// collecting reports whether text read now is kept: the caller appends it
// to b.r.buf.
func (b *builder) collecting() bool {
	return b.attrKey != "" || !b.inAttr && b.textStart >= 0
}

// startAttr begins an attribute of the element open; its value is kept
// only where the record needs it.
func (b *builder) startAttr(key string) {
	b.attrKey = ""
	b.inAttr = true
	if len(b.stack) != 3 {
		return
	}
	el := b.stack[2]
	switch {
	case b.stack[1] == "System" && (el == "Provider" && key == "Name" || el == "TimeCreated" && key == "SystemTime" || el == "Security" && key == "UserID"):
	case b.stack[1] == "EventData" && el == "Data" && key == "Name":
	default:
		return
	}
	b.attrKey = key
	b.attrStart = len(b.r.buf)
	b.attrTime = time.Time{}
}

// endAttr files the attribute being read.
func (b *builder) endAttr() {
	b.inAttr = false
	if b.attrKey == "" {
		return
	}
	r := b.r
	v := r.buf[b.attrStart:]
	switch b.stack[2] + "@" + b.attrKey {
	case "Provider@Name":
		r.Provider = b.names.of(v)
	case "TimeCreated@SystemTime":
		if !b.attrTime.IsZero() {
			r.Time = b.attrTime
		} else if t, ok := ParseTime(string(v)); ok {
			r.Time = t
		}
	case "Security@UserID":
		r.UserSID = b.names.of(v)
	case "Data@Name":
		b.dataName = b.names.of(v)
	}
	r.buf = r.buf[:b.attrStart]
	b.attrKey = ""
	// The element's text starts after its attributes.
	if b.textStart >= 0 {
		b.textStart = len(r.buf)
	}
}

func (b *builder) close() error {
	b.endAttr()
	if len(b.stack) == 0 {
		return errors.New("end of an element with none open")
	}
	if b.textStart >= 0 {
		b.leaf()
		b.textStart = -1
	}
	if len(b.stack) == 2 && b.stack[1] == "System" && b.keep != nil && !b.keep(b.r.Channel, b.r.Provider, b.r.EventID) {
		return errSkip
	}
	b.stack = b.stack[:len(b.stack)-1]
	return nil
}

// done reports whether the Event element has closed.
func (b *builder) done() bool { return len(b.stack) == 0 }

func (b *builder) finish() { b.r.finish() }

func (b *builder) wantsText(name string) bool {
	switch len(b.stack) {
	case 3:
		switch b.stack[1] {
		case "System":
			switch name {
			case "EventID", "EventRecordID", "Channel", "Computer":
				return true
			}
		case "EventData":
			return name == "Data"
		}
	}
	return len(b.stack) >= 4 && b.stack[1] == "UserData"
}

func (b *builder) leaf() {
	r := b.r
	start := b.textStart
	name := b.stack[len(b.stack)-1]
	if b.stack[1] == "System" {
		v := trimSpace(r.buf[start:])
		switch name {
		case "EventID":
			if id, ok := ParseUint(string(v)); ok && id <= 0xffffffff {
				r.EventID = uint32(id)
			}
		case "EventRecordID":
			r.RecordID, _ = ParseUint(string(v))
		case "Channel":
			r.Channel = b.names.of(v)
		case "Computer":
			r.Computer = b.names.of(v)
		}
		r.buf = r.buf[:start]
		return
	}
	if b.stack[1] == "EventData" {
		n := b.dataName
		if n == "" {
			n = "Data"
		}
		r.end(n, start)
		return
	}
	r.end(name, start)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
