package winlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// EVTX layout (libyal's libevtx documentation): a 4 KiB file header, then
// 64 KiB chunks, each a 512-byte header (with string and template offset
// tables this reader does not need) and event records; a record is a
// 24-byte header, binary XML and a copy of its size.
const (
	evtxHeaderSize      = 4096
	evtxChunkSize       = 65536
	evtxChunkHeaderSize = 512
	evtxRecordHeader    = 24
)

var (
	evtxFileMagic   = []byte("ElfFile\x00")
	evtxChunkMagic  = []byte("ElfChnk\x00")
	evtxRecordMagic = []byte{0x2a, 0x2a, 0x00, 0x00}
)

// LooksLikeEVTX reports whether head is the start of an EVTX file.
func LooksLikeEVTX(head []byte) bool { return bytes.HasPrefix(head, evtxFileMagic) }

// EVTXReader reads EVTX files as a stream, a chunk at a time: it needs no
// seeking, holds one chunk in memory whatever the file's size, and takes a
// file copied from a live system as it is (stale header, checksums not
// updated, unused chunks). A damaged chunk or record is skipped and
// counted with where it was, the rest still read; a truncated file
// yields the records of its last chunk that are whole.
type EVTXReader struct {
	// Keep, when set, is asked once a record's System part is read
	// whether the record is wanted; the rest of a record refused is not
	// decoded.
	Keep func(channel, provider string, id uint32) bool

	chunk   []byte
	names   map[uint32]string // element and attribute names by chunk offset
	builder builder
	rec     Record
	subsBuf [][]subValue
}

// subValue is one template substitution value.
type subValue struct {
	typ  byte
	data []byte
}

// maxTemplateDepth bounds templates nested through BinXml values.
const maxTemplateDepth = 8

// Read reads the EVTX stream r, calling emit with each record (reused for
// the next one).
func (e *EVTXReader) Read(ctx context.Context, r io.Reader, emit func(*Record)) (Stats, error) {
	var stats Stats
	if e.chunk == nil {
		e.chunk = make([]byte, evtxChunkSize)
		e.names = map[uint32]string{}
		e.builder.names = names{}
	}
	e.builder.keep = e.Keep
	header := e.chunk[:evtxHeaderSize]
	n, err := io.ReadFull(r, header)
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return stats, errors.New("evtx: empty input")
		}
		return stats, fmt.Errorf("evtx: file header: %w", err)
	}
	if !bytes.Equal(header[:8], evtxFileMagic) {
		return stats, errors.New("evtx: not an EVTX file (no ElfFile signature)")
	}
	// The header block is 4 KiB in every version written; a damaged
	// header's size is not believed.
	offset := int64(evtxHeaderSize)
	for index := 0; ; index++ {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		n, err := io.ReadFull(r, e.chunk)
		if n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return stats, nil
		}
		where := fmt.Sprintf("chunk %d (byte %d)", index, offset)
		truncated := false
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				return stats, fmt.Errorf("evtx: %s: %w", where, err)
			}
			truncated = true
			clear(e.chunk[n:])
		}
		e.readChunk(e.chunk[:n], where, &stats, emit)
		if truncated {
			stats.fail(where, fmt.Errorf("file ends %d bytes into the chunk", n))
			return stats, nil
		}
		offset += evtxChunkSize
	}
}

// readChunk reads the records of one chunk (cut short when the file was).
func (e *EVTXReader) readChunk(c []byte, where string, stats *Stats, emit func(*Record)) {
	if len(c) < evtxChunkHeaderSize {
		return
	}
	if !bytes.Equal(c[:8], evtxChunkMagic) {
		if isZero(c[:evtxChunkHeaderSize]) {
			// Allocated, never written.
			return
		}
		stats.fail(where, errors.New("bad chunk signature; chunk skipped"))
		return
	}
	clear(e.names)
	end := int(binary.LittleEndian.Uint32(c[48:]))
	if end < evtxChunkHeaderSize || end > len(c) {
		// A chunk of a live file may not have its free space offset
		// written yet: read records while they hold together.
		end = len(c)
	}
	for off := evtxChunkHeaderSize; off+evtxRecordHeader <= end; {
		if !bytes.Equal(c[off:off+4], evtxRecordMagic) {
			if !isZero(c[off : off+4]) {
				stats.fail(fmt.Sprintf("%s record at chunk offset %d", where, off), errors.New("bad record signature; rest of chunk skipped"))
			}
			return
		}
		size := int(binary.LittleEndian.Uint32(c[off+4:]))
		if size < evtxRecordHeader+4 || off+size > len(c) || binary.LittleEndian.Uint32(c[off+size-4:]) != uint32(size) {
			stats.Records++
			next := resync(c, off+4, end)
			stats.fail(fmt.Sprintf("%s record at chunk offset %d", where, off), fmt.Errorf("bad record size %d; skipped to the next whole record", size))
			if next < 0 {
				return
			}
			off = next
			continue
		}
		stats.Records++
		id := binary.LittleEndian.Uint64(c[off+8:])
		if err := e.record(c, off, size); err != nil {
			if !errors.Is(err, errSkip) {
				stats.fail(fmt.Sprintf("%s record %d at chunk offset %d", where, id, off), err)
			}
		} else {
			if e.rec.RecordID == 0 {
				e.rec.RecordID = id
			}
			if e.rec.Time.IsZero() {
				e.rec.Time = filetime(binary.LittleEndian.Uint64(c[off+16:]))
			}
			emit(&e.rec)
		}
		off += size
	}
}

