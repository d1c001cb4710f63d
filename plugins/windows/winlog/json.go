package winlog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONParser reads the JSON-lines shapes of Windows events, one document
// a line, telling them apart by their keys:
//
//   - Winlogbeat and Elastic Agent documents: winlog.event_id,
//     winlog.channel, winlog.provider_name, winlog.computer_name,
//     winlog.event_data.*, winlog.user_data.*, @timestamp (and the older
//     Winlogbeat's event_id, log_name, event_data.* at top level);
//   - flat exports (public security datasets): EventID, Channel,
//     Hostname, SourceName and the event's data at top level;
//   - EvtxECmd: EventId, Channel, Provider, Computer, TimeCreated and the
//     event's XML as JSON in Payload ({"@Name": …, "#text": …} pairs,
//     XML-escaped text), after a byte-order mark.
//
// It is a small scanner of its own rather than encoding/json: it writes
// every value straight into the record's one buffer, and so reads several
// hundred thousand documents a second on one core.
type JSONParser struct {
	names names
	path  []byte
	rec   *Record
	depth int
	// inPayload is set while the document nested in EvtxECmd's Payload
	// string is read: its values are XML-escaped.
	inPayload bool
	payload   []byte
}

// maxJSONDepth bounds nesting; Windows documents nest a few levels.
const maxJSONDepth = 32

var errJSONSyntax = errors.New("not a JSON object")

// Parse reads one document into r (reset first).
func (p *JSONParser) Parse(line []byte, r *Record) error {
	if p.names == nil {
		p.names = names{}
	}
	r.Reset()
	p.rec, p.path, p.depth, p.inPayload = r, p.path[:0], 0, false
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	s := scanner{b: line}
	s.space()
	if s.peek() != '{' {
		return errJSONSyntax
	}
	if err := p.value(&s); err != nil {
		r.finish()
		return err
	}
	s.space()
	if s.i != len(s.b) {
		r.finish()
		return fmt.Errorf("offset %d: data after the document", s.i)
	}
	if len(p.payload) > 0 {
		// EvtxECmd's Payload, read after the rest so its fields follow.
		payload := p.payload
		p.payload = nil
		p.inPayload = true
		p.path = append(p.path[:0], "Payload"...)
		ps := scanner{b: payload}
		ps.space()
		top := len(r.offs)
		if err := p.value(&ps); err != nil {
			r.finish()
			return fmt.Errorf("Payload: %w", err)
		}
		// The event's own data comes first: EvtxECmd's top level has
		// names of its own (ProcessId: the writer's) that Get must not
		// take for the event's.
		r.offs = append(r.offs, r.offs[:top]...)[top:]
		p.payload = payload[:0]
	}
	r.finish()
	if r.EventID == 0 && r.Channel == "" && r.Provider == "" {
		return errors.New("no event id, channel or provider: not a Windows event")
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("offset %d: %s", s.i, what)
}

// str reads a string token, returning its raw bytes (escapes left in) and
// whether it holds any.
func (s *scanner) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.fail("string expected")
	}
	s.i++
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		n := bytes.IndexAny(s.b[s.i:], "\"\\")
		if n < 0 {
			break
		}
		s.i += n
		if s.b[s.i] == '"' {
			raw := s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		}
		escaped = true
		s.i += 2
	}
	return nil, false, s.fail("unterminated string")
}

// value reads any value at p.path.
func (p *JSONParser) value(s *scanner) error {
	s.space()
	switch c := s.peek(); c {
	case '{':
		return p.object(s)
	case '[':
		p.depth++
		if p.depth > maxJSONDepth {
			return s.fail("nested too deep")
		}
		s.i++
		s.space()
		if s.peek() == ']' {
			s.i++
			p.depth--
			return nil
		}
		for {
			if err := p.value(s); err != nil {
				return err
			}
			s.space()
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				p.depth--
				return nil
			default:
				return s.fail("',' or ']' expected")
			}
		}
	case '"':
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		p.leaf(raw, esc, true)
		return nil
	default:
		start := s.i
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				break
			}
			s.i++
		}
		raw := s.b[start:s.i]
		switch {
		case len(raw) == 0:
			return s.fail("value expected")
		case string(raw) == "null":
			return nil
		case string(raw) == "true", string(raw) == "false", raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
			p.leaf(raw, false, false)
			return nil
		}
		return s.fail("value expected")
	}
}

