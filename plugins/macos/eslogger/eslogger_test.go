package eslogger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

func decodeAll(t *testing.T, lines ...string) ([]*event.Event, Stats) {
	t.Helper()
	var out []*event.Event
	n := New(func(ev *event.Event) { out = append(out, ev) })
	for _, l := range lines {
		_ = n.Line([]byte(l))
	}
	return out, n.Stats()
}

const createObj = `{"schema_version":1,"version":7,"time":"2026-03-02T09:00:01.250000000Z","global_seq_num":10,` +
	`"process":{"audit_token":{"pid":700,"pidversion":9001,"ruid":501,"euid":501,"auid":501,"asid":100004,"rgid":20,"egid":20},` +
	`"ppid":1,"executable":{"path":"/bin/cp"},"signing_id":"com.apple.cp","team_id":null,"is_platform_binary":true,` +
	`"tty":{"path":"/dev/ttys003"},"responsible_audit_token":{"pid":650,"pidversion":8000},"parent_audit_token":{"pid":1,"pidversion":1}},` +
	`"event":{"create":{"destination_type":1,"destination":{"new_path":{"dir":{"path":"/private/tmp/x"},"filename":"a.docx","mode":420}}}}}`

// The same message with members in another order, the audit tokens as
// eight words, every / escaped, unknown members and another schema.
const createArray = `{"event":{"create":{"destination":{"new_path":{"filename":"a.docx","dir":{"stat":{"st_size":0,"st_mode":16877},` +
	`"path":"\/private\/tmp\/x","path_truncated":false}}},"destination_type":1,"acl":null}},"future_member":{"x":[1,2,{"y":null}]},` +
	`"process":{"tty":{"path":"\/dev\/ttys003"},"is_platform_binary":true,"team_id":null,"signing_id":"com.apple.cp",` +
	`"executable":{"path":"\/bin\/cp","path_truncated":false},"ppid":1,"audit_token":[501,501,20,501,20,700,100004,9001],` +
	`"responsible_audit_token":[501,501,20,501,20,650,100004,8000],"parent_audit_token":[501,501,20,501,20,1,100004,1]},` +
	`"global_seq_num":10,"time":"2026-03-02T09:00:01.25Z","version":4,"schema_version":2,"event_type":13}`

