package extserver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go"
	osquerygen "github.com/osquery/osquery-go/gen/osquery"
	"github.com/osquery/osquery-go/transport"

	"github.com/stagewatch/stagewatch/extensions/tablewrap"
	"github.com/stagewatch/stagewatch/internal/version"
)

// extensionServer is the extension's side of osquery's Thrift API: it
// registers the tables with osqueryd, then answers ping, call and shutdown
// on its own socket (<osquery socket>.<uuid>) with osquery-go's generated
// processor. It does what osquery-go's ExtensionManagerServer does, with one
// difference: a table's generate answer is written from rows encoded batch by
// batch as they arrive (tablewrap.GenerateEncoded) rather than from a slice
// of maps built first, which halves the time and memory of large answers.
type extensionServer struct {
	client *osquery.ExtensionManagerClient
	tables map[string]*tablewrap.Table
	flags  Flags

	mu       sync.Mutex
	uuid     osquerygen.ExtensionRouteUUID
	server   *thrift.TSimpleServer
	stopped  bool
	shutdown chan struct{} // closed when osqueryd calls shutdown
	once     sync.Once
}

func newExtensionServer(client *osquery.ExtensionManagerClient, tables []*tablewrap.Table, flags Flags) (*extensionServer, error) {
	if len(flags.Socket) > osquery.MaxSocketPathCharacters {
		return nil, fmt.Errorf("socket path %s (%d characters) exceeds osquery's %d", flags.Socket, len(flags.Socket), osquery.MaxSocketPathCharacters)
	}
	s := &extensionServer{client: client, tables: map[string]*tablewrap.Table{}, flags: flags, shutdown: make(chan struct{})}
	for _, t := range tables {
		s.tables[t.Name()] = t
	}
	return s, nil
}

// Start registers with osqueryd and serves until Stop or osqueryd's
// shutdown call; it returns what the Thrift server returns.
func (s *extensionServer) Start() error {
	routes := osquerygen.ExtensionRouteTable{}
	for name, t := range s.tables {
		routes[name] = t.Routes()
	}
	status, err := s.client.RegisterExtension(
		&osquerygen.InternalExtensionInfo{Name: Name, Version: version.Version},
		osquerygen.ExtensionRegistry{"table": routes},
	)
	if err != nil {
		return fmt.Errorf("registering extension: %w", err)
	}
	if status.Code != 0 {
		return fmt.Errorf("status %d registering extension: %s", status.Code, status.Message)
	}
	listen := fmt.Sprintf("%s.%d", s.flags.Socket, status.UUID)
	socket, err := transport.OpenServer(listen, s.flags.Timeout)
	if err != nil {
		_, _ = s.client.DeregisterExtension(status.UUID)
		return fmt.Errorf("opening server socket %s: %w", listen, err)
	}
	processor := osquerygen.NewExtensionProcessor(s)
	processor.AddToProcessorMap("call", callProcessor{s})
	server := thrift.NewTSimpleServer4(processor, socket,
		// Unbuffered, the binary protocol makes one write per field.
		thrift.NewTBufferedTransportFactory(64*1024),
		thrift.NewTBinaryProtocolFactoryConf(nil))

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_, _ = s.client.DeregisterExtension(status.UUID)
		return nil
	}
	s.uuid, s.server = status.UUID, server
	s.mu.Unlock()
	return server.Serve()
}

// Stop deregisters from osqueryd (when it is still there) and stops the
// Thrift server; a request being answered completes first.
func (s *extensionServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var err error
	if s.server != nil {
		var status *osquerygen.ExtensionStatus
		if status, err = s.client.DeregisterExtension(s.uuid); err == nil && status.Code != 0 {
			err = fmt.Errorf("status %d deregistering extension: %s", status.Code, status.Message)
		}
		go s.server.Stop()
	}
	return err
}

// Ping is the health check osqueryd makes.
func (s *extensionServer) Ping(context.Context) (*osquerygen.ExtensionStatus, error) {
	return &osquerygen.ExtensionStatus{Code: 0, Message: "OK"}, nil
}

// Call answers a request for a registered table (columns, and generate
// when it does not come through callProcessor).
func (s *extensionServer) Call(ctx context.Context, registry, item string, request osquerygen.ExtensionPluginRequest) (*osquerygen.ExtensionResponse, error) {
	t, status := s.lookup(registry, item)
	if t == nil {
		return &osquerygen.ExtensionResponse{Status: status}, nil
	}
	resp := t.Call(ctx, request)
	return &resp, nil
}

// lookup finds a table, or the status osquery-go answers for an unknown
// registry or item.
func (s *extensionServer) lookup(registry, item string) (*tablewrap.Table, *osquerygen.ExtensionStatus) {
	if registry != "table" {
		return nil, &osquerygen.ExtensionStatus{Code: 1, Message: "Unknown registry: " + registry}
	}
	t := s.tables[item]
	if t == nil {
		return nil, &osquerygen.ExtensionStatus{Code: 1, Message: "Unknown registry item: " + item}
	}
	return t, nil
}

// Shutdown is osqueryd telling the extension to stop.
func (s *extensionServer) Shutdown(context.Context) error {
	s.once.Do(func() { close(s.shutdown) })
	return nil
}

// callProcessor handles Extension.call: a table's generate is answered from
// encoded rows, everything else as the generated processor would.
type callProcessor struct{ s *extensionServer }

func (p callProcessor) Process(ctx context.Context, seqID int32, iprot, oprot thrift.TProtocol) (bool, thrift.TException) {
	args := osquerygen.ExtensionCallArgs{}
	if err := args.Read(ctx, iprot); err != nil {
		_ = iprot.ReadMessageEnd(ctx)
		x := thrift.NewTApplicationException(thrift.PROTOCOL_ERROR, err.Error())
		_ = oprot.WriteMessageBegin(ctx, "call", thrift.EXCEPTION, seqID)
		_ = x.Write(ctx, oprot)
		_ = oprot.WriteMessageEnd(ctx)
		_ = oprot.Flush(ctx)
		return false, thrift.WrapTException(err)
	}
	_ = iprot.ReadMessageEnd(ctx)

	if t, _ := p.s.lookup(args.Registry, args.Item); t != nil && args.Request["action"] == "generate" {
		if err := tablewrap.WriteCallReply(ctx, oprot, seqID, t.GenerateEncoded(ctx, args.Request)); err != nil {
			return false, thrift.WrapTException(err)
		}
		return true, nil
	}
	resp, _ := p.s.Call(ctx, args.Registry, args.Item, args.Request)
	result := osquerygen.ExtensionCallResult{Success: resp}
	err := errors.Join(
		oprot.WriteMessageBegin(ctx, "call", thrift.REPLY, seqID),
		result.Write(ctx, oprot),
		oprot.WriteMessageEnd(ctx),
		oprot.Flush(ctx),
	)
	if err != nil {
		return false, thrift.WrapTException(err)
	}
	return true, nil
}
