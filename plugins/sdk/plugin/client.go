package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin/internal/fromproto"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin/internal/toproto"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

// ingestChunkSize is how much of a log one IngestChunk carries.
const ingestChunkSize = 64 << 10

// describeTimeout bounds a Describe that was not fetched ahead by Launch or
// sdktest.Connect (Describe has no context of its own).
const describeTimeout = 10 * time.Second

// grpcClient is the host's view of a plugin: an sdk.Analytic whose every
// call goes over stagewatch.v1.
type grpcClient struct {
	client stagewatchv1.AnalyticClient

	mu         sync.Mutex
	descriptor *sdk.Descriptor
}

var (
	_ sdk.Analytic         = (*grpcClient)(nil)
	_ sdk.ContextDescriber = (*grpcClient)(nil)
)

func newGRPCClient(conn grpc.ClientConnInterface) *grpcClient {
	return &grpcClient{client: stagewatchv1.NewAnalyticClient(conn)}
}

// DescribeContext asks the plugin who it is and caches the answer: a plugin
// process cannot change its description.
func (c *grpcClient) DescribeContext(ctx context.Context) (sdk.Descriptor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.descriptor != nil {
		return *c.descriptor, nil
	}
	resp, err := c.client.Describe(ctx, &stagewatchv1.DescribeRequest{})
	if err != nil {
		return sdk.Descriptor{}, fmt.Errorf("describe: %w", fromStatus(ctx, err))
	}
	d := fromproto.Descriptor(resp)
	c.descriptor = &d
	return d, nil
}

// Describe returns the cached description. Launch and sdktest.Connect fetch
// it up front, where a failure can still be reported; the zero Descriptor
// here means the plugin never answered.
func (c *grpcClient) Describe() sdk.Descriptor {
	ctx, cancel := context.WithTimeout(context.Background(), describeTimeout)
	defer cancel()
	d, _ := c.DescribeContext(ctx)
	return d
}

func (c *grpcClient) Configure(ctx context.Context, req sdk.ConfigureRequest) (json.RawMessage, error) {
	resp, err := c.client.Configure(ctx, toproto.ConfigureRequest(req))
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetEffectiveJson(), nil
}

// Start asks the plugin to begin live collection. ctx bounds only the call:
// collection runs until the plugin process is stopped, since there is no
// connection left to carry a later cancellation.
func (c *grpcClient) Start(ctx context.Context) error {
	_, err := c.client.Start(ctx, &stagewatchv1.StartRequest{})
	return fromStatus(ctx, err)
}

func (c *grpcClient) Health(ctx context.Context) sdk.Health {
	resp, err := c.client.Health(ctx, &stagewatchv1.HealthRequest{})
	if err != nil {
		return sdk.Health{State: sdk.StateFailed, Message: fromStatus(ctx, err).Error()}
	}
	return fromproto.Health(resp)
}

func (c *grpcClient) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	// Cancelling on return stops the plugin's generation when emit fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.Generate(ctx, &stagewatchv1.GenerateRequest{
		Table:       table,
		Constraints: toproto.Constraints(constraints),
	})
	if err != nil {
		return fromStatus(ctx, err)
	}
	var columns []string
	for {
		batch, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fromStatus(ctx, err)
		}
		if columns == nil {
			columns = batch.GetColumns()
			if len(columns) == 0 {
				return fmt.Errorf("generate %s: plugin sent rows before naming the columns", table)
			}
		}
		var rows []sdk.Row
		if packed := batch.GetPackedRows(); packed != nil || batch.GetRowCount() > 0 {
			if rows, err = fromproto.PackedRows(packed, int(batch.GetRowCount()), columns); err != nil {
				return fmt.Errorf("generate %s: %w", table, err)
			}
		} else {
			rows = make([]sdk.Row, len(batch.GetRows()))
			for i, row := range batch.GetRows() {
				if rows[i], err = fromproto.Row(row, columns); err != nil {
					return fmt.Errorf("generate %s: %w", table, err)
				}
			}
		}
		if err := emit(rows); err != nil {
			return err
		}
	}
}

func (c *grpcClient) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.Ingest(ctx)
	if err != nil {
		return sdk.IngestStats{}, fromStatus(ctx, err)
	}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return sdk.IngestStats{}, err
		}
		// A fresh buffer each time: gRPC may still hold a sent message.
		buf := make([]byte, ingestChunkSize)
		n, readErr := io.ReadFull(r, buf)
		if readErr != nil && readErr != io.EOF && !errors.Is(readErr, io.ErrUnexpectedEOF) {
			return sdk.IngestStats{}, fmt.Errorf("ingest %s: read: %w", source, readErr)
		}
		if n > 0 || first {
			chunk := &stagewatchv1.IngestChunk{Data: buf[:n]}
			if first {
				chunk.Source, chunk.Format = source, format
				first = false
			}
			// io.EOF from Send means the plugin finished early (with a
			// result or an error); CloseAndRecv below tells which.
			if err := stream.Send(chunk); err == io.EOF {
				break
			} else if err != nil {
				return sdk.IngestStats{}, fromStatus(ctx, err)
			}
		}
		if readErr != nil {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return sdk.IngestStats{}, fromStatus(ctx, err)
	}
	return fromproto.IngestStats(resp.GetStats()), nil
}
