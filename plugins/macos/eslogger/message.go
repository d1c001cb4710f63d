// Package eslogger reads Apple's eslogger output: one Endpoint Security
// message per line, as JSON, live from the eslogger child or replayed from
// a file. Apple documents the JSON as not an API, so the reader is lenient
// where eslogger has changed and may change again: the event is the one
// key inside "event" (the numeric event_type is not read), members come in
// any order and unknown ones are skipped, an audit token is an object
// (pid, pidversion, ruid…) or the eight words of audit_token_t, "/" may be
// written "\/", and a file's destination is either an existing_file or a
// new_path {dir, filename}.
package eslogger

import (
	"errors"
	"time"
)

// Message is the part of one Endpoint Security message the analytic uses.
// A Message is reused from line to line; its strings are fresh each line.
type Message struct {
	Time          time.Time
	SchemaVersion int64
	Version       int64 // the ES message version
	GlobalSeq     int64 // global_seq_num: a gap is messages ES dropped
	Seq           int64 // seq_num, per event type
	HasGlobalSeq  bool
	Process       Proc   // the process that caused the event
	Event         string // the key inside "event": exec, create, rename…

	Target    Proc     // exec's new image, fork's child
	Args      []string // exec
	Cwd       string   // exec
	Script    string   // exec of a script by its interpreter
	Path      string   // the file: create, close, unlink, open, clone and copyfile's destination, rename's destination
	Source    string   // rename, clone, copyfile
	Size      int64    // the file's st_size where given, else -1
	Modified  bool     // close: the file was written
	WriteOpen bool     // open for writing
	Truncated bool     // a path ES cut short
	Directory bool     // the file is a directory (stat's mode)
	Existing  bool     // rename or create onto an existing file
}

// Proc is an es_process_t.
type Proc struct {
	PID, PIDVersion          int64
	RUID, EUID, AUID, ASID   int64
	PPID                     int64
	ParentPID, ParentVersion int64 // parent_audit_token, where given
	ResponsiblePID           int64
	Exe                      string
	SigningID, TeamID        string
	PlatformBinary           bool
	TTY                      string
	HasToken                 bool
}

// auditUnset is auid's value for a process no login started.
const auditUnset = 4294967295

var (
	errNotObject = errors.New("line is not a JSON object")
	errNoEvent   = errors.New(`no "event" member`)
	errNoTime    = errors.New(`no "time" member`)
)

// Decoder turns eslogger lines into Messages.
type Decoder struct {
	s   scanner
	msg Message
}