// record decodes the binary XML of the record at off.
func (e *EVTXReader) record(c []byte, off, size int) (err error) {
	defer func() {
		// Every read is bounds-checked; this is a last guard so that a
		// case missed costs one record, never the process.
		if p := recover(); p != nil {
			err = fmt.Errorf("binary XML: %v", p)
		}
	}()
	b := &e.builder
	b.reset(&e.rec)
	w := walker{e: e, c: c, limit: off + size - 4}
	if _, err := w.walk(off+evtxRecordHeader, off+size-4, nil, 0); err != nil {
		b.finish()
		return err
	}
	b.finish()
	if !b.done() {
		return errors.New("binary XML ends inside the event")
	}
	return nil
}

var errBinXML = errors.New("binary XML out of bounds")

type walker struct {
	e     *EVTXReader
	c     []byte
	limit int
}

func (w *walker) u8(p int) (byte, error) {
	if p < 0 || p >= len(w.c) {
		return 0, errBinXML
	}
	return w.c[p], nil
}

func (w *walker) u16(p int) (uint16, error) {
	if p < 0 || p+2 > len(w.c) {
		return 0, errBinXML
	}
	return binary.LittleEndian.Uint16(w.c[p:]), nil
}

func (w *walker) u32(p int) (uint32, error) {
	if p < 0 || p+4 > len(w.c) {
		return 0, errBinXML
	}
	return binary.LittleEndian.Uint32(w.c[p:]), nil
}

// name reads the name whose structure is at chunk offset at; inline is
// the offset the token's data reached, where an inline name sits, and the
// returned offset is past it.
func (w *walker) name(at uint32, inline int) (string, int, error) {
	next := inline
	if int(at) == inline {
		n, err := w.u16(inline + 6)
		if err != nil {
			return "", 0, err
		}
		next = inline + 8 + 2*int(n) + 2
	}
	if s, ok := w.e.names[at]; ok {
		return s, next, nil
	}
	n, err := w.u16(int(at) + 6)
	if err != nil {
		return "", 0, err
	}
	start := int(at) + 8
	if start+2*int(n) > len(w.c) {
		return "", 0, errBinXML
	}
	s := string(appendUTF16(nil, w.c[start:start+2*int(n)]))
	if len(w.e.names) < 4096 {
		w.e.names[at] = s
	}
	return s, next, nil
}

