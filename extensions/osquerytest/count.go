package osquerytest

import (
	"context"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
)

// GenerateCount asks a table for rows like Generate but reads the answer
// without building it: it walks the Thrift encoding, discarding strings, and
// counts the rows. It times what an extension costs its caller up to the
// last byte of the answer, without the decoding a Go client would add
// (osqueryd decodes in C++). A non-OK status is an error.
func (c *Client) GenerateCount(ctx context.Context, table, queryContext string) (rows int, err error) {
	c.seq++
	proto := thrift.NewTBinaryProtocolConf(c.trans, nil)
	args := osquery.ExtensionCallArgs{Registry: "table", Item: table,
		Request: osquery.ExtensionPluginRequest{"action": "generate", "context": queryContext}}
	if err := proto.WriteMessageBegin(ctx, "call", thrift.CALL, c.seq); err != nil {
		return 0, err
	}
	if err := args.Write(ctx, proto); err != nil {
		return 0, err
	}
	if err := proto.WriteMessageEnd(ctx); err != nil {
		return 0, err
	}
	if err := proto.Flush(ctx); err != nil {
		return 0, err
	}
	name, kind, seq, err := proto.ReadMessageBegin(ctx)
	switch {
	case err != nil:
		return 0, err
	case kind == thrift.EXCEPTION:
		exc := thrift.NewTApplicationException(0, "")
		if err := exc.Read(ctx, proto); err != nil {
			return 0, err
		}
		return 0, exc
	case name != "call" || kind != thrift.REPLY || seq != c.seq:
		return 0, fmt.Errorf("unexpected reply %q type %d seq %d", name, kind, seq)
	}
	w := walker{proto: proto, trans: c.trans}
	if err := w.skip(ctx, thrift.STRUCT, 0); err != nil {
		return 0, err
	}
	if w.code != 0 {
		return w.rows, fmt.Errorf("%w: code %d", ErrStatus, w.code)
	}
	return w.rows, proto.ReadMessageEnd(ctx)
}

// walker skips one Thrift value, counting the maps of the answer's row list
// and keeping the first i32 it meets (the status code, the first field of
// the first field of ExtensionResponse).
type walker struct {
	proto   *thrift.TBinaryProtocol
	trans   *thrift.TBufferedTransport
	rows    int
	code    int32
	sawCode bool
}

func (w *walker) skip(ctx context.Context, t thrift.TType, depth int) error {
	if depth > 16 {
		return fmt.Errorf("answer nested past %d levels", depth)
	}
	switch t {
	case thrift.BOOL, thrift.BYTE:
		_, err := w.trans.Discard(1)
		return err
	case thrift.I16:
		_, err := w.trans.Discard(2)
		return err
	case thrift.I32:
		v, err := w.proto.ReadI32(ctx)
		if err == nil && !w.sawCode {
			w.code, w.sawCode = v, true
		}
		return err
	case thrift.I64, thrift.DOUBLE:
		_, err := w.trans.Discard(8)
		return err
	case thrift.STRING:
		n, err := w.proto.ReadI32(ctx)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("string of %d bytes", n)
		}
		_, err = w.trans.Discard(int(n))
		return err
	case thrift.STRUCT:
		for {
			_, ft, _, err := w.proto.ReadFieldBegin(ctx)
			if err != nil {
				return err
			}
			if ft == thrift.STOP {
				return nil
			}
			if err := w.skip(ctx, ft, depth+1); err != nil {
				return err
			}
		}
	case thrift.MAP:
		kt, vt, n, err := w.proto.ReadMapBegin(ctx)
		if err != nil {
			return err
		}
		for range n {
			if err := w.skip(ctx, kt, depth+1); err != nil {
				return err
			}
			if err := w.skip(ctx, vt, depth+1); err != nil {
				return err
			}
		}
		return nil
	case thrift.LIST, thrift.SET:
		et, n, err := w.proto.ReadListBegin(ctx)
		if err != nil {
			return err
		}
		if et == thrift.MAP {
			w.rows += n
		}
		for range n {
			if err := w.skip(ctx, et, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown Thrift type %d", t)
}
