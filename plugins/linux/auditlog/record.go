// Package auditlog turns Linux audit records into stagewatch events. It reads
// both forms the records come in: audit.log text lines written by auditd (raw
// or enriched log_format) and the bodies of NETLINK_AUDIT messages read
// straight from the kernel. It is pure: no I/O, no platform code, so it builds
// and is tested on every GOOS.
package auditlog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record types the assembler uses (linux/audit.h).
const (
	TypeSyscall   uint16 = 1300
	TypePath      uint16 = 1302
	TypeCwd       uint16 = 1307
	TypeExecve    uint16 = 1309
	TypeEOE       uint16 = 1320
	TypeProctitle uint16 = 1327
)

// typeNames maps the text names auditd writes to record type numbers. Only
// names that the assembler or the fixtures meet need to be here: an unknown
// name still parses, with Type 0.
var typeNames = map[string]uint16{
	"SYSCALL":       TypeSyscall,
	"PATH":          TypePath,
	"IPC":           1303,
	"SOCKETCALL":    1304,
	"CONFIG_CHANGE": 1305,
	"SOCKADDR":      1306,
	"CWD":           TypeCwd,
	"EXECVE":        TypeExecve,
	"MMAP":          1323,
	"EOE":           TypeEOE,
	"BPRM_FCAPS":    1321,
	"PROCTITLE":     TypeProctitle,
	"LOGIN":         1006,
	"DAEMON_START":  1200,
	"DAEMON_END":    1201,
	"DAEMON_ABORT":  1202,
	"DAEMON_CONFIG": 1203,
	"USER_START":    1105,
	"USER_END":      1106,
	"USER_CMD":      1123,
}

// Record is one parsed audit record.
type Record struct {
	Type     uint16 // record type number, 0 if the text name is not known
	TypeName string // as written in audit.log, or the number for netlink
	Time     time.Time
	Serial   uint64
	Node     string // node= prefix of the line, when auditd's name_format adds one

	fields   []field // the kernel's own fields, in order
	enriched []field // auditd's interpretations after \x1d (log_format=ENRICHED)
}

type field struct{ key, value string }

// Raw returns the value of key exactly as written, quotes included.
func (r *Record) Raw(key string) (string, bool) { return lookup(r.fields, key) }

// Enriched returns auditd's interpretation of key (the upper-case fields of
// enriched logs, e.g. "AUID" → "alice"), unquoted.
func (r *Record) Enriched(key string) (string, bool) {
	v, ok := lookup(r.enriched, key)
	return strings.Trim(v, `"`), ok
}

