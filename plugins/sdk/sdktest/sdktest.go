// Package sdktest helps test analytics and hosts through the real plugin
// transport: in process over gRPC, or as a built plugin binary.
package sdktest

import (
	"bytes"
	"context"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

// Connect serves impl on an in-memory gRPC server and returns the host's
// view of it: every call goes through the stagewatch.v1 converters, as it
// would to a plugin process. Everything is torn down by t.Cleanup.
func Connect(t testing.TB, impl sdk.Analytic) sdk.Analytic {
	t.Helper()
	lifetime, stop := context.WithCancel(context.Background())
	listener := bufconn.Listen(1 << 20)
	server := grpc.NewServer()
	p := &plugin.GRPCPlugin{Impl: impl, Lifetime: lifetime}
	if err := p.GRPCServer(nil, server); err != nil {
		t.Fatalf("sdktest: register analytic: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = server.Serve(listener)
	}()

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return listener.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// As go-plugin dials plugins: no limit on a message from the plugin.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
	)
	if err != nil {
		server.Stop()
		<-served
		stop()
		t.Fatalf("sdktest: dial: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		server.Stop()
		<-served
		stop()
	})

	raw, err := p.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		t.Fatalf("sdktest: client: %v", err)
	}
	analytic := raw.(sdk.Analytic)
	// Describe has no error to return, so fetch (and cache) it while a
	// failure can still fail the test.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sdk.DescribeContext(ctx, analytic); err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	return analytic
}

// LogBuffer collects output written from several goroutines — a plugin's
// relayed log, a child process's stderr — while a test reads it.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
