package winlog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func seedFile(f *testing.F, name string) []byte {
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzJSON: any line parses or fails with an error, never a panic, and a
// record read has only fields with names.
func FuzzJSON(f *testing.F) {
	for _, name := range []string{"winlogbeat.jsonl", "flat-export.jsonl", "evtxecmd.json"} {
		for _, line := range bytes.Split(seedFile(f, name), []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var p JSONParser
		var r Record
		if p.Parse(line, &r) != nil {
			return
		}
		for _, d := range r.Data {
			if d.Name == "" {
				t.Fatalf("a field with no name: %+v", r.Data)
			}
		}
	})
}

// FuzzXML: any input is read, a damaged event costing only itself.
func FuzzXML(f *testing.F) {
	f.Add(seedFile(f, "wevtutil.xml"))
	f.Add(seedFile(f, "events-per-line.xml")[:900])
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadXML(context.Background(), bytes.NewReader(data), func(*Record) {})
		if err != nil || st.Errors > st.Records {
			t.Fatalf("%+v, %v", st, err)
		}
	})
}

// FuzzEVTX: a damaged chunk of a real file is read without a panic.
func FuzzEVTX(f *testing.F) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "corpus", "windows", "evtx-attack-samples")
	data, err := os.ReadFile(filepath.Join(dir, "sysmon_zipexec.evtx"))
	if err != nil {
		f.Skip("no corpus")
	}
	f.Add(uint16(0), []byte{0})
	f.Add(uint16(700), []byte{0xff, 0x0c})
	f.Fuzz(func(t *testing.T, at uint16, patch []byte) {
		b := append([]byte(nil), data[:4096+65536]...)
		copy(b[4096+int(at)%65536:], patch)
		var r EVTXReader
		if _, err := r.Read(context.Background(), bytes.NewReader(b), func(*Record) {}); err != nil {
			t.Fatal(err)
		}
	})
}
