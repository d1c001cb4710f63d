package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin/internal/fromproto"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin/internal/toproto"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

const (
	// DefaultBatchRows is how many rows one RowBatch carries when the host
	// does not ask for another size.
	DefaultBatchRows = 512
	maxBatchRows     = 16384
	// batchBytesLimit splits a batch early so one message stays well under
	// gRPC's default 4 MiB receive limit, whatever the host's dial options.
	batchBytesLimit = 2 << 20
)

// grpcServer serves an sdk.Analytic over stagewatch.v1.
type grpcServer struct {
	stagewatchv1.UnimplementedAnalyticServer

	impl     sdk.Analytic
	lifetime context.Context

	// A plugin's description never changes while it runs, so the table
	// layouts Generate needs are computed once.
	describeOnce sync.Once
	descriptor   *stagewatchv1.DescribeResponse
	columns      map[string][]string
}

func newGRPCServer(impl sdk.Analytic, lifetime context.Context) *grpcServer {
	return &grpcServer{impl: impl, lifetime: lifetime}
}

func (s *grpcServer) describe() {
	s.describeOnce.Do(func() {
		d := s.impl.Describe()
		s.descriptor = toproto.Descriptor(d)
		s.columns = make(map[string][]string, len(d.Tables))
		for _, t := range d.Tables {
			s.columns[t.Name] = t.ColumnNames()
		}
	})
}

func (s *grpcServer) Describe(context.Context, *stagewatchv1.DescribeRequest) (*stagewatchv1.DescribeResponse, error) {
	s.describe()
	return s.descriptor, nil
}

func (s *grpcServer) Configure(ctx context.Context, req *stagewatchv1.ConfigureRequest) (*stagewatchv1.ConfigureResponse, error) {
	effective, err := s.impl.Configure(ctx, fromproto.ConfigureRequest(req))
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	return &stagewatchv1.ConfigureResponse{EffectiveJson: effective}, nil
}

func (s *grpcServer) Start(ctx context.Context, _ *stagewatchv1.StartRequest) (*stagewatchv1.StartResponse, error) {
	if err := s.impl.Start(s.lifetime); err != nil {
		return nil, toStatus(ctx, err)
	}
	return &stagewatchv1.StartResponse{}, nil
}

func (s *grpcServer) Health(ctx context.Context, _ *stagewatchv1.HealthRequest) (*stagewatchv1.HealthResponse, error) {
	return toproto.Health(s.impl.Health(ctx)), nil
}

func (s *grpcServer) Generate(req *stagewatchv1.GenerateRequest, stream grpc.ServerStreamingServer[stagewatchv1.RowBatch]) error {
	ctx := stream.Context()
	s.describe()
	columns, ok := s.columns[req.GetTable()]
	if !ok {
		return status.Errorf(codes.NotFound, "analytic %s provides no table %q", s.descriptor.GetAnalyticId(), req.GetTable())
	}
	batchRows := int(req.GetBatchSize())
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	batchRows = min(batchRows, maxBatchRows)

	sender := &batchSender{stream: stream, table: req.GetTable(), columns: columns, batchRows: batchRows}
	err := s.impl.Generate(ctx, req.GetTable(), fromproto.Constraints(req.GetConstraints()), sender.emit)
	sender.close()
	return toStatus(ctx, err)
}

// batchSender turns the analytic's emit calls into RowBatches. The
// analytic may call emit from several goroutines, or late, after Generate
// returned; neither may reach the stream, which allows one sender at a time
// and only while the RPC runs.
type batchSender struct {
	stream    grpc.ServerStreamingServer[stagewatchv1.RowBatch]
	table     string
	columns   []string
	batchRows int

	mu          sync.Mutex
	closed      bool
	sentColumns bool
	lastSize    int // bytes of the previous batch, to size the next buffer
}

var errEmitAfterReturn = errors.New("emit called after Generate returned")

func (b *batchSender) emit(rows []sdk.Row) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errEmitAfterReturn
	}
	for len(rows) > 0 {
		if err := b.stream.Context().Err(); err != nil {
			return err
		}
		// A fresh buffer per batch: gRPC may use a sent message lazily.
		buf := make([]byte, 0, min(max(b.lastSize, 64<<10), batchBytesLimit+batchBytesLimit/8))
		count := 0
		for len(rows) > 0 && count < b.batchRows && len(buf) < batchBytesLimit {
			var err error
			if buf, err = toproto.AppendPackedRow(buf, rows[0], b.columns, b.table); err != nil {
				return err
			}
			count++
			rows = rows[1:]
		}
		b.lastSize = len(buf)
		batch := &stagewatchv1.RowBatch{PackedRows: buf, RowCount: uint32(count)}
		if !b.sentColumns {
			batch.Columns = b.columns
			b.sentColumns = true
		}
		if err := b.stream.Send(batch); err != nil {
			return fmt.Errorf("send rows: %w", err)
		}
	}
	return nil
}

func (b *batchSender) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

func (s *grpcServer) Ingest(stream grpc.ClientStreamingServer[stagewatchv1.IngestChunk, stagewatchv1.IngestResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "ingest stream ended before its first chunk")
	}
	if err != nil {
		return err
	}
	reader := &chunkReader{stream: stream, pending: first.GetData()}
	stats, err := s.impl.Ingest(ctx, first.GetSource(), first.GetFormat(), reader)
	if err != nil {
		return toStatus(ctx, err)
	}
	return stream.SendAndClose(&stagewatchv1.IngestResponse{Stats: toproto.IngestStats(stats)})
}

// chunkReader presents the chunks of an Ingest stream as one io.Reader.
type chunkReader struct {
	stream  grpc.ClientStreamingServer[stagewatchv1.IngestChunk, stagewatchv1.IngestResponse]
	pending []byte
	err     error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, err := r.stream.Recv()
		if err != nil {
			r.err = err
			continue
		}
		r.pending = chunk.GetData()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}