// walk reads binary XML tokens from p up to end (or an end-of-fragment
// token), with subs the substitution values of the template being
// expanded; it returns where it stopped.
func (w *walker) walk(p, end int, subs []subValue, depth int) (int, error) {
	b := &w.e.builder
	for p < end {
		tok := w.c[p]
		switch tok & 0x0f {
		case 0x00: // end of fragment
			return p + 1, nil
		case 0x0f: // fragment header
			p += 4
		case 0x01: // open start element
			at, err := w.u32(p + 7)
			if err != nil {
				return 0, err
			}
			name, next, err := w.name(at, p+11)
			if err != nil {
				return 0, err
			}
			p = next
			if tok&0x40 != 0 {
				p += 4 // attribute list size, after an inline name
			}
			if err := b.open(name); err != nil {
				return 0, err
			}
		case 0x02: // close start element
			b.endAttr()
			p++
		case 0x03, 0x04: // close empty element, end element
			if err := b.close(); err != nil {
				return 0, err
			}
			p++
		case 0x05: // value
			typ, err := w.u8(p + 1)
			if err != nil {
				return 0, err
			}
			n, err := w.u16(p + 2)
			if err != nil {
				return 0, err
			}
			start := p + 4
			if typ != 0x01 || start+2*int(n) > end {
				return 0, fmt.Errorf("value of type %#x at %d", typ, p)
			}
			if b.collecting() {
				b.r.buf = appendUTF16(b.r.buf, w.c[start:start+2*int(n)])
			}
			p = start + 2*int(n)
		case 0x06: // attribute
			b.endAttr()
			at, err := w.u32(p + 1)
			if err != nil {
				return 0, err
			}
			name, next, err := w.name(at, p+5)
			if err != nil {
				return 0, err
			}
			p = next
			b.startAttr(name)
		case 0x07: // CDATA
			n, err := w.u16(p + 1)
			if err != nil {
				return 0, err
			}
			start := p + 3
			if start+2*int(n) > end {
				return 0, errBinXML
			}
			if b.collecting() {
				b.r.buf = appendUTF16(b.r.buf, w.c[start:start+2*int(n)])
			}
			p = start + 2*int(n)
		case 0x08: // character reference
			v, err := w.u16(p + 1)
			if err != nil {
				return 0, err
			}
			if b.collecting() {
				b.r.buf = utf8.AppendRune(b.r.buf, rune(v))
			}
			p += 3
		case 0x09: // entity reference
			at, err := w.u32(p + 1)
			if err != nil {
				return 0, err
			}
			name, next, err := w.name(at, p+5)
			if err != nil {
				return 0, err
			}
			if b.collecting() {
				b.r.buf = append(b.r.buf, xmlUnescape([]byte("&"+name+";"))...)
			}
			p = next
		case 0x0a: // processing instruction target
			at, err := w.u32(p + 1)
			if err != nil {
				return 0, err
			}
			_, next, err := w.name(at, p+5)
			if err != nil {
				return 0, err
			}
			p = next
		case 0x0b: // processing instruction data
			n, err := w.u16(p + 1)
			if err != nil {
				return 0, err
			}
			p += 3 + 2*int(n)
		case 0x0c: // template instance
			next, err := w.template(p, end, depth)
			if err != nil {
				return 0, err
			}
			p = next
		case 0x0d, 0x0e: // normal and optional substitution
			id, err := w.u16(p + 1)
			if err != nil {
				return 0, err
			}
			p += 4
			if int(id) >= len(subs) {
				return 0, fmt.Errorf("substitution %d of %d", id, len(subs))
			}
			if err := w.value(subs[id], depth); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("unknown binary XML token %#x at %d", tok, p)
		}
	}
	if p > end {
		return 0, fmt.Errorf("binary XML runs %d bytes past its end", p-end)
	}
	return p, nil
}

// template expands the template instance at p.
func (w *walker) template(p, end, depth int) (int, error) {
	if depth >= maxTemplateDepth {
		return 0, errors.New("templates nested too deep")
	}
	def, err := w.u32(p + 6)
	if err != nil {
		return 0, err
	}
	p += 10
	defSize, err := w.u32(int(def) + 20)
	if err != nil {
		return 0, err
	}
	body := int(def) + 24
	bodyEnd := body + int(defSize)
	if bodyEnd > len(w.c) || bodyEnd < body {
		return 0, fmt.Errorf("template at %d of %d bytes overruns the chunk", def, defSize)
	}
	if int(def) == p {
		// Defined here, the first time the chunk uses it.
		p = bodyEnd
	}
	count, err := w.u32(p)
	if err != nil {
		return 0, err
	}
	p += 4
	if int(count) > (end-p)/4 {
		return 0, fmt.Errorf("template with %d values", count)
	}
	for len(w.e.subsBuf) <= depth {
		w.e.subsBuf = append(w.e.subsBuf, nil)
	}
	subs := w.e.subsBuf[depth][:0]
	data := p + 4*int(count)
	for i := range int(count) {
		size := int(binary.LittleEndian.Uint16(w.c[p+4*i:]))
		typ := w.c[p+4*i+2]
		if data+size > end {
			return 0, fmt.Errorf("substitution %d overruns the record", i)
		}
		subs = append(subs, subValue{typ, w.c[data : data+size]})
		data += size
	}
	w.e.subsBuf[depth] = subs
	if _, err := w.walk(body, bodyEnd, subs, depth+1); err != nil {
		return 0, err
	}
	return data, nil
}

