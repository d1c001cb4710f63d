// Package osquerytest is a test-side stand-in for osqueryd's extension
// manager. It speaks the real Thrift protocol on a unix socket through
// osquery-go's generated ExtensionManager processor, records what extensions
// register, and calls extensions back the way osqueryd does: "columns" and
// "generate" with osquery's query-context JSON.
package osquerytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/osquery/osquery-go/gen/osquery"
)

// Registration is one registerExtension call received.
type Registration struct {
	Info     osquery.InternalExtensionInfo
	Registry osquery.ExtensionRegistry
	UUID     osquery.ExtensionRouteUUID
}

// Manager is the stand-in osqueryd. Close it to make it "go away".
type Manager struct {
	Path string

	ln        net.Listener
	processor thrift.TProcessor
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu            sync.Mutex
	conns         map[net.Conn]struct{}
	registrations []Registration
	deregistered  []osquery.ExtensionRouteUUID
	registered    chan Registration
	nextUUID      int64
	closed        bool

	pings atomic.Int64
	// PingStatus is what Ping answers; set it to a non-zero code to play an
	// osqueryd that is alive but refuses the extension.
	PingStatus atomic.Int32
}

// Start listens on path and serves the ExtensionManager API.
func Start(path string) (*Manager, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		Path:       path,
		ln:         ln,
		cancel:     cancel,
		conns:      map[net.Conn]struct{}{},
		registered: make(chan Registration, 16),
		// osqueryd numbers extensions from a random start; any value works.
		nextUUID: 40000,
	}
	m.processor = osquery.NewExtensionManagerProcessor(handler{m})
	m.wg.Add(1)
	go m.accept(ctx)
	return m, nil
}

func (m *Manager) accept(ctx context.Context) {
	defer m.wg.Done()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			conn.Close()
			return
		}
		m.conns[conn] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go m.serve(ctx, conn)
	}
}

func (m *Manager) serve(ctx context.Context, conn net.Conn) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.conns, conn)
		m.mu.Unlock()
		conn.Close()
	}()
	trans := thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(conn, nil), 64*1024)
	prot := thrift.NewTBinaryProtocolConf(trans, nil)
	for {
		ok, err := m.processor.Process(ctx, prot, prot)
		if err != nil || !ok {
			return
		}
	}
}

// Close stops serving, drops every connection and removes the socket, as
// osqueryd does when it exits.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.ln.Close()
	m.cancel()
	m.wg.Wait()
	os.Remove(m.Path)
}

// Pings counts the pings received.
func (m *Manager) Pings() int64 { return m.pings.Load() }

// WaitRegistration waits for the next registerExtension call.
func (m *Manager) WaitRegistration(timeout time.Duration) (Registration, error) {
	select {
	case r := <-m.registered:
		return r, nil
	case <-time.After(timeout):
		return Registration{}, fmt.Errorf("no extension registered within %s", timeout)
	}
}

// Deregistered lists the uuids deregistered so far.
func (m *Manager) Deregistered() []osquery.ExtensionRouteUUID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]osquery.ExtensionRouteUUID(nil), m.deregistered...)
}

// ExtensionSocket is where a registered extension serves: osqueryd's
// socket path with the uuid appended.
func (m *Manager) ExtensionSocket(uuid osquery.ExtensionRouteUUID) string {
	return fmt.Sprintf("%s.%d", m.Path, uuid)
}

type handler struct{ m *Manager }

func ok() *osquery.ExtensionStatus { return &osquery.ExtensionStatus{Code: 0, Message: "OK"} }

func (h handler) Ping(context.Context) (*osquery.ExtensionStatus, error) {
	h.m.pings.Add(1)
	if code := h.m.PingStatus.Load(); code != 0 {
		return &osquery.ExtensionStatus{Code: code, Message: "extension refused"}, nil
	}
	return ok(), nil
}

func (h handler) Call(_ context.Context, registry, item string, _ osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{
		Code: 1, Message: "the test manager has no core plugin " + registry + "/" + item}}, nil
}

func (h handler) Shutdown(context.Context) error { return nil }

func (h handler) Extensions(context.Context) (osquery.InternalExtensionList, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	list := osquery.InternalExtensionList{}
	for _, r := range h.m.registrations {
		info := r.Info
		list[r.UUID] = &info
	}
	return list, nil
}

func (h handler) Options(context.Context) (osquery.InternalOptionList, error) {
	return osquery.InternalOptionList{
		"extensions_timeout":  {Value: "3", DefaultValue: "3", Type: "string"},
		"extensions_interval": {Value: "3", DefaultValue: "3", Type: "string"},
	}, nil
}

