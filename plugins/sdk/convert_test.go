package sdk

import (
	"strings"
	"testing"

	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

func TestPackedRowsRoundTrip(t *testing.T) {
	t.Parallel()
	columns := []string{"path", "empty", "size"}
	// File names are bytes: invalid UTF-8 and NUL must come through as is.
	hostile := "/tmp/x\xff\xfe\x00-\n" + strings.Repeat("é", 300)
	in := Row{"path": hostile, "size": "42"}
	p, _, size, err := rowToProto(in, columns, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if size != len(hostile)+2 || len(p.GetValues()) != 0 || p.GetPacked() == nil {
		t.Fatalf("size %d, values %d, packed %d bytes", size, len(p.GetValues()), len(p.GetPacked()))
	}
	out, err := rowFromProto(p, columns)
	if err != nil {
		t.Fatal(err)
	}
	if out["path"] != hostile || out["empty"] != "" || out["size"] != "42" || len(out) != 3 {
		t.Fatalf("round trip: %q", out)
	}
	if _, _, _, err := rowToProto(Row{"nope": "1"}, columns, "t", nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("undeclared column: %v", err)
	}
}

func TestMalformedRowsAreErrors(t *testing.T) {
	t.Parallel()
	columns := []string{"a", "b"}
	for name, row := range map[string]*stagewatchv1.Row{
		"length past the end":    {Packed: []byte{1, 'x', 9, 'y'}},
		"bytes past the columns": {Packed: []byte{1, 'x', 1, 'y', 0}},
		"bad varint":             {Packed: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		"too few values":         {Values: []string{"x"}},
	} {
		if _, err := rowFromProto(row, columns); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Hosts still accept the unpacked form.
	out, err := rowFromProto(&stagewatchv1.Row{Values: []string{"x", "y"}}, columns)
	if err != nil || out["a"] != "x" || out["b"] != "y" {
		t.Fatalf("values form: %v %v", out, err)
	}
}

func FuzzRowFromProto(f *testing.F) {
	f.Add([]byte{1, 'x', 1, 'y'})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, packed []byte) {
		_, _ = rowFromProto(&stagewatchv1.Row{Packed: packed}, []string{"a", "b", "c"})
	})
}