func (p *JSONParser) object(s *scanner) error {
	p.depth++
	if p.depth > maxJSONDepth {
		return s.fail("nested too deep")
	}
	s.i++
	base := len(p.path)
	// {"@Name": n, "#text": v} is one named value, as EvtxECmd and other
	// XML-to-JSON converters write EventData's Data elements.
	var atName []byte
	var atNameEsc bool
	textStart, textEnd := -1, -1
	s.space()
	if s.peek() == '}' {
		s.i++
		p.depth--
		return nil
	}
	for {
		s.space()
		key, kesc, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if s.peek() != ':' {
			return s.fail("':' expected")
		}
		s.i++
		s.space()
		switch {
		case string(key) == "@Name" && s.peek() == '"':
			atName, atNameEsc, err = s.str()
		case string(key) == "#text" && s.peek() == '"':
			var raw []byte
			var esc bool
			if raw, esc, err = s.str(); err == nil {
				textStart = len(p.rec.buf)
				p.appendValue(raw, esc)
				textEnd = len(p.rec.buf)
			}
		default:
			if base > 0 {
				p.path = append(p.path, '.')
			}
			if kesc {
				p.path = appendJSONUnescaped(p.path, key)
			} else {
				p.path = append(p.path, key...)
			}
			err = p.value(s)
			p.path = p.path[:base]
		}
		if err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
		default:
			return s.fail("',' or '}' expected")
		}
		break
	}
	p.depth--
	if len(atName) > 0 {
		var name []byte
		if atNameEsc {
			name = appendJSONUnescaped(nil, atName)
		} else {
			name = atName
		}
		if textStart < 0 {
			textStart, textEnd = len(p.rec.buf), len(p.rec.buf)
		}
		p.rec.offs = append(p.rec.offs, fieldOffset{p.names.of(name), textStart, textEnd})
	} else if textStart >= 0 {
		// {"#text": v, "@Qualifiers": …}: the element's own value.
		if p.inPayload {
			if i := bytes.LastIndexByte(p.path, '.'); i >= 0 && i+1 < len(p.path) {
				p.rec.offs = append(p.rec.offs, fieldOffset{p.names.of(p.path[i+1:]), textStart, textEnd})
			}
			return nil
		}
		v := append([]byte(nil), p.rec.buf[textStart:textEnd]...)
		p.rec.buf = p.rec.buf[:textStart]
		p.leaf(v, false, true)
	}
	return nil
}

// appendValue appends a string's value to the record's buffer, unescaped
// (and, inside EvtxECmd's Payload, XML-unescaped).
func (p *JSONParser) appendValue(raw []byte, esc bool) {
	start := len(p.rec.buf)
	if esc {
		p.rec.buf = appendJSONUnescaped(p.rec.buf, raw)
	} else {
		p.rec.buf = append(p.rec.buf, raw...)
	}
	if p.inPayload && bytes.IndexByte(p.rec.buf[start:], '&') >= 0 {
		v := xmlUnescape(append([]byte(nil), p.rec.buf[start:]...))
		p.rec.buf = append(p.rec.buf[:start], v...)
	}
}

