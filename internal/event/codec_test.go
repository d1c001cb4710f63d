package event

import (
	"encoding/hex"
	"reflect"
	"testing"
	"time"
)

// fill sets every field reachable in v to a value that is not its zero,
// different per field: strings that are not UTF-8, slices of two.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(0, int64(1_795_751_712_389_000_000+*n))))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	case reflect.String:
		v.SetString(string([]byte{'/', 't', 'm', 'p', '/', 0xff, 0x00, '\n', byte('a' + *n%26)}))
	case reflect.Int, reflect.Int64:
		v.SetInt(-int64(*n) * 1_000_003)
	case reflect.Uint8:
		v.SetUint(uint64(*n % 200))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	default:
		t.Fatalf("the codec test does not know how to fill a %s (%s): teach it, and the codec", v.Kind(), v.Type())
	}
}

// TestCodecCoversEveryField: an Event and a Detection with every field
// set come back equal, byte for byte. A field added to the types and not
// to the codec fails here.
func TestCodecCoversEveryField(t *testing.T) {
	var n int
	var ev Event
	fill(t, reflect.ValueOf(&ev).Elem(), &n)
	var back Event
	if err := back.UnmarshalBinary(ev.AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Errorf("event round trip:\n got %#v\nwant %#v", back, ev)
	}
	shared := Strings{}
	for range 2 {
		var sb Event
		if err := sb.UnmarshalShared(ev.AppendBinary(nil), shared); err != nil || !reflect.DeepEqual(sb, ev) {
			t.Errorf("event read with shared strings:\n got %#v\nwant %#v (%v)", sb, ev, err)
		}
	}
	if len(shared) == 0 {
		t.Error("no string was shared")
	}

	var det Detection
	fill(t, reflect.ValueOf(&det).Elem(), &n)
	var dback Detection
	if err := dback.UnmarshalBinary(det.AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dback, det) {
		t.Errorf("detection round trip:\n got %#v\nwant %#v", dback, det)
	}

	// Zero values (nil slices, zero times) come back as they were.
	var zero Event
	if err := back.UnmarshalBinary(zero.AppendBinary(nil)); err != nil || !reflect.DeepEqual(back, zero) {
		t.Errorf("zero event: %#v, %v", back, err)
	}
	empty := Event{Process: Process{Argv: []string{}}}
	if err := back.UnmarshalBinary(empty.AppendBinary(nil)); err != nil || back.Process.Argv == nil || len(back.Process.Argv) != 0 {
		t.Errorf("empty argv came back as %#v, %v", back.Process.Argv, err)
	}
}

// eventV1 is an event's binary form as the build before Secret wrote it
// (layout 1), kept in states written by that build.
const eventV1 = "010180adf79be1aae5eb3103d00fd00fd00f08636c6f756473646b0135047074733001009e99019a99010b2f7573722f62696e2f637005026370022d720c2f686f6d652f752f2e7373680b2f6465762f73686d2f782f00072f686f6d652f750d2f7573722f62696e2f62617368030d2f7573722f62696e2f626173680e2f7573722f7362696e2f737368641a2f6465762f73686d2f782f2e7373682f69645f6564323535313900b60601680866616e6f746966790004677a6970"

// TestCodecReadsLayout1: a state written before Secret existed reads back
// whole, with Secret empty.
func TestCodecReadsLayout1(t *testing.T) {
	data, err := hex.DecodeString(eventV1)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Time: time.Unix(1_795_751_712, 389_000_000), Kind: KindFileWrite,
		Actor:   Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "cloudsdk", Session: "5", TTY: "pts0", Interactive: true},
		Process: Process{PID: 9807, PPID: 9805, Exe: "/usr/bin/cp", Argv: []string{"cp", "-r", "/home/u/.ssh", "/dev/shm/x/"}, Cwd: "/home/u", Parent: "/usr/bin/bash", Ancestors: []string{"/usr/bin/bash", "/usr/sbin/sshd"}},
		Path:    "/dev/shm/x/.ssh/id_ed25519", Size: 411, Host: "h", Source: "fanotify", ArchiveFormat: "gzip"}
	for _, shared := range []Strings{nil, {}} {
		var back Event
		if err := back.UnmarshalShared(data, shared); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("layout 1:\n got %#v\nwant %#v", back, want)
		}
	}
	// Written again, it takes the current layout and keeps every field.
	var back, again Event
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if err := again.UnmarshalBinary(back.AppendBinary(nil)); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("layout 1 rewritten: %#v, %v", again, err)
	}
	if err := new(Event).UnmarshalBinary(append([]byte{0}, data[1:]...)); err == nil {
		t.Error("version 0: no error")
	}
}