// Decode reads one line. The Message it returns is valid until the next
// call.
func (d *Decoder) Decode(line []byte) (*Message, error) {
	m := &d.msg
	args := m.Args[:0]
	*m = Message{Size: -1, Args: args}
	s := &d.s
	s.reset(line)
	var timeRaw []byte
	var timeBuf [64]byte
	ok := s.members(func(k []byte) {
		switch string(k) {
		case "time":
			if s.peek() == '"' {
				b, _ := s.rawString()
				timeRaw = append(timeBuf[:0], b...)
			} else {
				s.skip()
			}
		case "schema_version":
			m.SchemaVersion = s.int()
		case "version":
			m.Version = s.int()
		case "global_seq_num":
			m.GlobalSeq, m.HasGlobalSeq = s.int(), true
		case "seq_num":
			m.Seq = s.int()
		case "process":
			d.proc(&m.Process)
		case "event":
			d.event(m)
		default:
			s.skip()
		}
	})
	if !ok && s.err == nil {
		return nil, errNotObject
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	if m.Event == "" {
		return nil, errNoEvent
	}
	if len(timeRaw) == 0 {
		return nil, errNoTime
	}
	t, err := parseTime(timeRaw)
	if err != nil {
		return nil, err
	}
	m.Time = t
	return m, nil
}

// event reads the object inside "event": one member, named for the event.
func (d *Decoder) event(m *Message) {
	s := &d.s
	s.members(func(k []byte) {
		if m.Event != "" {
			s.skip()
			return
		}
		switch string(k) {
		case "exec":
			m.Event = "exec"
			d.exec(m)
		case "fork":
			m.Event = "fork"
			s.members(func(k []byte) {
				if string(k) == "child" {
					d.proc(&m.Target)
				} else {
					s.skip()
				}
			})
		case "create":
			m.Event = "create"
			d.create(m)
		case "rename":
			m.Event = "rename"
			d.rename(m)
		case "close":
			m.Event = "close"
			s.members(func(k []byte) {
				switch string(k) {
				case "modified":
					m.Modified = s.bool()
				case "target":
					d.file(m, &m.Path)
				default:
					s.skip()
				}
			})
		case "clone":
			m.Event = "clone"
			var dir, name string
			s.members(func(k []byte) {
				switch string(k) {
				case "source":
					d.fileSized(m, &m.Source)
				case "target_dir":
					d.fileQuiet(&dir)
				case "target_name":
					name = s.str()
				default:
					s.skip()
				}
			})
			m.Path = join(dir, name)
		case "copyfile":
			m.Event = "copyfile"
			var dir, name, file string
			s.members(func(k []byte) {
				switch string(k) {
				case "source":
					d.fileSized(m, &m.Source)
				case "target_file":
					d.fileQuiet(&file)
				case "target_dir":
					d.fileQuiet(&dir)
				case "target_name":
					name = s.str()
				default:
					s.skip()
				}
			})
			m.Path = file
			if m.Path == "" {
				m.Path = join(dir, name)
			}
		case "unlink":
			m.Event = "unlink"
			s.members(func(k []byte) {
				if string(k) == "target" {
					d.file(m, &m.Path)
				} else {
					s.skip()
				}
			})
		case "open":
			m.Event = "open"
			s.members(func(k []byte) {
				switch string(k) {
				case "fflag":
					m.WriteOpen = s.int()&fwrite != 0
				case "file":
					d.file(m, &m.Path)
				default:
					s.skip()
				}
			})
		case "exit":
			m.Event = "exit"
			s.skip()
		default:
			// An event this reader has no use for: named, so that it is
			// counted rather than taken for a malformed line.
			m.Event = "other"
			s.skip()
		}
	})
}

// fwrite is FWRITE in an open event's fflag.
const fwrite = 0x2

func (d *Decoder) exec(m *Message) {
	s := &d.s
	s.members(func(k []byte) {
		switch string(k) {
		case "target":
			d.proc(&m.Target)
		case "args":
			m.Args = s.strings(m.Args)
		case "cwd":
			d.fileQuiet(&m.Cwd)
		case "script":
			d.fileQuiet(&m.Script)
		default:
			s.skip() // env, fds, dyld_exec_path, image_cputype…
		}
	})
}

func (d *Decoder) create(m *Message) {
	s := &d.s
	s.members(func(k []byte) {
		switch string(k) {
		case "destination":
			d.destination(m)
		default:
			s.skip()
		}
	})
}

func (d *Decoder) rename(m *Message) {
	s := &d.s
	s.members(func(k []byte) {
		switch string(k) {
		case "source":
			d.fileSized(m, &m.Source)
		case "destination":
			d.destination(m)
		default:
			s.skip()
		}
	})
}

// destination reads {existing_file: file} or {new_path: {dir, filename}}.
func (d *Decoder) destination(m *Message) {
	s := &d.s
	s.members(func(k []byte) {
		switch string(k) {
		case "existing_file":
			if s.peek() == 'n' {
				s.skip()
				return
			}
			m.Existing = true
			d.file(m, &m.Path)
		case "new_path":
			if s.peek() == 'n' {
				s.skip()
				return
			}
			var dir, name string
			s.members(func(k []byte) {
				switch string(k) {
				case "dir":
					d.fileQuiet(&dir)
				case "filename":
					name = s.str()
				default:
					s.skip()
				}
			})
			m.Path = join(dir, name)
		default:
			s.skip()
		}
	})
}

// file reads an es_file_t into path, with its size and type.
func (d *Decoder) file(m *Message, path *string) {
	d.fileInfo(m, path, true)
}

// fileSized reads a source file: its size is the copy's where the
// destination gives none.
func (d *Decoder) fileSized(m *Message, path *string) {
	d.fileInfo(m, path, m.Size < 0)
}

func (d *Decoder) fileQuiet(path *string) { d.fileInfo(nil, path, false) }

func (d *Decoder) fileInfo(m *Message, path *string, sized bool) {
	s := &d.s
	if s.peek() == '"' { // a bare path, as some tools write files
		*path = s.str()
		return
	}
	s.members(func(k []byte) {
		switch string(k) {
		case "path":
			*path = s.str()
		case "path_truncated":
			if s.bool() && m != nil {
				m.Truncated = true
			}
		case "stat":
			if !sized || m == nil {
				s.skip()
				return
			}
			s.members(func(k []byte) {
				switch string(k) {
				case "st_size":
					m.Size = s.int()
				case "st_mode":
					m.Directory = s.int()&0o170000 == 0o040000
				default:
					s.skip()
				}
			})
		default:
			s.skip()
		}
	})
}

// proc reads an es_process_t.
func (d *Decoder) proc(p *Proc) {
	s := &d.s
	s.members(func(k []byte) {
		switch string(k) {
		case "audit_token":
			p.HasToken = d.token(&p.PID, &p.PIDVersion, &p.RUID, &p.EUID, &p.AUID, &p.ASID)
		case "parent_audit_token":
			var ru, eu, au, as int64
			d.token(&p.ParentPID, &p.ParentVersion, &ru, &eu, &au, &as)
		case "responsible_audit_token":
			var v, ru, eu, au, as int64
			d.token(&p.ResponsiblePID, &v, &ru, &eu, &au, &as)
		case "ppid":
			p.PPID = s.int()
		case "executable":
			d.fileQuiet(&p.Exe)
		case "signing_id":
			p.SigningID = s.str()
		case "team_id":
			p.TeamID = s.str()
		case "is_platform_binary":
			p.PlatformBinary = s.bool()
		case "tty":
			d.fileQuiet(&p.TTY)
		default:
			s.skip()
		}
	})
}

// token reads an audit token: an object of named fields, or the eight
// words of audit_token_t (auid, euid, egid, ruid, rgid, pid, asid,
// pidversion, as audit_token_to_* read them).
func (d *Decoder) token(pid, version, ruid, euid, auid, asid *int64) bool {
	s := &d.s
	switch s.peek() {
	case '[':
		var w [8]int64
		if s.ints(w[:]) < 8 {
			return false
		}
		*auid, *euid, *ruid, *pid, *asid, *version = w[0], w[1], w[3], w[5], w[6], w[7]
		return true
	case '{':
		found := false
		s.members(func(k []byte) {
			switch string(k) {
			case "pid":
				*pid, found = s.int(), true
			case "pidversion":
				*version = s.int()
			case "ruid":
				*ruid = s.int()
			case "euid":
				*euid = s.int()
			case "auid":
				*auid = s.int()
			case "asid":
				*asid = s.int()
			default:
				s.skip()
			}
		})
		return found
	}
	s.skip()
	return false
}

func join(dir, name string) string {
	switch {
	case name == "":
		return dir
	case dir == "":
		return name
	case dir[len(dir)-1] == '/':
		return dir + name
	}
	return dir + "/" + name
}

// parseTime reads eslogger's timestamps: RFC 3339 in UTC with up to nine
// fractional digits ("2024-03-05T10:15:02.123456789Z"), or with an offset.
func parseTime(b []byte) (time.Time, error) {
	// The common shape, read by hand: time.Parse is a tenth of a line's cost.
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		year, ok1 := digits(b[0:4])
		month, ok2 := digits(b[5:7])
		day, ok3 := digits(b[8:10])
		hour, ok4 := digits(b[11:13])
		minute, ok5 := digits(b[14:16])
		sec, ok6 := digits(b[17:19])
		frac := b[19 : len(b)-1]
		nsec, ok7 := 0, true
		if len(frac) > 0 {
			if frac[0] != '.' || len(frac) > 10 || len(frac) == 1 {
				ok7 = false
			} else {
				n, ok := digits(frac[1:])
				for i := len(frac) - 1; i < 9; i++ {
					n *= 10
				}
				nsec, ok7 = n, ok
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && sec < 61 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, errors.New("bad time " + string(b))
	}
	return t.UTC(), nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}
