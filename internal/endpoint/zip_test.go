package endpoint

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
)

// TestDecodeZip: every member is decoded, a gzip-compressed one
// decompressed, each with its own head; directories are passed over.
func TestDecodeZip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a.jsonl")
	io.WriteString(w, "one\ntwo\n")
	zw.Create("dir/")
	w, _ = zw.Create("dir/b.xml.gz")
	gz := gzip.NewWriter(w)
	io.WriteString(gz, "<Event>three</Event>\n")
	gz.Close()
	zw.Close()
	if !isZip(buf.Bytes()) {
		t.Fatal("not seen as a zip")
	}
	var heads []string
	ds, err := decodeZip(context.Background(), &buf, func(member io.Reader, head []byte) (DecodeStats, error) {
		heads = append(heads, string(head))
		data, err := io.ReadAll(member)
		return DecodeStats{Records: uint64(strings.Count(string(data), "\n"))}, err
	})
	if err != nil || ds.Records != 3 || len(heads) != 2 || heads[1] != "<Event>three</Event>\n" {
		t.Errorf("decodeZip: %+v, %v, heads %q", ds, err, heads)
	}
	if _, err := decodeZip(context.Background(), strings.NewReader("PK\x03\x04garbage"), nil); err == nil {
		t.Error("a damaged zip: no error")
	}
}
