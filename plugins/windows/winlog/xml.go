package winlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// Stats are what a reader found in one input.
type Stats struct {
	Records    uint64 // records read, good or bad
	Errors     uint64 // records, chunks or documents skipped as damaged
	FirstError string // the first of them, with where it was
}

func (s *Stats) fail(where string, err error) {
	s.Errors++
	if s.FirstError == "" {
		s.FirstError = fmt.Sprintf("%s: %v", where, err)
	}
}

// MaxXMLEvent bounds one <Event> element of XML input; real events stay
// far below it, a longer one is damage and is skipped, counted.
const MaxXMLEvent = 1 << 20

// ReadXML reads Windows events rendered as XML: wevtutil qe /f:xml output
// (<Event> elements back to back, with or without an <Events> root) and
// one <Event> a line as log shippers forward it. Each event is parsed on
// its own, so a damaged one costs only itself. emit gets a record reused
// for the next event.
func ReadXML(ctx context.Context, r io.Reader, emit func(*Record)) (Stats, error) {
	var (
		stats  Stats
		rec    Record
		parser xmlParser
		buf    = make([]byte, 0, 256<<10)
		offset int64 // of buf[0] in the input
		eof    bool
	)
	parser.names = names{}
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		start := findEventStart(buf)
		if start < 0 {
			// Keep a tail that may hold the start of a tag cut by the read.
			keep := min(len(buf), len("<Event "))
			offset += int64(len(buf) - keep)
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		} else {
			if i := bytes.Index(buf[start:], []byte("</Event>")); i >= 0 {
				end := start + i + len("</Event>")
				stats.Records++
				if err := parser.parse(buf[start:end], &rec); err != nil {
					stats.fail(fmt.Sprintf("event at byte %d", offset+int64(start)), err)
				} else {
					emit(&rec)
				}
				offset += int64(end)
				buf = append(buf[:0], buf[end:]...)
				continue
			}
			if len(buf)-start > MaxXMLEvent {
				stats.Records++
				stats.fail(fmt.Sprintf("event at byte %d", offset+int64(start)), fmt.Errorf("no </Event> within %d bytes", MaxXMLEvent))
				// Skip past this start and look for the next.
				offset += int64(start + 1)
				buf = append(buf[:0], buf[start+1:]...)
				continue
			}
			if start > 0 {
				offset += int64(start)
				buf = append(buf[:0], buf[start:]...)
			}
		}
		if eof {
			if s := findEventStart(buf); s >= 0 {
				stats.Records++
				stats.fail(fmt.Sprintf("event at byte %d", offset+int64(s)), errors.New("input ends inside it"))
			}
			return stats, nil
		}
		if cap(buf)-len(buf) < 64<<10 {
			buf = append(buf, make([]byte, 64<<10)...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return stats, err
			}
			eof = true
		}
	}
}

// findEventStart finds "<Event" opening an Event element (not EventData,
// EventID…), with or without a namespace prefix on it.
func findEventStart(b []byte) int {
	from := 0
	for {
		i := bytes.Index(b[from:], []byte("<Event"))
		if i < 0 {
			return -1
		}
		i += from
		if j := i + len("<Event"); j < len(b) {
			switch b[j] {
			case ' ', '>', '\t', '\r', '\n', '/':
				return i
			}
		} else {
			// Cut by the read: say not found, so more is read.
			return -1
		}
		from = i + 1
	}
}

// xmlParser reads one <Event> element into a Record: a small parser of
// the XML Windows renders (elements, attributes, text, entities, CDATA,
// comments), faster than encoding/xml and strict only where the record
// needs it.
type xmlParser struct {
	names names
	stack [][]byte
	text  []byte
}

const maxXMLDepth = 32

