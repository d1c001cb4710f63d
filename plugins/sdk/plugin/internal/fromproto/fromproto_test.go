package fromproto

import (
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin/internal/toproto"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

func TestPackedRowsRoundTrip(t *testing.T) {
	t.Parallel()
	columns := []string{"path", "empty", "size"}
	// File names are bytes: invalid UTF-8 and NUL must come through as is.
	hostile := "/tmp/x\xff\xfe\x00-\n" + strings.Repeat("é", 300)
	in := []sdk.Row{{"path": hostile, "size": "42"}, {}, {"empty": "e"}}
	var packed []byte
	for _, r := range in {
		var err error
		if packed, err = toproto.AppendPackedRow(packed, r, columns, "t"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := PackedRows(packed, len(in), columns)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0]["path"] != hostile || out[0]["empty"] != "" || out[0]["size"] != "42" || len(out[0]) != 3 ||
		len(out[1]) != 3 || out[1]["path"] != "" || out[2]["empty"] != "e" {
		t.Fatalf("round trip: %q", out)
	}
	// One row packed alone is the per-row form of earlier plugins.
	one, _ := toproto.AppendPackedRow(nil, in[0], columns, "t")
	if r, err := Row(&stagewatchv1.Row{Packed: one}, columns); err != nil || r["path"] != hostile {
		t.Fatalf("per-row packed: %q %v", r, err)
	}
	if _, err := toproto.AppendPackedRow(nil, sdk.Row{"nope": "1"}, columns, "t"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("undeclared column: %v", err)
	}
}

func TestMalformedBatchesAreErrors(t *testing.T) {
	t.Parallel()
	columns := []string{"a", "b"}
	for name, c := range map[string]struct {
		packed []byte
		count  int
	}{
		"length past the end":   {[]byte{1, 'x', 9, 'y'}, 1},
		"bytes past the rows":   {[]byte{1, 'x', 1, 'y', 0}, 1},
		"fewer rows than count": {[]byte{1, 'x', 1, 'y'}, 2},
		"count past any size":   {[]byte{0, 0}, 1 << 30},
		"negative count":        {nil, -1},
		"bad varint":            {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1},
	} {
		if _, err := PackedRows(c.packed, c.count, columns); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := PackedRows([]byte{0}, 1, nil); err == nil {
		t.Error("rows of no columns accepted")
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
		if _, err := Row(row, columns); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Hosts still accept the unpacked form.
	out, err := Row(&stagewatchv1.Row{Values: []string{"x", "y"}}, columns)
	if err != nil || out["a"] != "x" || out["b"] != "y" {
		t.Fatalf("values form: %v %v", out, err)
	}
}

func FuzzRowFromProto(f *testing.F) {
	f.Add([]byte{1, 'x', 1, 'y'}, uint16(1))
	f.Add([]byte{0x80}, uint16(3))
	f.Fuzz(func(t *testing.T, packed []byte, count uint16) {
		_, _ = Row(&stagewatchv1.Row{Packed: packed}, []string{"a", "b", "c"})
		_, _ = PackedRows(packed, int(count), []string{"a", "b", "c"})
	})
}
