package cloudtrail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Stats are what one Decode read.
type Stats struct {
	Records     uint64
	ParseErrors uint64
	FirstError  string
}

func (s *Stats) fail(format string, args ...any) {
	s.ParseErrors++
	if s.FirstError == "" {
		s.FirstError = fmt.Sprintf(format, args...)
	}
}

// wire is one element as any of the shapes carries it: a record, or a
// LookupEvents event whose record is the escaped string CloudTrailEvent.
type wire struct {
	Record
	CloudTrailEvent *string `json:"CloudTrailEvent"`
}

// LooksLike reports whether head (the start of an input, decompressed)
// is CloudTrail JSON in one of the shapes Decode reads.
func LooksLike(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(head) == 0 || (head[0] != '{' && head[0] != '[') {
		return false
	}
	for _, k := range [][]byte{[]byte(`"Records"`), []byte(`"eventName"`), []byte(`"eventSource"`), []byte(`"CloudTrailEvent"`), []byte(`"eventVersion"`)} {
		if bytes.Contains(head, k) {
			return true
		}
	}
	return false
}

// Gzip's magic number.
var gzipMagic = []byte{0x1f, 0x8b}

// Decode reads CloudTrail JSON from r, gzip-compressed or not, in the
// shape its content shows: a delivery file ({"Records":[…]}), a
// LookupEvents answer ({"Events":[…]}), a JSON array of records or
// events, or one record or event per line. fn gets each record; it may
// keep it. A malformed element is counted and skipped where the shape
// lets reading go on (lines, array elements); a malformed file ends it.
func Decode(r io.Reader, fn func(*Record)) (Stats, error) {
	var st Stats
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return st, err
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	first, err := firstByte(br)
	if err == io.EOF {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	switch first {
	case '[':
		dec := json.NewDecoder(br)
		if _, err := dec.Token(); err != nil {
			return st, err
		}
		return st, decodeArray(dec, &st, fn)
	case '{':
		return st, decodeObjectOrLines(br, &st, fn)
	}
	return st, fmt.Errorf("not CloudTrail JSON: starts with %q", first)
}

// firstByte peeks past white space (and a byte-order mark).
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xef: // UTF-8 BOM
			_, _ = br.Discard(2)
			continue
		}
		return b, br.UnreadByte()
	}
}

// decodeArray reads the elements of an array whose '[' was read.
func decodeArray(dec *json.Decoder, st *Stats, fn func(*Record)) error {
	for dec.More() {
		var w wire
		if err := dec.Decode(&w); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
				return err
			}
			// A type mismatch leaves the decoder past the element.
			st.fail("record %d: %v", st.Records+st.ParseErrors+1, err)
			continue
		}
		emit(&w, st, fn)
	}
	_, err := dec.Token() // ']'
	return err
}

func emit(w *wire, st *Stats, fn func(*Record)) {
	rec := &w.Record
	if w.CloudTrailEvent != nil {
		rec = new(Record)
		if err := json.Unmarshal([]byte(*w.CloudTrailEvent), rec); err != nil {
			st.fail("record %d: CloudTrailEvent: %v", st.Records+st.ParseErrors+1, err)
			return
		}
	}
	if rec.EventName == "" || rec.EventTime == "" {
		st.fail("record %d: no eventName or eventTime", st.Records+st.ParseErrors+1)
		return
	}
	st.Records++
	fn(rec)
}

// decodeObjectOrLines reads an input that starts with '{': a wrapper
// whose "Records" or "Events" key holds the array, or JSON lines.
func decodeObjectOrLines(br *bufio.Reader, st *Stats, fn func(*Record)) error {
	head, _ := br.Peek(4096)
	if isWrapper(head) {
		dec := json.NewDecoder(br)
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if key == "Records" || key == "Events" {
				t, err := dec.Token()
				if err != nil {
					return err
				}
				if d, ok := t.(json.Delim); !ok || d != '[' {
					return fmt.Errorf("%s is not an array", key)
				}
				if err := decodeArray(dec, st, fn); err != nil {
					return err
				}
				continue
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
		return nil
	}
	// JSON lines: one record or event per line.
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A record longer than the buffer: gather it whole.
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(bytes.TrimSpace(b)) > 0 {
			line++
			var w wire
			if uerr := json.Unmarshal(b, &w); uerr != nil {
				st.fail("line %d: %v", line, uerr)
			} else {
				emit(&w, st, fn)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// firstKey matches an object whose first key is Records or Events.
var firstKey = regexp.MustCompile(`^\s*\{\s*"(Records|Events)"\s*:`)

// isWrapper tells a delivery file or LookupEvents answer from records on
// lines: its first key is Records or Events, or (another key first) a
// Records or Events key comes before any record's eventName and the
// first line holds no record.
func isWrapper(head []byte) bool {
	if firstKey.Match(head) {
		return true
	}
	if i := bytes.IndexByte(head, '\n'); i >= 0 && bytes.Contains(head[:i], []byte(`"eventName"`)) {
		return false
	}
	for _, k := range [][]byte{[]byte(`"Records"`), []byte(`"Events"`)} {
		if i := bytes.Index(head, k); i >= 0 && !bytes.Contains(head[:i], []byte(`"eventName"`)) {
			return true
		}
	}
	return false
}