// value renders a substitution value where it stands: as text, or, for
// binary XML, as the elements it holds.
func (w *walker) value(v subValue, depth int) error {
	b := &w.e.builder
	if v.typ == 0x21 {
		if len(v.data) == 0 {
			return nil
		}
		start := int(uintptrOffset(w.c, v.data))
		_, err := w.walk(start, start+len(v.data), nil, depth+1)
		return err
	}
	if !b.collecting() || len(v.data) == 0 {
		return nil
	}
	if v.typ == 0x11 && b.attrKey != "" && len(v.data) == 8 {
		b.attrTime = filetime(binary.LittleEndian.Uint64(v.data))
	}
	b.r.buf = appendValue(b.r.buf, v.typ, v.data)
	return nil
}

// uintptrOffset is the offset of sub, a slice of c, in c.
func uintptrOffset(c, sub []byte) int {
	return cap(c) - cap(sub)
}

// appendValue renders a binary XML value as Windows renders it in XML.
func appendValue(dst []byte, typ byte, d []byte) []byte {
	le := binary.LittleEndian
	if typ&0x80 != 0 {
		return appendArray(dst, typ&0x7f, d)
	}
	switch typ {
	case 0x00:
		return dst
	case 0x01:
		return appendUTF16(dst, trimUTF16Nul(d))
	case 0x02:
		return append(dst, bytes.TrimRight(d, "\x00")...)
	case 0x03:
		if len(d) >= 1 {
			return strconv.AppendInt(dst, int64(int8(d[0])), 10)
		}
	case 0x04:
		if len(d) >= 1 {
			return strconv.AppendUint(dst, uint64(d[0]), 10)
		}
	case 0x05:
		if len(d) >= 2 {
			return strconv.AppendInt(dst, int64(int16(le.Uint16(d))), 10)
		}
	case 0x06:
		if len(d) >= 2 {
			return strconv.AppendUint(dst, uint64(le.Uint16(d)), 10)
		}
	case 0x07:
		if len(d) >= 4 {
			return strconv.AppendInt(dst, int64(int32(le.Uint32(d))), 10)
		}
	case 0x08:
		if len(d) >= 4 {
			return strconv.AppendUint(dst, uint64(le.Uint32(d)), 10)
		}
	case 0x09:
		if len(d) >= 8 {
			return strconv.AppendInt(dst, int64(le.Uint64(d)), 10)
		}
	case 0x0a:
		if len(d) >= 8 {
			return strconv.AppendUint(dst, le.Uint64(d), 10)
		}
	case 0x0b:
		if len(d) >= 4 {
			return strconv.AppendFloat(dst, float64(math.Float32frombits(le.Uint32(d))), 'g', -1, 32)
		}
	case 0x0c:
		if len(d) >= 8 {
			return strconv.AppendFloat(dst, math.Float64frombits(le.Uint64(d)), 'g', -1, 64)
		}
	case 0x0d:
		// Booleans are 32 bits; writers have been seen to put other
		// values than 0 and 1 there: anything not 0 is true.
		if len(d) >= 1 {
			if isZero(d) {
				return append(dst, "false"...)
			}
			return append(dst, "true"...)
		}
	case 0x0e:
		return appendHexUpper(dst, d)
	case 0x0f:
		if len(d) >= 16 {
			return appendGUID(dst, d)
		}
	case 0x10, 0x14, 0x15:
		switch len(d) {
		case 4:
			return strconv.AppendUint(append(dst, "0x"...), uint64(le.Uint32(d)), 16)
		case 8:
			return strconv.AppendUint(append(dst, "0x"...), le.Uint64(d), 16)
		}
	case 0x11:
		if len(d) >= 8 {
			return filetime(le.Uint64(d)).AppendFormat(dst, "2006-01-02T15:04:05.0000000Z")
		}
	case 0x12:
		if len(d) >= 16 {
			t := time.Date(int(le.Uint16(d)), time.Month(le.Uint16(d[2:])), int(le.Uint16(d[6:])), int(le.Uint16(d[8:])), int(le.Uint16(d[10:])), int(le.Uint16(d[12:])), int(le.Uint16(d[14:]))*int(time.Millisecond), time.UTC)
			return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z")
		}
	case 0x13:
		return appendSID(dst, d)
	default:
		return appendHexUpper(dst, d)
	}
	return dst
}

