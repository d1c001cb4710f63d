package eslogger

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON value in place, without building a tree: the
// decoder walks the objects it wants key by key and skips every other value
// (an exec's environment, file descriptors, stat blocks) without copying
// it. Strings are materialized only when asked for, so a line costs the
// allocations of the paths and arguments it carries and nothing else.
// docs/macos.md has the measurements against encoding/json that chose it.
type scanner struct {
	b   []byte
	i   int
	err error
	// scratch holds unescaped strings and keys; a key read from it is
	// valid until the next read.
	scratch []byte
}

// maxDepth bounds nesting: eslogger's messages are a few levels deep, a
// line nested deeper is not one of them.
const maxDepth = 64

var (
	errSyntax = errors.New("malformed JSON")
	errDepth  = errors.New("JSON nested too deeply")
)

func (s *scanner) reset(b []byte) {
	s.b, s.i, s.err = b, 0, nil
}

func (s *scanner) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.i = len(s.b)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the first byte of the next value, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object starts reading an object; false (and the value skipped) when the
// next value is not one. Use more to walk its members.
func (s *scanner) object() bool {
	if s.peek() != '{' {
		s.skip()
		return false
	}
	s.i++
	return true
}

// more reports whether the object or array being read has another member,
// consuming the separator before it; first is true for the first call.
func (s *scanner) more(first bool, end byte) bool {
	c := s.peek()
	if c == end {
		s.i++
		return false
	}
	if !first {
		if c != ',' {
			s.fail(errSyntax)
			return false
		}
		s.i++
		c = s.peek()
	}
	if c == 0 {
		s.fail(errSyntax)
		return false
	}
	return true
}

// key reads a member's name and its colon. The bytes returned are valid
// until the next read.
func (s *scanner) key() []byte {
	if s.peek() != '"' {
		s.fail(errSyntax)
		return nil
	}
	k, ok := s.rawString()
	if !ok {
		return nil
	}
	if s.peek() != ':' {
		s.fail(errSyntax)
		return nil
	}
	s.i++
	return k
}

// members calls fn for each member of the object that follows (fn must
// read or skip the value); false when the value is not an object.
func (s *scanner) members(fn func(k []byte)) bool {
	if !s.object() {
		return false
	}
	for first := true; s.more(first, '}'); first = false {
		k := s.key()
		if s.err != nil {
			return false
		}
		fn(k)
	}
	return s.err == nil
}

// rawString reads a string, returning its bytes unescaped: in place when
// it has no escapes, else in scratch.
func (s *scanner) rawString() ([]byte, bool) {
	s.i++ // the quote
	start := s.i
	if j := bytes.IndexByte(s.b[s.i:], '"'); j >= 0 && bytes.IndexByte(s.b[s.i:s.i+j], '\\') < 0 {
		out := s.b[s.i : s.i+j]
		for _, c := range out {
			if c < 0x20 {
				s.fail(errSyntax)
				return nil, false
			}
		}
		s.i += j + 1
		return out, true
	}
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return out, true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			s.fail(errSyntax)
			return nil, false
		}
		s.i++
	}
	s.fail(errSyntax)
	return nil, false
}

// escaped finishes a string with escapes (eslogger writes / as \/) into
// scratch.
func (s *scanner) escaped(start int) ([]byte, bool) {
	out := append(s.scratch[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			s.scratch = out
			return out, true
		case c < 0x20:
			s.fail(errSyntax)
			return nil, false
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if r2, ok = s.hex4(); !ok {
						return nil, false
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						s.i = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			s.fail(errSyntax)
			return nil, false
		}
	}
	s.fail(errSyntax)
	return nil, false
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		s.fail(errSyntax)
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			s.fail(errSyntax)
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

// str reads a string value; null and any other value read as "".
func (s *scanner) str() string {
	if s.peek() != '"' {
		s.skip()
		return ""
	}
	b, ok := s.rawString()
	if !ok || len(b) == 0 {
		return ""
	}
	return string(b)
}

// int reads an integer value; a number with a fraction or exponent reads
// as its integer part, any other value as 0 (and is skipped).
func (s *scanner) int() int64 {
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		s.skip()
		return 0
	}
	start := s.i
	s.number()
	if s.err != nil {
		return 0
	}
	num := s.b[start:s.i]
	var n uint64
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	for _, d := range num {
		if d < '0' || d > '9' {
			break
		}
		n = n*10 + uint64(d-'0')
	}
	if neg {
		return -int64(n)
	}
	return int64(n)
}

// bool reads true as true; anything else is false.
func (s *scanner) bool() bool {
	if s.peek() == 't' {
		s.skip()
		return true
	}
	s.skip()
	return false
}

// number consumes a JSON number.
func (s *scanner) number() {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			s.i++
			continue
		}
		break
	}
	if s.i == digits || s.i == start {
		s.fail(errSyntax)
	}
}

