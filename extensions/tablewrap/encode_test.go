package tablewrap

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// rowsSource serves fixed rows for staging_detections.
type rowsSource []sdk.Row

func (rowsSource) Tables() []sdk.TableSpec { return []sdk.TableSpec{schema.DetectionsTable} }

func (s rowsSource) Generate(_ context.Context, _ string, _ []sdk.Constraint, emit func([]sdk.Row) error) error {
	for i := 0; i < len(s); i += 2 {
		if err := emit(s[i:min(i+2, len(s))]); err != nil {
			return err
		}
	}
	return nil
}

// readReply decodes what WriteCallReply wrote with osquery-go's generated
// reader, as a Thrift client of Extension.call does.
func readReply(t *testing.T, buf *thrift.TMemoryBuffer) *osquery.ExtensionResponse {
	t.Helper()
	ctx := context.Background()
	proto := thrift.NewTBinaryProtocolConf(buf, nil)
	name, kind, seq, err := proto.ReadMessageBegin(ctx)
	if err != nil || name != "call" || kind != thrift.REPLY || seq != 7 {
		t.Fatalf("message %q type %d seq %d: %v", name, kind, seq, err)
	}
	var result osquery.ExtensionCallResult
	if err := result.Read(ctx, proto); err != nil {
		t.Fatal(err)
	}
	if err := proto.ReadMessageEnd(ctx); err != nil || buf.Len() != 0 {
		t.Fatalf("%d bytes left after the reply: %v", buf.Len(), err)
	}
	if result.Success == nil {
		t.Fatal("no success field")
	}
	return result.Success
}

// The encoded answer decodes to exactly the rows the source gave, as the
// map-building path would send them: hostile bytes intact, absent columns
// absent, keys outside the schema kept.
func TestEncodedAnswerDecodes(t *testing.T) {
	t.Parallel()
	hostile := "/tmp/x\xff\xfe\x00-\n" + strings.Repeat("é", 3000)
	rows := rowsSource{
		{"uid": "a", "staging_path": hostile, "time": "1"},
		{},
		{"uid": "c", "not_a_column": "kept"},
	}
	for i := range 3000 { // past several chunks
		rows = append(rows, sdk.Row{"uid": strings.Repeat("u", i%700), "time": "2", "evidence": strings.Repeat("[]", i)})
	}
	tbl := New(rows, Options{}).Plugin(schema.DetectionsTable)
	enc := tbl.GenerateEncoded(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": `{"constraints":[]}`})
	if enc.Status.Code != 0 || enc.Count != len(rows) || len(enc.Rows) < 2 {
		t.Fatalf("status %+v, %d rows in %d pieces", enc.Status, enc.Count, len(enc.Rows))
	}
	buf := thrift.NewTMemoryBuffer()
	if err := WriteCallReply(context.Background(), thrift.NewTBinaryProtocolConf(buf, nil), 7, enc); err != nil {
		t.Fatal(err)
	}
	resp := readReply(t, buf)
	if resp.Status == nil || resp.Status.Code != 0 || resp.Status.Message != "OK" || len(resp.Response) != len(rows) {
		t.Fatalf("status %+v, %d rows", resp.Status, len(resp.Response))
	}
	for i, want := range rows {
		if !maps.Equal(resp.Response[i], map[string]string(want)) {
			t.Fatalf("row %d: %q, want %q", i, resp.Response[i], want)
		}
	}
}

// An error answer carries the status and no rows; an empty one, none.
func TestEncodedErrorsAndEmpty(t *testing.T) {
	t.Parallel()
	tbl := New(rowsSource{{"uid": "a"}}, Options{MaxRows: 0}).Plugin(schema.DetectionsTable)
	for name, c := range map[string]struct {
		tbl     *Table
		context string
		code    int32
		rows    int
	}{
		"bad context": {tbl, `{"constraints":`, 1, 0},
		"one row":     {tbl, `{"constraints":[]}`, 0, 1},
		"empty":       {New(rowsSource{}, Options{}).Plugin(schema.DetectionsTable), `{"constraints":[]}`, 0, 0},
		"panic":       {New(panicSource{}, Options{}).Plugin(schema.DetectionsTable), `{"constraints":[]}`, 1, 0},
		"too many":    {New(rowsSource{{}, {}, {}}, Options{MaxRows: 2}).Plugin(schema.DetectionsTable), `{"constraints":[]}`, 1, 0},
	} {
		enc := c.tbl.GenerateEncoded(context.Background(), osquery.ExtensionPluginRequest{"action": "generate", "context": c.context})
		buf := thrift.NewTMemoryBuffer()
		if err := WriteCallReply(context.Background(), thrift.NewTBinaryProtocolConf(buf, nil), 7, enc); err != nil {
			t.Fatal(err)
		}
		resp := readReply(t, buf)
		if resp.Status.Code != c.code || len(resp.Response) != c.rows || (c.code != 0 && resp.Status.Message == "") {
			t.Errorf("%s: status %+v, %d rows", name, resp.Status, len(resp.Response))
		}
	}
}

func BenchmarkEncodeRows(b *testing.B) {
	rows := make([]sdk.Row, 10000)
	for i := range rows {
		r := sdk.Row{}
		for _, c := range schema.DetectionsTable.Columns {
			r[c.Name] = strings.Repeat("v", 40)
		}
		rows[i] = r
	}
	keys := make([]string, len(schema.DetectionsTable.Columns))
	for i, c := range schema.DetectionsTable.Columns {
		keys[i] = c.Name
	}
	cols := encodeColumns(keys)
	b.ReportAllocs()
	for b.Loop() {
		enc := &rowEncoder{columns: cols}
		for _, r := range rows {
			enc.add(r)
		}
	}
}
