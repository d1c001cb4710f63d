// Package rowjson writes table rows as JSON the way stagewatch's command
// line prints them (replay's JSON lines, query's arrays): keys in column
// order, values of number columns as numbers, <, > and & left unescaped.
// Replay output and the golden detection files share it, so a change to
// either shows in the other.
package rowjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"strconv"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// WriteObject writes one JSON object with keys in the given order.
func WriteObject(w *bufio.Writer, keys []string, value func(string) any) {
	w.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			w.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		w.Write(key)
		w.WriteByte(':')
		v, err := marshalNoEscape(value(k))
		if err != nil {
			v = []byte("null")
		}
		w.Write(v)
	}
	w.WriteByte('}')
}

// WriteLines writes one object per row and line, keys and value types as
// spec declares them.
func WriteLines(w io.Writer, spec sdk.TableSpec, rows []sdk.Row) error {
	bw := bufio.NewWriter(w)
	keys := spec.ColumnNames()
	types := make(map[string]sdk.ColumnType, len(spec.Columns))
	for _, c := range spec.Columns {
		types[c.Name] = c.Type
	}
	for _, row := range rows {
		WriteObject(bw, keys, func(k string) any { return TypedValue(types[k], row[k]) })
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// TypedValue converts a cell to the JSON type of its column: numbers for
// INTEGER, BIGINT and DOUBLE columns. A numeric cell that does not parse
// stays a string rather than being lost.
func TypedValue(t sdk.ColumnType, s string) any {
	switch t {
	case sdk.ColumnInteger, sdk.ColumnBigInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
		if s == "" {
			return nil
		}
	case sdk.ColumnDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		if s == "" {
			return nil
		}
	}
	return s
}

// SortDetections orders detection rows by time, then uid, so output is the
// same whatever order an analytic keeps them in.
func SortDetections(rows []sdk.Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		ti, _ := strconv.ParseInt(rows[i]["time"], 10, 64)
		tj, _ := strconv.ParseInt(rows[j]["time"], 10, 64)
		if ti != tj {
			return ti < tj
		}
		return rows[i]["uid"] < rows[j]["uid"]
	})
}

// marshalNoEscape encodes like json.Marshal but leaves <, > and & alone:
// shell pipelines and paths read better unescaped.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