// leaf takes one scalar at p.path.
func (p *JSONParser) leaf(raw []byte, esc, isString bool) {
	r := p.rec
	path := p.path
	text := func() string {
		if esc {
			return string(appendJSONUnescaped(nil, raw))
		}
		return p.names.of(raw)
	}
	if p.inPayload {
		// Payload.EventData.Data is taken by the @Name pairs; other
		// leaves (UserData's) by their last name.
		if i := bytes.LastIndexByte(path, '.'); i >= 0 && i+1 < len(path) && path[i+1] != '@' {
			start := r.begin()
			p.appendValue(raw, esc)
			r.end(p.names.of(path[i+1:]), start)
		}
		return
	}
	switch string(path) {
	case "winlog.event_id", "EventID", "EventId", "event_id":
		if v, ok := ParseUint(string(raw)); ok && v <= 0xffffffff {
			r.EventID = uint32(v)
		}
	case "winlog.channel", "Channel", "log_name", "LogName":
		r.Channel = text()
	case "winlog.provider_name", "Provider", "ProviderName", "SourceName", "source_name":
		r.Provider = text()
	case "winlog.computer_name", "Computer", "Hostname", "computer_name", "ComputerName":
		r.Computer = text()
	case "winlog.record_id", "RecordNumber", "EventRecordID", "EventRecordId", "record_number":
		if v, ok := ParseUint(string(raw)); ok {
			r.RecordID = v
		}
	case "TimeCreated", "TimeCreated.SystemTime", "TimeCreated.@SystemTime", "winlog.time_created", "EventTime", "TimeGenerated":
		if t, ok := ParseTime(text()); ok {
			r.Time = t
		}
	case "@timestamp", "event.created":
		if t, ok := ParseTime(text()); ok && (r.Collected.IsZero() || path[0] == '@') {
			r.Collected = t
		}
	case "winlog.user.identifier", "UserId", "UserID":
		r.UserSID = text()
	case "Payload":
		if isString {
			p.payload = append(p.payload[:0], raw...)
			if esc {
				p.payload = appendJSONUnescaped(p.payload[:0], raw)
			}
		}
	default:
		var name []byte
		switch {
		case bytes.HasPrefix(path, []byte("winlog.event_data.")):
			name = path[len("winlog.event_data."):]
		case bytes.HasPrefix(path, []byte("winlog.user_data.")), bytes.HasPrefix(path, []byte("event_data.")), bytes.HasPrefix(path, []byte("user_data.")):
			name = path[bytes.LastIndexByte(path, '.')+1:]
		case bytes.HasPrefix(path, []byte("EventData.")):
			name = path[bytes.LastIndexByte(path, '.')+1:]
		case bytes.IndexByte(path, '.') < 0:
			// A flat export's data at top level.
			name = path
		default:
			return
		}
		if len(name) == 0 {
			return
		}
		start := r.begin()
		if esc {
			r.buf = appendJSONUnescaped(r.buf, raw)
		} else {
			r.buf = append(r.buf, raw...)
		}
		r.end(p.names.of(name), start)
	}
}

// appendJSONUnescaped appends the value of a JSON string's raw bytes;
// malformed escapes are kept as they are.
func appendJSONUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(raw[i+1:])
			if n == 0 {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if len(raw) > i+2 && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, n2 := hex4(raw[i+3:]); n2 > 0 {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, '\\', raw[i])
		}
	}
	return dst
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, 0
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 4
}

// xmlUnescape replaces the five XML entities and numeric character
// references; anything else stays as it is.
func xmlUnescape(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		if b[i] != '&' {
			out = append(out, b[i])
			continue
		}
		end := bytes.IndexByte(b[i:], ';')
		if end < 0 || end > 12 {
			out = append(out, b[i])
			continue
		}
		ent := string(b[i+1 : i+end])
		var r rune = -1
		switch ent {
		case "amp":
			r = '&'
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "quot":
			r = '"'
		case "apos":
			r = '\''
		default:
			if len(ent) > 1 && ent[0] == '#' {
				var v uint64
				var err error
				if ent[1] == 'x' || ent[1] == 'X' {
					v, err = strconv.ParseUint(ent[2:], 16, 32)
				} else {
					v, err = strconv.ParseUint(ent[1:], 10, 32)
				}
				if err == nil && utf8.ValidRune(rune(v)) {
					r = rune(v)
				}
			}
		}
		if r < 0 {
			out = append(out, b[i])
			continue
		}
		out = utf8.AppendRune(out, r)
		i += end
	}
	return out
}