func TestShapesAgree(t *testing.T) {
	t.Parallel()
	evs, st := decodeAll(t, createObj, createArray)
	if len(evs) != 2 || st.ParseErrors != 0 {
		t.Fatalf("%d events, %+v", len(evs), st)
	}
	for _, ev := range evs {
		p := ev.Process
		if ev.Kind != event.KindFileCreate || ev.Path != "/private/tmp/x/a.docx" || p.PID != 700 || p.PIDVersion != 9001 ||
			p.GUID != "700:9001" || p.ParentGUID != "1:1" || p.Exe != "/bin/cp" || p.SigningID != "com.apple.cp" || !p.PlatformBinary ||
			p.ResponsiblePID != 650 || ev.Actor.UID != 501 || ev.Actor.AUID != 501 || ev.Actor.Session != "100004" ||
			ev.Actor.TTY != "ttys003" || !ev.Actor.Interactive || ev.Actor.Elevated || !ev.Time.Equal(time.Date(2026, 3, 2, 9, 0, 1, 250e6, time.UTC)) {
			t.Errorf("event %+v", ev)
		}
	}
	if st.Restarts != 1 {
		// The second line repeats global_seq_num 10: a new eslogger.
		t.Errorf("restarts %d", st.Restarts)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	proc := `"process":{"audit_token":{"pid":42,"pidversion":7,"ruid":0,"euid":0,"auid":501,"asid":100011},"ppid":41,"executable":{"path":"/usr/bin/sudo"}}`
	line := func(seq int, ev string) string {
		return fmt.Sprintf(`{"time":"2026-03-02T09:00:%02dZ","global_seq_num":%d,%s,"event":%s}`, seq, seq, proc, ev)
	}
	env := make([]string, 2000)
	for i := range env {
		env[i] = fmt.Sprintf(`"VAR%d=%s"`, i, strings.Repeat("v", 200))
	}
	longArg := strings.Repeat("a", 100000)
	lines := []string{
		line(1, `{"exec":{"target":{"audit_token":{"pid":42,"pidversion":8,"ruid":501,"euid":0,"auid":501,"asid":100011},"ppid":41,`+
			`"executable":{"path":"/usr/bin/tar"}},"args":["tar","-czf","/tmp/x.tgz","`+longArg+`"],"env":[`+strings.Join(env, ",")+`],`+
			`"cwd":{"path":"/Users/carol"},"script":null,"fds":[{"fd":0,"fdtype":1}]}}`),
		line(2, `{"fork":{"child":{"audit_token":{"pid":43,"pidversion":9}}}}`),
		line(3, `{"close":{"modified":true,"target":{"path":"/tmp/x.tgz","stat":{"st_size":1234,"st_mode":33188}}}}`),
		line(4, `{"close":{"modified":false,"target":{"path":"/tmp/y"}}}`),
		line(5, `{"rename":{"source":{"path":"/tmp/.x.tmp","stat":{"st_size":55}},"destination_type":0,"destination":{"existing_file":{"path":"/tmp/x"}}}}`),
		line(6, `{"clone":{"source":{"path":"/Users/carol/a.pdf","stat":{"st_size":99}},"target_dir":{"path":"/tmp/s"},"target_name":"a.pdf"}}`),
		line(7, `{"copyfile":{"source":{"path":"/Users/carol/b.pdf"},"target_file":{"path":"/tmp/s/b.pdf"},"target_dir":null,"target_name":null}}`),
		line(8, `{"unlink":{"target":{"path":"/tmp/s/a.pdf"},"parent_dir":{"path":"/tmp/s"}}}`),
		line(9, `{"open":{"fflag":3,"file":{"path":"/tmp/s/c.txt"}}}`),
		line(10, `{"open":{"fflag":1,"file":{"path":"/tmp/s/d.txt"}}}`),
		line(14, `{"exit":{"stat":0}}`),
		line(15, `{"mmap":{"protection":1}}`),
	}
	evs, st := decodeAll(t, lines...)
	if st.ParseErrors != 0 || st.SeqGaps != 3 {
		t.Errorf("stats %+v", st)
	}
	got := make([]string, len(evs))
	for i, ev := range evs {
		got[i] = fmt.Sprintf("%s %s<%s %d", ev.Kind, ev.Path, ev.SourcePath, ev.Size)
	}
	want := []string{"exec < -1", "write /tmp/x.tgz< 1234", "move_in /tmp/x</tmp/.x.tmp 55", "copy /tmp/s/a.pdf</Users/carol/a.pdf 99",
		"copy /tmp/s/b.pdf</Users/carol/b.pdf -1", "delete /tmp/s/a.pdf< -1", "write /tmp/s/c.txt< -1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	ex := evs[0]
	if len(ex.Process.Argv) != 4 || ex.Process.Argv[3] != longArg || ex.Process.Cwd != "/Users/carol" || ex.Process.GUID != "42:8" ||
		!ex.Actor.Elevated || ex.Actor.EUID != 0 {
		t.Errorf("exec %+v", ex.Process)
	}
	if evs[1].Actor.Elevated != true || evs[1].Process.Exe != "/usr/bin/sudo" {
		t.Errorf("write by sudo %+v", evs[1])
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	bad := []string{"", "{", "[]", `{"time":"2026-03-02T09:00:01Z"}`, `{"event":{"exec":{}}}`, `{"time":"x","event":{"exec":{}}}`,
		`{"time":"2026-03-02T09:00:01Z","event":{"create":{}}} x`, `{"time":"2026-03-02T09:00:01Z","event":{"create":{"a":"\q"}}}`,
		`{"time":"2026-03-02T09:00:01Z","event":{"create":{"destination":{"existing_file":{"path":"` + "\x01" + `"}}}}}`, strings.Repeat("[", 100) + strings.Repeat("]", 100),
		`{"time":"2026-03-02T09:00:01Z","event":{"create":` + strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100) + `}}`}
	_, st := decodeAll(t, bad...)
	if st.ParseErrors != uint64(len(bad)) {
		t.Errorf("%d parse errors of %d: first %q", st.ParseErrors, len(bad), st.FirstError)
	}
}

func TestUnicodeEscapes(t *testing.T) {
	t.Parallel()
	line := `{"time":"2026-03-02T09:00:01Z","process":{"audit_token":{"pid":1,"pidversion":2}},"event":{"create":{"destination":` +
		`{"existing_file":{"path":"\/tmp\/x\/r\u00e9sum\u00e9 \ud83d\udcc4.docx"}}}}}`
	evs, st := decodeAll(t, line)
	if len(evs) != 1 || evs[0].Path != "/tmp/x/résumé 📄.docx" {
		t.Errorf("%+v %+v", evs, st)
	}
}

// reference is what encoding/json reads of the same members: the oracle
// for the fuzz test and the baseline of the decoder benchmark.
type reference struct {
	Time    string `json:"time"`
	Process refProc
	Event   map[string]json.RawMessage `json:"event"`
}

type refProc struct {
	AuditToken json.RawMessage `json:"audit_token"`
	PPID       int64           `json:"ppid"`
	Executable struct {
		Path string `json:"path"`
	} `json:"executable"`
	SigningID string `json:"signing_id"`
}

type refExec struct {
	Target refProc  `json:"target"`
	Args   []string `json:"args"`
	Cwd    struct {
		Path string `json:"path"`
	} `json:"cwd"`
}

func fixtureLines(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, name := range []string{"staging.jsonl", "scripted.jsonl", "benign.jsonl"} {
		f, err := os.Open("../testdata/eslogger/" + name)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
		f.Close()
	}
	return out
}

// FuzzDecode checks that no input panics or hangs the scanner, and that
// on the JSON encoding/json accepts it reads what encoding/json reads.
func FuzzDecode(f *testing.F) {
	for _, l := range fixtureLines(f)[:40] {
		f.Add(l)
	}
	f.Add([]byte(createArray))
	f.Add([]byte(`{"time":"2026-03-02T09:00:01Z","event":{"exec":{"args":["\ud800",1,null]}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var d Decoder
		m, err := d.Decode(line)
		var ref struct {
			Time    string          `json:"time"`
			Process json.RawMessage `json:"process"`
		}
		if json.Unmarshal(line, &ref) != nil || !json.Valid(line) {
			return
		}
		if err != nil {
			if bytes.Contains(line, []byte(`"event"`)) && bytes.Contains(line, []byte(`"time"`)) && !strings.Contains(err.Error(), "time") &&
				!strings.Contains(err.Error(), "event") && !strings.Contains(err.Error(), "deeply") {
				t.Errorf("valid JSON refused: %v", err)
			}
			return
		}
		var p refProc
		if json.Unmarshal(ref.Process, &p) == nil && p.Executable.Path != m.Process.Exe && !bytes.Contains(line, []byte(`"executable"`+`:"`)) {
			// Duplicate keys: encoding/json keeps the last, so does the scanner.
			if bytes.Count(line, []byte(`"executable"`)) == 1 && bytes.Count(line, []byte(`"process"`)) == 1 && bytes.Count(line, []byte(`"path"`)) == 1 {
				t.Errorf("executable %q, encoding/json read %q", m.Process.Exe, p.Executable.Path)
			}
		}
	})
}