func (h handler) RegisterExtension(_ context.Context, info *osquery.InternalExtensionInfo, registry osquery.ExtensionRegistry) (*osquery.ExtensionStatus, error) {
	if info == nil || info.Name == "" {
		return &osquery.ExtensionStatus{Code: 1, Message: "extension has no name"}, nil
	}
	h.m.mu.Lock()
	h.m.nextUUID++
	r := Registration{Info: *info, Registry: registry, UUID: osquery.ExtensionRouteUUID(h.m.nextUUID)}
	h.m.registrations = append(h.m.registrations, r)
	h.m.mu.Unlock()
	select {
	case h.m.registered <- r:
	default:
	}
	status := ok()
	status.UUID = r.UUID
	return status, nil
}

func (h handler) DeregisterExtension(_ context.Context, uuid osquery.ExtensionRouteUUID) (*osquery.ExtensionStatus, error) {
	h.m.mu.Lock()
	h.m.deregistered = append(h.m.deregistered, uuid)
	h.m.mu.Unlock()
	return ok(), nil
}

func (h handler) Query(context.Context, string) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: "the test manager runs no SQL"}}, nil
}

func (h handler) GetQueryColumns(context.Context, string) (*osquery.ExtensionResponse, error) {
	return &osquery.ExtensionResponse{Status: &osquery.ExtensionStatus{Code: 1, Message: "the test manager runs no SQL"}}, nil
}

// Client calls a registered extension as osqueryd does.
type Client struct {
	trans  *thrift.TBufferedTransport
	client *osquery.ExtensionClient
	seq    int32 // GenerateCount's sequence numbers
}

// Dial connects to an extension's socket. Unlike osquery-go's transport.Open
// it does not sleep before the first attempt, so a test can open thousands
// of connections.
func Dial(path string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	sock := thrift.NewTSocketFromConnConf(conn, &thrift.TConfiguration{SocketTimeout: timeout * 10})
	// osqueryd's C++ client buffers its transport; so does this one.
	trans := thrift.NewTBufferedTransport(sock, 64*1024)
	return &Client{trans: trans, client: osquery.NewExtensionClientFactory(trans, thrift.NewTBinaryProtocolFactoryDefault())}, nil
}

// Close drops the connection.
func (c *Client) Close() error { return c.trans.Close() }

// Ping pings the extension.
func (c *Client) Ping(ctx context.Context) (*osquery.ExtensionStatus, error) {
	return c.client.Ping(ctx)
}

// Columns asks a table for its columns.
func (c *Client) Columns(ctx context.Context, table string) (*osquery.ExtensionResponse, error) {
	return c.client.Call(ctx, "table", table, osquery.ExtensionPluginRequest{"action": "columns"})
}

// Generate asks a table for rows with osquery's query-context JSON, e.g.
// {"constraints":[{"name":"time","list":[{"op":4,"expr":"1700000000"}],"affinity":"BIGINT"}]}.
func (c *Client) Generate(ctx context.Context, table, queryContext string) (*osquery.ExtensionResponse, error) {
	return c.client.Call(ctx, "table", table, osquery.ExtensionPluginRequest{"action": "generate", "context": queryContext})
}

// Shutdown tells the extension to stop, as osqueryd does when it exits.
func (c *Client) Shutdown(ctx context.Context) error { return c.client.Shutdown(ctx) }

// Call sends an arbitrary request.
func (c *Client) Call(ctx context.Context, registry, item string, req osquery.ExtensionPluginRequest) (*osquery.ExtensionResponse, error) {
	return c.client.Call(ctx, registry, item, req)
}

// Context builds osquery's query-context JSON for constraints on one column.
func Context(column, affinity string, constraints ...Constraint) string {
	list := "["
	for i, c := range constraints {
		if i > 0 {
			list += ","
		}
		list += fmt.Sprintf(`{"op":%d,"expr":%q}`, c.Op, c.Expr)
	}
	list += "]"
	return fmt.Sprintf(`{"constraints":[{"name":%q,"list":%s,"affinity":%q}]}`, column, list, affinity)
}

// Constraint is one operator/expression pair, with osquery's operator codes
// (2 =, 4 >, 8 <=, 16 <, 32 >=, 65 LIKE).
type Constraint struct {
	Op   int
	Expr string
}

// ErrStatus is returned by Check for a non-OK status.
var ErrStatus = errors.New("extension returned an error status")

// Check turns a response into rows or an error carrying the status message.
func Check(resp *osquery.ExtensionResponse, err error) ([]map[string]string, error) {
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, fmt.Errorf("%w: no status", ErrStatus)
	}
	if resp.Status.Code != 0 {
		return nil, fmt.Errorf("%w: code %d: %s", ErrStatus, resp.Status.Code, resp.Status.Message)
	}
	return resp.Response, nil
}