// appendArray renders an array value, its items separated by commas.
func appendArray(dst []byte, typ byte, d []byte) []byte {
	if typ == 0x01 {
		first := true
		for len(d) >= 2 {
			i := 0
			for i+1 < len(d) && (d[i] != 0 || d[i+1] != 0) {
				i += 2
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendUTF16(dst, d[:i])
			if i+2 > len(d) {
				break
			}
			d = d[i+2:]
		}
		return dst
	}
	size := map[byte]int{0x03: 1, 0x04: 1, 0x05: 2, 0x06: 2, 0x07: 4, 0x08: 4, 0x09: 8, 0x0a: 8, 0x0b: 4, 0x0c: 8, 0x0d: 4, 0x0f: 16, 0x11: 8, 0x12: 16, 0x14: 4, 0x15: 8}[typ]
	if size == 0 {
		return appendHexUpper(dst, d)
	}
	for i := 0; i+size <= len(d); i += size {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendValue(dst, typ, d[i:i+size])
	}
	return dst
}

func trimUTF16Nul(d []byte) []byte {
	for len(d) >= 2 && d[len(d)-1] == 0 && d[len(d)-2] == 0 {
		d = d[:len(d)-2]
	}
	return d
}

// appendUTF16 appends little-endian UTF-16 as UTF-8; unpaired surrogates
// become U+FFFD.
func appendUTF16(dst, d []byte) []byte {
	for i := 0; i+1 < len(d); i += 2 {
		u := uint16(d[i]) | uint16(d[i+1])<<8
		switch {
		case u < 0x80:
			dst = append(dst, byte(u))
		case utf16.IsSurrogate(rune(u)):
			r := utf8.RuneError
			if u < 0xdc00 && i+3 < len(d) {
				u2 := uint16(d[i+2]) | uint16(d[i+3])<<8
				if r2 := utf16.DecodeRune(rune(u), rune(u2)); r2 != utf8.RuneError {
					r = r2
					i += 2
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = utf8.AppendRune(dst, rune(u))
		}
	}
	return dst
}

const hexUpper = "0123456789ABCDEF"

func appendHexUpper(dst, d []byte) []byte {
	for _, c := range d {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&0xf])
	}
	return dst
}

// appendGUID renders a GUID as Windows does: {8-4-4-4-12}, upper case.
func appendGUID(dst, d []byte) []byte {
	le := binary.LittleEndian
	hex := func(v uint64, digits int) {
		for i := digits - 1; i >= 0; i-- {
			dst = append(dst, hexUpper[(v>>(4*uint(i)))&0xf])
		}
	}
	dst = append(dst, '{')
	hex(uint64(le.Uint32(d)), 8)
	dst = append(dst, '-')
	hex(uint64(le.Uint16(d[4:])), 4)
	dst = append(dst, '-')
	hex(uint64(le.Uint16(d[6:])), 4)
	dst = append(dst, '-')
	dst = appendHexUpper(dst, d[8:10])
	dst = append(dst, '-')
	dst = appendHexUpper(dst, d[10:16])
	return append(dst, '}')
}

// appendSID renders a security identifier: S-revision-authority-subs….
func appendSID(dst, d []byte) []byte {
	if len(d) < 8 {
		return appendHexUpper(dst, d)
	}
	n := int(d[1])
	if 8+4*n > len(d) {
		return appendHexUpper(dst, d)
	}
	var auth uint64
	for _, c := range d[2:8] {
		auth = auth<<8 | uint64(c)
	}
	dst = append(dst, 'S', '-')
	dst = strconv.AppendUint(dst, uint64(d[0]), 10)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, auth, 10)
	for i := range n {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d[8+4*i:])), 10)
	}
	return dst
}

// filetime converts 100-ns intervals since 1601 to a time.
func filetime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	if v < epochDiff {
		return time.Time{}
	}
	d := v - epochDiff
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// resync finds the next record from p on whose size and size copy agree,
// -1 when there is none.
func resync(c []byte, p, end int) int {
	for {
		i := bytes.Index(c[p:end], evtxRecordMagic)
		if i < 0 {
			return -1
		}
		p += i
		if p+evtxRecordHeader <= end {
			size := int(binary.LittleEndian.Uint32(c[p+4:]))
			if size >= evtxRecordHeader+4 && p+size <= len(c) && binary.LittleEndian.Uint32(c[p+size-4:]) == uint32(size) {
				return p
			}
		}
		p++
	}
}