// skip consumes the next value whatever it is.
func (s *scanner) skip() { s.skipDepth(0) }

func (s *scanner) skipDepth(depth int) {
	if depth > maxDepth {
		s.fail(errDepth)
		return
	}
	switch c := s.peek(); c {
	case '"':
		s.skipString()
	case '{':
		s.i++
		for first := true; s.more(first, '}'); first = false {
			if s.peek() != '"' {
				s.fail(errSyntax)
				return
			}
			s.skipString()
			if s.peek() != ':' {
				s.fail(errSyntax)
				return
			}
			s.i++
			s.skipDepth(depth + 1)
		}
	case '[':
		s.i++
		for first := true; s.more(first, ']'); first = false {
			s.skipDepth(depth + 1)
		}
	case 't':
		s.literal("true")
	case 'f':
		s.literal("false")
	case 'n':
		s.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			s.number()
			return
		}
		s.fail(errSyntax)
	}
}

// skipString consumes a string without unescaping it. Most of a line is
// strings it skips (an exec's environment, stat times, hashes): the end of
// one without escapes is found by IndexByte's vector search. Control
// bytes in a skipped string are not looked for; in a string read they are
// refused.
func (s *scanner) skipString() {
	s.i++
	if j := bytes.IndexByte(s.b[s.i:], '"'); j >= 0 && bytes.IndexByte(s.b[s.i:s.i+j], '\\') < 0 {
		s.i += j + 1
		return
	}
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return
		case c == '\\':
			if s.i+1 >= len(s.b) || !validEscape[s.b[s.i+1]] {
				s.fail(errSyntax)
				return
			}
			s.i += 2
			continue
		case c < 0x20:
			s.fail(errSyntax)
			return
		}
		s.i++
	}
	s.fail(errSyntax)
}

// validEscape are the bytes JSON allows after a backslash.
var validEscape = [256]bool{'"': true, '\\': true, '/': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true, 'u': true}

func (s *scanner) literal(lit string) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.fail(errSyntax)
		return
	}
	s.i += len(lit)
}

// strings reads an array of strings (argv); other elements are skipped.
func (s *scanner) strings(into []string) []string {
	if s.peek() != '[' {
		s.skip()
		return into
	}
	s.i++
	for first := true; s.more(first, ']'); first = false {
		if s.peek() == '"' {
			b, ok := s.rawString()
			if !ok {
				return into
			}
			into = append(into, string(b))
			continue
		}
		s.skip()
	}
	return into
}

// ints reads an array of integers (an audit token written as its eight
// words) into buf, returning how many it held.
func (s *scanner) ints(buf []int64) int {
	if s.peek() != '[' {
		s.skip()
		return 0
	}
	s.i++
	n := 0
	for first := true; s.more(first, ']'); first = false {
		v := s.int()
		if n < len(buf) {
			buf[n] = v
		}
		n++
	}
	return n
}

// end checks that nothing but white space follows the value read.
func (s *scanner) end() error {
	if s.err != nil {
		return s.err
	}
	s.ws()
	if s.i != len(s.b) {
		return errors.New("data after the JSON object at byte " + strconv.Itoa(s.i))
	}
	return nil
}