// TestCodecDamage: every truncation and a wrong version fail with an
// error, never a panic or a partial value taken as whole.
func TestCodecDamage(t *testing.T) {
	var n int
	var ev Event
	fill(t, reflect.ValueOf(&ev).Elem(), &n)
	data := ev.AppendBinary(nil)
	for i := range data {
		var back Event
		if err := back.UnmarshalBinary(data[:i]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", i, len(data))
		}
	}
	if err := new(Event).UnmarshalBinary(append(data, 0)); err == nil {
		t.Error("a trailing byte: no error")
	}
	bad := append([]byte{99}, data[1:]...)
	if err := new(Event).UnmarshalBinary(bad); err == nil {
		t.Error("version 99: no error")
	}
	var det Detection
	fill(t, reflect.ValueOf(&det).Elem(), &n)
	ddata := det.AppendBinary(nil)
	for i := range ddata {
		if err := new(Detection).UnmarshalBinary(ddata[:i]); err == nil {
			t.Fatalf("detection truncated to %d of %d bytes: no error", i, len(ddata))
		}
	}
}

func FuzzEventCodec(f *testing.F) {
	ev := Event{Time: time.Unix(1_795_751_712, 0), Kind: KindFileCreate, Path: "/tmp/a", Process: Process{Argv: []string{"cp", "a"}}}
	f.Add(ev.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var back Event
		if back.UnmarshalBinary(data) != nil {
			return
		}
		var again Event
		if err := again.UnmarshalBinary(back.AppendBinary(nil)); err != nil || !reflect.DeepEqual(again, back) {
			t.Fatalf("re-encoding what decoded: %v", err)
		}
	})
}

func benchEvent() *Event {
	return &Event{Time: time.Now(), Kind: KindFileCreate,
		Actor:   Actor{UID: 1000, EUID: 1000, AUID: 1000, User: "cloudsdk", Session: "5", TTY: "pts0", Interactive: true},
		Process: Process{PID: 9807, PPID: 9805, Exe: "/usr/bin/cp", Argv: []string{"cp", "/home/u/report.docx", "/tmp/sw-stage-q3/"}, Cwd: "/home/u", Parent: "/usr/bin/bash", Ancestors: []string{"/usr/bin/bash", "/usr/bin/script", "/usr/sbin/sshd"}},
		Path:    "/tmp/sw-stage-q3/report.docx", Size: Unknown, Host: "h", Source: "fanotify"}
}

func BenchmarkEventCodec(b *testing.B) {
	ev := benchEvent()
	var buf []byte
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			buf = ev.AppendBinary(buf[:0])
		}
		b.SetBytes(int64(len(buf)))
	})
	data := ev.AppendBinary(nil)
	b.Run("decode", func(b *testing.B) {
		var back Event
		for b.Loop() {
			if err := back.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(data)))
	})
}

// eventV2 is an event's binary form as the build before process GUIDs and
// RemoteAddr wrote it (layout 2), kept in states written by that build.
const eventV2 = "020180adf79be1aae5eb31010101010a434f52505c616c6963650730783365376131000101033831329869b0401d433a5c50726f6772616d2046696c65735c372d5a69705c377a2e6578650506377a2e657865016114433a5c55736572735c5075626c69635c712e377a09406c6973742e74787427377a2e657865206120433a5c55736572735c5075626c69635c712e377a20406c6973742e7478740f433a5c55736572735c616c6963655c1b433a5c57696e646f77735c53797374656d33325c636d642e657865000209433a5c612e646f63780000010457533031067379736d6f6e0001000b70726976617465206b6579"