func (p *xmlParser) parse(b []byte, r *Record) error {
	r.Reset()
	p.stack = p.stack[:0]
	var (
		dataName  string // EventData/Data's Name
		textStart = -1   // where the current leaf's text starts in r.buf
	)
	i := 0
	for i < len(b) {
		if b[i] != '<' {
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				j = len(b) - i
			}
			if textStart >= 0 {
				r.buf = appendXMLText(r.buf, b[i:i+j])
			}
			i += j
			continue
		}
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			j := bytes.Index(rest, []byte("-->"))
			if j < 0 {
				return fmt.Errorf("offset %d: unterminated comment", i)
			}
			i += j + 3
			continue
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			j := bytes.Index(rest, []byte("]]>"))
			if j < 0 {
				return fmt.Errorf("offset %d: unterminated CDATA", i)
			}
			if textStart >= 0 {
				r.buf = append(r.buf, rest[9:j]...)
			}
			i += j + 3
			continue
		case bytes.HasPrefix(rest, []byte("<?")), bytes.HasPrefix(rest, []byte("<!")):
			j := bytes.IndexByte(rest, '>')
			if j < 0 {
				return fmt.Errorf("offset %d: unterminated declaration", i)
			}
			i += j + 1
			continue
		}
		j := bytes.IndexByte(rest, '>')
		if j < 0 {
			return fmt.Errorf("offset %d: unterminated tag", i)
		}
		tag := rest[1:j]
		i += j + 1
		if len(tag) > 0 && tag[0] == '/' {
			// End tag.
			if len(p.stack) == 0 {
				return fmt.Errorf("offset %d: end tag with none open", i)
			}
			name := local(bytes.TrimSpace(tag[1:]))
			if !bytes.Equal(name, p.stack[len(p.stack)-1]) {
				return fmt.Errorf("offset %d: </%s> closes <%s>", i, name, p.stack[len(p.stack)-1])
			}
			if textStart >= 0 {
				p.leaf(r, dataName, textStart)
				textStart = -1
			}
			p.stack = p.stack[:len(p.stack)-1]
			if len(p.stack) == 0 {
				r.finish()
				return nil
			}
			continue
		}
		empty := len(tag) > 0 && tag[len(tag)-1] == '/'
		if empty {
			tag = tag[:len(tag)-1]
		}
		nameEnd := bytes.IndexAny(tag, " \t\r\n")
		if nameEnd < 0 {
			nameEnd = len(tag)
		}
		name := local(tag[:nameEnd])
		if len(name) == 0 {
			return fmt.Errorf("offset %d: tag with no name", i)
		}
		if len(p.stack) >= maxXMLDepth {
			return fmt.Errorf("offset %d: nested too deep", i)
		}
		if len(p.stack) == 0 && !bytes.Equal(name, []byte("Event")) {
			return fmt.Errorf("offset %d: <%s> where <Event> was expected", i, name)
		}
		p.stack = append(p.stack, name)
		textStart = -1
		dataName = ""
		attrs := tag[nameEnd:]
		p.attributes(r, attrs, &dataName)
		if p.wantsText(name) {
			textStart = r.begin()
		}
		if empty {
			if textStart >= 0 {
				p.leaf(r, dataName, textStart)
				textStart = -1
			}
			p.stack = p.stack[:len(p.stack)-1]
			if len(p.stack) == 0 {
				r.finish()
				return nil
			}
		}
	}
	r.finish()
	return errors.New("input ends inside the event")
}

// wantsText reports whether the text of the element just opened is part
// of the record.
func (p *xmlParser) wantsText(name []byte) bool {
	switch len(p.stack) {
	case 3:
		switch string(p.stack[1]) {
		case "System":
			switch string(name) {
			case "EventID", "EventRecordID", "Channel", "Computer":
				return true
			}
		case "EventData":
			return string(name) == "Data"
		}
	}
	// UserData's leaves, at any depth below its one child.
	return len(p.stack) >= 4 && string(p.stack[1]) == "UserData"
}

// leaf files the text of the element on top of the stack, from start in
// r.buf.
func (p *xmlParser) leaf(r *Record, dataName string, start int) {
	name := p.stack[len(p.stack)-1]
	if string(p.stack[1]) == "System" {
		v := string(bytes.TrimSpace(r.buf[start:]))
		r.buf = r.buf[:start]
		switch string(name) {
		case "EventID":
			if id, ok := ParseUint(v); ok && id <= 0xffffffff {
				r.EventID = uint32(id)
			}
		case "EventRecordID":
			r.RecordID, _ = ParseUint(v)
		case "Channel":
			r.Channel = p.names.of([]byte(v))
		case "Computer":
			r.Computer = p.names.of([]byte(v))
		}
		return
	}
	if string(p.stack[1]) == "EventData" {
		if dataName == "" {
			dataName = "Data"
		}
		r.end(dataName, start)
		return
	}
	r.end(p.names.of(name), start)
}

// attributes reads the attributes the record keeps.
func (p *xmlParser) attributes(r *Record, b []byte, dataName *string) {
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		eq := bytes.IndexByte(b, '=')
		if eq < 0 {
			return
		}
		key := local(bytes.TrimSpace(b[:eq]))
		b = bytes.TrimLeft(b[eq+1:], " \t\r\n")
		if len(b) == 0 || (b[0] != '"' && b[0] != '\'') {
			return
		}
		q := b[0]
		end := bytes.IndexByte(b[1:], q)
		if end < 0 {
			return
		}
		raw := b[1 : 1+end]
		b = b[2+end:]
		el := p.stack[len(p.stack)-1]
		switch {
		case len(p.stack) == 3 && string(p.stack[1]) == "System":
			switch string(el) + "@" + string(key) {
			case "Provider@Name":
				r.Provider = p.names.of(appendXMLText(nil, raw))
			case "TimeCreated@SystemTime":
				if t, ok := ParseTime(string(raw)); ok {
					r.Time = t
				}
			case "Security@UserID":
				r.UserSID = p.names.of(raw)
			}
		case len(p.stack) == 3 && string(el) == "Data" && string(key) == "Name":
			*dataName = p.names.of(appendXMLText(nil, raw))
		}
	}
}

// local drops a namespace prefix.
func local(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// appendXMLText appends text with its entities replaced.
func appendXMLText(dst, text []byte) []byte {
	if bytes.IndexByte(text, '&') < 0 {
		return append(dst, text...)
	}
	start := len(dst)
	dst = append(dst, text...)
	return append(dst[:start], xmlUnescape(dst[start:])...)
}
