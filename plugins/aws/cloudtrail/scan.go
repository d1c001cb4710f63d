package cloudtrail

import (
	"bytes"
	"errors"
	"io"
)

// scanner finds the bounds of JSON values in a stream without parsing
// them, so each record is handed on whole and only the records of
// interest are parsed. It keeps one record, and what was read past it,
// in memory, however long the input.
type scanner struct {
	r        io.Reader
	buf      []byte
	pos      int // next byte not yet consumed
	consumed int // bytes dropped from the front of buf
	err      error
}

// more reads more input onto buf; false at the end of it.
func (s *scanner) more() bool {
	if s.err != nil {
		return false
	}
	if len(s.buf) == cap(s.buf) {
		grown := make([]byte, len(s.buf), 2*cap(s.buf)+4096)
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.err = err
	}
	return n > 0 || s.err == nil
}

func (s *scanner) readErr() error {
	if s.err == nil || errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// fillTo reads until n bytes past pos are buffered or the input ends.
func (s *scanner) fillTo(n int) {
	for len(s.buf)-s.pos < n && s.more() {
	}
}

// compact drops what was consumed once it is most of the buffer.
func (s *scanner) compact() {
	if s.pos > 0 && s.pos >= len(s.buf)/2 {
		n := copy(s.buf, s.buf[s.pos:])
		s.consumed += s.pos
		s.buf = s.buf[:n]
		s.pos = 0
	}
}

// skipWS moves past white space to the next byte, returned.
func (s *scanner) skipWS() (byte, bool) {
	for {
		for s.pos < len(s.buf) {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\r', '\n':
				s.pos++
			default:
				return c, true
			}
		}
		if !s.more() {
			return 0, false
		}
	}
}

// skipLine moves past the next newline.
func (s *scanner) skipLine() bool {
	for {
		for s.pos < len(s.buf) {
			s.pos++
			if s.buf[s.pos-1] == '\n' {
				return true
			}
		}
		if !s.more() {
			return false
		}
	}
}

var errUnbalanced = errors.New("malformed JSON: unbalanced brackets")

// valueEnd returns the end (exclusive) of the JSON value starting at pos.
// Strings, most of a record's bytes, are crossed with IndexByte to their
// closing quote (one not escaped by an odd run of backslashes).
func (s *scanner) valueEnd() (int, error) {
	i, depth := s.pos, 0
	for {
		for i < len(s.buf) {
			switch s.buf[i] {
			case '"':
				end, ok := stringEnd(s.buf, i+1)
				if !ok {
					goto more
				}
				i = end
				if depth == 0 {
					return i, nil
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
				if depth < 0 {
					return 0, errUnbalanced
				}
			case ',', ' ', '\t', '\r', '\n':
				if depth == 0 {
					return i, nil // a number or literal ends
				}
			}
			i++
		}
	more:
		if !s.more() {
			if depth == 0 && i > s.pos && i <= len(s.buf) {
				return i, nil
			}
			return 0, io.ErrUnexpectedEOF
		}
	}
}

// stringEnd returns the index after the quote closing the string whose
// content starts at from; false when buf ends first.
func stringEnd(buf []byte, from int) (int, bool) {
	for {
		q := bytes.IndexByte(buf[from:], '"')
		if q < 0 {
			return 0, false
		}
		q += from
		n := 0
		for k := q - 1; k >= from && buf[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		from = q + 1
	}
}

// firstKey reads, without consuming, the first key of the object at pos.
func (s *scanner) firstKey() (string, error) {
	i := s.pos + 1
	for {
		for i < len(s.buf) && (s.buf[i] == ' ' || s.buf[i] == '\t' || s.buf[i] == '\r' || s.buf[i] == '\n') {
			i++
		}
		if i < len(s.buf) {
			break
		}
		if !s.more() {
			return "", io.ErrUnexpectedEOF
		}
	}
	if s.buf[i] != '"' {
		return "", nil // {} or malformed: no key
	}
	for {
		if end, ok := stringEnd(s.buf, i+1); ok {
			return string(s.buf[i+1 : end-1]), nil
		}
		if !s.more() {
			return "", io.ErrUnexpectedEOF
		}
	}
}

// line returns the next line (without its newline) and false at the end
// of the input.
func (s *scanner) line() ([]byte, bool) {
	from := s.pos
	for {
		if j := bytes.IndexByte(s.buf[from:], '\n'); j >= 0 {
			line := s.buf[s.pos : from+j]
			s.pos = from + j + 1
			return line, true
		}
		from = len(s.buf)
		if !s.more() {
			line := s.buf[s.pos:]
			s.pos = len(s.buf)
			return line, false
		}
	}
}
