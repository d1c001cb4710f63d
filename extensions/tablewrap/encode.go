package tablewrap

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
	osquerygen "github.com/osquery/osquery-go/gen/osquery"
)

// Encoded is a generate call's answer with its rows already in Thrift's
// binary encoding: Rows holds Count elements of osquery's row list (each a
// map<string,string>), ready to follow the list's header. Encoding each
// batch as it arrives from the plugin, instead of keeping every row as a
// map until osquery-go writes them, halves the extension's time and memory
// for large answers.
type Encoded struct {
	Status osquerygen.ExtensionStatus
	Count  int
	Rows   [][]byte // consecutive pieces of the encoding
}

// GenerateEncoded answers a generate request like Call, through the same
// bounds (timeout, concurrency, panic guard, row cap) and osquery-go's own
// parsing of the query context, with the rows encoded.
func (t *Table) GenerateEncoded(ctx context.Context, req osquerygen.ExtensionPluginRequest) Encoded {
	enc := &rowEncoder{columns: t.columnKeys}
	resp := t.Call(context.WithValue(ctx, encoderKey{}, enc), req)
	if resp.Status == nil {
		return Encoded{Status: osquerygen.ExtensionStatus{Code: 1, Message: "stagewatch table " + t.Name() + ": no status"}}
	}
	if resp.Status.Code != 0 {
		// The call may still be running (abandoned after its timeout) and
		// writing into enc: its rows are never read.
		return Encoded{Status: *resp.Status}
	}
	return Encoded{Status: *resp.Status, Count: enc.count, Rows: enc.pieces()}
}

// WriteCallReply writes a reply to osquery's Extension.call carrying e: the
// message header, then ExtensionCallResult{success: ExtensionResponse{status,
// response}}, field for field what osquery-go's generated code writes.
func WriteCallReply(ctx context.Context, oprot thrift.TProtocol, seqID int32, e Encoded) error {
	steps := []func() error{
		func() error { return oprot.WriteMessageBegin(ctx, "call", thrift.REPLY, seqID) },
		func() error { return oprot.WriteStructBegin(ctx, "call_result") },
		func() error { return oprot.WriteFieldBegin(ctx, "success", thrift.STRUCT, 0) },
		func() error { return oprot.WriteStructBegin(ctx, "ExtensionResponse") },
		func() error { return oprot.WriteFieldBegin(ctx, "status", thrift.STRUCT, 1) },
		func() error { return e.Status.Write(ctx, oprot) },
		func() error { return oprot.WriteFieldEnd(ctx) },
		func() error { return oprot.WriteFieldBegin(ctx, "response", thrift.LIST, 2) },
		func() error { return oprot.WriteListBegin(ctx, thrift.MAP, e.Count) },
		func() error {
			for _, piece := range e.Rows {
				if _, err := oprot.Transport().Write(piece); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return oprot.WriteListEnd(ctx) },
		func() error { return oprot.WriteFieldEnd(ctx) },
		func() error { return oprot.WriteFieldStop(ctx) },
		func() error { return oprot.WriteStructEnd(ctx) },
		func() error { return oprot.WriteFieldEnd(ctx) },
		func() error { return oprot.WriteFieldStop(ctx) },
		func() error { return oprot.WriteStructEnd(ctx) },
		func() error { return oprot.WriteMessageEnd(ctx) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("writing call reply: %w", err)
		}
	}
	return oprot.Flush(ctx)
}

type encoderKey struct{}

func encoderFrom(ctx context.Context) *rowEncoder {
	enc, _ := ctx.Value(encoderKey{}).(*rowEncoder)
	return enc
}

// rowEncoder appends rows as Thrift binary map<string,string> values to a
// list of chunks, so a large answer is never copied to grow one buffer.
// columns are the table's column names, each pre-encoded as a Thrift
// string (i32 length, bytes).
type rowEncoder struct {
	columns []columnKey
	chunks  [][]byte
	cur     []byte
	count   int
	values  []string // add's scratch: the row's value per column
	present []bool
}

// Chunks grow from firstChunk to chunkSize; a larger row gets a chunk of
// its own.
const (
	firstChunk = 4 << 10
	chunkSize  = 1 << 20
)

type columnKey struct {
	name    string
	encoded []byte
}

func encodeColumns(names []string) []columnKey {
	keys := make([]columnKey, len(names))
	for i, n := range names {
		keys[i] = columnKey{name: n, encoded: appendString(nil, n)}
	}
	return keys
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// add appends one row: the table's columns it has, in column order, then
// any other keys (a source may add some; osquery ignores what it does not
// know, as it would from osquery-go).
func (e *rowEncoder) add(row map[string]string) {
	if e.values == nil {
		e.values, e.present = make([]string, len(e.columns)), make([]bool, len(e.columns))
	}
	size, n := 6, 0
	for i, c := range e.columns {
		v, ok := row[c.name]
		e.values[i], e.present[i] = v, ok
		if ok {
			size += len(c.encoded) + 4 + len(v)
			n++
		}
	}
	var extra []string
	if n < len(row) {
		for k, v := range row {
			if !e.known(k) {
				extra = append(extra, k, v)
				size += 8 + len(k) + len(v)
			}
		}
	}
	if cap(e.cur)-len(e.cur) < size {
		if len(e.cur) > 0 {
			e.chunks = append(e.chunks, e.cur)
		}
		// Chunks start small (a one-row answer stays cheap) and double up
		// to chunkSize.
		e.cur = make([]byte, 0, max(size, min(chunkSize, 2*cap(e.cur)), firstChunk))
	}
	b := append(e.cur, byte(thrift.STRING), byte(thrift.STRING))
	b = binary.BigEndian.AppendUint32(b, uint32(n+len(extra)/2))
	for i, c := range e.columns {
		if e.present[i] {
			b = append(b, c.encoded...)
			b = appendString(b, e.values[i])
		}
	}
	for _, s := range extra {
		b = appendString(b, s)
	}
	clear(e.values)
	e.cur = b
	e.count++
}

// pieces returns the encoding so far.
func (e *rowEncoder) pieces() [][]byte {
	if len(e.cur) == 0 {
		return e.chunks
	}
	return append(e.chunks, e.cur)
}

func (e *rowEncoder) known(name string) bool {
	for _, c := range e.columns {
		if c.name == name {
			return true
		}
	}
	return false
}