// Int returns key as a decimal integer.
func (r *Record) Int(key string) (int64, bool) {
	v, ok := r.Raw(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// Hex returns key as a hexadecimal number (syscall arguments, arch).
func (r *Record) Hex(key string) (uint64, bool) {
	v, ok := r.Raw(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 16, 64)
	return n, err == nil
}

// Str decodes key as one of the kernel's "untrusted strings" (comm, exe,
// name, cwd, EXECVE arguments, proctitle): a double-quoted value is taken as
// is, an unquoted one is hex (the kernel hex-encodes values holding spaces,
// quotes or control bytes), "(null)" and "?" mean absent. ok is false when
// the field is missing or absent; err is set when the hex is malformed.
func (r *Record) Str(key string) (s string, ok bool, err error) {
	v, present := r.Raw(key)
	if !present {
		return "", false, nil
	}
	return decodeString(key, v)
}

func decodeString(key, v string) (string, bool, error) {
	switch {
	case v == "(null)" || v == "?" || v == "":
		return "", false, nil
	case v[0] == '"':
		return strings.Trim(v, `"`), true, nil
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return "", false, fmt.Errorf("field %s: bad hex value %.40q", key, v)
	}
	return string(b), true, nil
}

func lookup(fs []field, key string) (string, bool) {
	for i := range fs {
		if fs[i].key == key {
			return fs[i].value, true
		}
	}
	return "", false
}

// ParseLine parses one audit.log line:
//
//	[node=NAME ]type=NAME msg=audit(SECONDS.MILLIS:SERIAL): key=value …[\x1dKEY=value …]
func ParseLine(line []byte) (Record, error) {
	s := strings.TrimRight(string(line), "\r\n")
	var r Record
	if rest, ok := strings.CutPrefix(s, "node="); ok {
		node, after, found := strings.Cut(rest, " ")
		if !found {
			return r, errors.New("line ends after node=")
		}
		r.Node, s = node, after
	}
	rest, ok := strings.CutPrefix(s, "type=")
	if !ok {
		return r, fmt.Errorf("line does not start with type=: %.60q", s)
	}
	name, rest, ok := strings.Cut(rest, " ")
	if !ok || name == "" {
		return r, fmt.Errorf("no record type in %.60q", s)
	}
	r.TypeName = name
	r.Type = typeNumber(name)
	rest, ok = strings.CutPrefix(rest, "msg=")
	if !ok {
		return r, fmt.Errorf("%s record without msg=audit(…): %.60q", name, s)
	}
	if err := r.parseBody(rest); err != nil {
		return r, fmt.Errorf("%s record: %w", name, err)
	}
	return r, nil
}

// ParseNetlink parses the body of one NETLINK_AUDIT message of type msgType:
//
//	audit(SECONDS.MILLIS:SERIAL): key=value …
func ParseNetlink(msgType uint16, body []byte) (Record, error) {
	r := Record{Type: msgType, TypeName: strconv.Itoa(int(msgType))}
	body = bytes.TrimRight(body, "\x00\n")
	if err := r.parseBody(string(body)); err != nil {
		return r, fmt.Errorf("netlink record type %d: %w", msgType, err)
	}
	return r, nil
}

func typeNumber(name string) uint16 {
	if n, ok := typeNames[name]; ok {
		return n
	}
	// auditd writes types it has no name for as UNKNOWN[1234].
	if num, ok := strings.CutPrefix(name, "UNKNOWN["); ok {
		if n, err := strconv.ParseUint(strings.TrimSuffix(num, "]"), 10, 16); err == nil {
			return uint16(n)
		}
	}
	return 0
}

// parseBody parses "audit(SEC.MS:SERIAL): fields".
func (r *Record) parseBody(s string) error {
	rest, ok := strings.CutPrefix(s, "audit(")
	if !ok {
		return fmt.Errorf("no audit( stamp in %.60q", s)
	}
	stamp, rest, ok := strings.Cut(rest, "):")
	if !ok {
		return fmt.Errorf("unterminated audit( stamp in %.60q", s)
	}
	clock, serial, ok := strings.Cut(stamp, ":")
	if !ok {
		return fmt.Errorf("stamp %q has no serial", stamp)
	}
	secs, millis, ok := strings.Cut(clock, ".")
	if !ok {
		return fmt.Errorf("stamp %q has no milliseconds", stamp)
	}
	sec, err1 := strconv.ParseInt(secs, 10, 64)
	ms, err2 := strconv.ParseUint(millis, 10, 32)
	n, err3 := strconv.ParseUint(serial, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || ms > 999 {
		return fmt.Errorf("bad stamp %q", stamp)
	}
	r.Time = time.Unix(sec, int64(ms)*int64(time.Millisecond))
	r.Serial = n

	kernel, enriched, _ := strings.Cut(rest, "\x1d")
	if r.fields, err1 = splitFields(kernel); err1 != nil {
		return err1
	}
	if enriched != "" {
		if r.enriched, err1 = splitFields(enriched); err1 != nil {
			return fmt.Errorf("enriched section: %w", err1)
		}
	}
	return nil
}

// splitFields splits space-separated key=value pairs. Values may be
// double-quoted, single-quoted (msg='…' of user-space records) or braced
// (enriched SADDR={ … }); none of them contain their own closing delimiter.
func splitFields(s string) ([]field, error) {
	fs := make([]field, 0, 24)
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return fs, nil
		}
		eq := strings.IndexAny(s, "= ")
		if eq < 0 || s[eq] == ' ' {
			// A bare word: the kernel never writes one, some user-space
			// records do. It carries nothing the assembler uses.
			if eq < 0 {
				return fs, nil
			}
			s = s[eq:]
			continue
		}
		key := s[:eq]
		s = s[eq+1:]
		var end int
		switch {
		case s == "":
			end = 0
		case s[0] == '"' || s[0] == '\'':
			i := strings.IndexByte(s[1:], s[0])
			if i < 0 {
				return fs, fmt.Errorf("field %s: unterminated quote", key)
			}
			end = i + 2
		case s[0] == '{':
			i := strings.IndexByte(s, '}')
			if i < 0 {
				return fs, fmt.Errorf("field %s: unterminated brace", key)
			}
			end = i + 1
		default:
			end = strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
		}
		fs = append(fs, field{key: key, value: s[:end]})
		s = s[end:]
	}
}