// TestCodecReadsLayout2: a state written before process GUIDs and
// RemoteAddr existed reads back whole, with those empty.
func TestCodecReadsLayout2(t *testing.T) {
	data, err := hex.DecodeString(eventV2)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Time: time.Unix(1_795_751_712, 389_000_000), Kind: KindExec,
		Actor:   Actor{UID: Unknown, EUID: Unknown, AUID: Unknown, User: `CORP\alice`, Session: "0x3e7a1", Interactive: true, Elevated: true, Scope: "812"},
		Process: Process{PID: 6732, PPID: 4120, Exe: `C:\Program Files\7-Zip\7z.exe`, Argv: []string{"7z.exe", "a", `C:\Users\Public\q.7z`, "@list.txt"}, CommandLine: `7z.exe a C:\Users\Public\q.7z @list.txt`, Cwd: `C:\Users\alice\`, Parent: `C:\Windows\System32\cmd.exe`, Listed: []string{`C:\a.docx`}},
		Size:    Unknown, Host: "WS01", Source: "sysmon", Dir: true, Secret: "private key"}
	for _, shared := range []Strings{nil, {}} {
		var back Event
		if err := back.UnmarshalShared(data, shared); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("layout 2:\n got %#v\nwant %#v", back, want)
		}
	}
	var back, again Event
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if err := again.UnmarshalBinary(back.AppendBinary(nil)); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("layout 2 rewritten: %#v, %v", again, err)
	}
}

// detectionV1 is a detection's binary form as the build before Techniques
// wrote it (layout 1), kept in states written by that build.
const detectionV1 = "01018080faa8deaae5eb31074445543030313406414e303034310954313037342e303031056c696e7578016810616c69636520287569642031303030291974617220637a66202f746d702f782e74677a202f746d702f78062f746d702f780a2f746d702f782e74677a0680400180a0eef484aae5eb31018080faa8deaae5eb31066d656469756d6e017201018080faa8deaae5eb3104657865630a2f746d702f782e74677a00540c2f7573722f62696e2f746172000012617263686976652073746570202874617229027531"

// TestCodecReadsDetectionLayout1: a detection kept before Techniques
// existed reads back whole, with Techniques empty, and is written again in
// the current layout.
func TestCodecReadsDetectionLayout1(t *testing.T) {
	data, err := hex.DecodeString(detectionV1)
	if err != nil {
		t.Fatal(err)
	}
	want := Detection{Time: time.Unix(1_795_751_712, 0), DetectionID: "DET0014", AnalyticID: "AN0041", TechniqueID: "T1074.001",
		Platform: "linux", Host: "h", Actor: "alice (uid 1000)", Process: "tar czf /tmp/x.tgz /tmp/x", StagingPath: "/tmp/x",
		ArchivePath: "/tmp/x.tgz", FileCount: 3, Bytes: 4096, FirstSeen: time.Unix(1_795_751_700, 0), LastSeen: time.Unix(1_795_751_712, 0),
		Severity: "medium", Score: 55, Reason: "r",
		Evidence: []Evidence{{Time: time.Unix(1_795_751_712, 0), Kind: "exec", Path: "/tmp/x.tgz", PID: 42, Process: "/usr/bin/tar", Note: "archive step (tar)"}},
		UID:      "u1"}
	var back Detection
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("layout 1:\n got %#v\nwant %#v", back, want)
	}
	back.Techniques = []string{"T1074.001", "T1560.001"}
	var again Detection
	if err := again.UnmarshalBinary(back.AppendBinary(nil)); err != nil || !reflect.DeepEqual(again, back) {
		t.Errorf("layout 1 rewritten with techniques: %#v, %v", again, err)
	}
	if err := new(Detection).UnmarshalBinary(append([]byte{0}, data[1:]...)); err == nil {
		t.Error("version 0: no error")
	}
}
