package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
)

// ErrNoDaemon means nothing serves the control socket (no socket file, or a
// stale one nobody listens on).
var ErrNoDaemon = errors.New("no stagewatchd is serving the control socket")

// ErrNeedRoot means the socket exists but this user may not use it.
var ErrNeedRoot = errors.New("querying the stagewatchd control socket needs root")

// Client talks to a running stagewatchd.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &Client{path: path, http: &http.Client{Transport: transport}}
}

// Query runs sql in the daemon.
func (c *Client) Query(ctx context.Context, sql string) (QueryResponse, error) {
	body, _ := json.Marshal(QueryRequest{SQL: sql})
	var resp QueryResponse
	err := c.do(ctx, http.MethodPost, "/v1/query", body, &resp)
	return resp, err
}

// Tables lists the daemon's tables.
func (c *Client) Tables(ctx context.Context) ([]Table, error) {
	var resp TablesResponse
	err := c.do(ctx, http.MethodGet, "/v1/tables", nil, &resp)
	return resp.Tables, err
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://stagewatchd"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.dialError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	if resp.StatusCode == http.StatusForbidden {
		var e errorResponse
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%w: %s", ErrNeedRoot, e.Error)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control socket %s: %s", c.path, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control socket %s: bad answer: %w", c.path, err)
	}
	return nil
}

// dialError sorts connection failures into "no daemon" and
// "not allowed" (tell the user which privilege is missing).
func (c *Client) dialError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (%s)", ErrNoDaemon, c.path)
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %s: permission denied", ErrNeedRoot, c.path)
	}
	return fmt.Errorf("control socket %s: %w", c.path, err)
}
