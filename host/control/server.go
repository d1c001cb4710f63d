// Package control is stagewatchd's local control socket: a unix socket only
// root can use, serving a small HTTP/JSON API so that `stagewatchd query`
// sees what the running daemon has collected.
//
//	POST /v1/query  {"sql": "SELECT …"}  → {"columns": [...], "rows": [{...}]}
//	GET  /v1/tables                       → {"tables": [{"name", "description", "columns": [{"name", "type", "description"}]}]}
//
// Errors are {"error": "…"} with a 4xx or 5xx status.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/internal/safepath"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var errNotUnix = errors.New("not a unix socket connection")

// maxRequest bounds a request body: SQL, not data.
const maxRequest = 1 << 20

// Querier runs SQL over the tables; sqlengine.Engine is one.
type Querier interface {
	Query(ctx context.Context, sql string) ([]string, []map[string]string, error)
	Tables() []sdk.TableSpec
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Path string
	// AllowUIDs are the peer uids served; nil means root only.
	AllowUIDs []uint32
	Logger    hclog.Logger
}

// Server serves the control API on a unix socket.
type Server struct {
	path  string
	allow []uint32
	log   hclog.Logger
	q     Querier
	ln    net.Listener
	http  *http.Server
}

type credKey struct{}

type peer struct {
	uid uint32
	err error
}

// Listen creates the socket 0600 in its own directory. The directory is
// made 0700 when missing; one that exists is never chmod'ed or chown'ed,
// and is refused, saying why, when it is a link or others can write it
// (--socket /tmp/x.sock would otherwise let any user swap the socket). A
// socket left by a daemon that is gone is replaced; anything else at the
// path (a regular file, a directory) is never removed; a socket that still
// answers is another daemon's.
func Listen(opts ServerOptions, q Querier) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.AllowUIDs == nil {
		opts.AllowUIDs = []uint32{0}
	}
	path := opts.Path
	dir := filepath.Dir(path)
	if err := safepath.OwnDir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket %s: its directory %w", path, err)
	}
	if info, err := os.Lstat(path); err == nil {
		if info.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the path exists and is not a socket (%s): refusing to remove it", path, describeType(info.Mode()))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another stagewatchd is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 0, 0); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	s := &Server{path: path, allow: opts.AllowUIDs, log: opts.Logger, q: q, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/query", s.handleQuery)
	mux.HandleFunc("GET /v1/tables", s.handleTables)
	s.http = &http.Server{
		Handler:           s.authorize(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			uid, err := peerUID(c)
			return context.WithValue(ctx, credKey{}, peer{uid: uid, err: err})
		},
		ErrorLog: opts.Logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	return s, nil
}

func describeType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	}
	return "mode " + m.String()
}

// Path is the socket path.
func (s *Server) Path() string { return s.path }

// Serve answers requests until Close.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving, waits up to ctx for requests in flight, and removes
// the socket file.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = s.http.Close()
	}
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
		err = rmErr
	}
	return err
}

// authorize serves only the allowed peer uids. The file mode already keeps
// others out; the kernel-reported peer uid still holds if the mode is
// loosened by hand.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(credKey{}).(peer)
		if p.err != nil {
			s.log.Warn("control socket: refused a client", "error", p.err)
			writeError(w, http.StatusForbidden, "control socket: cannot verify the client's credentials: "+p.err.Error())
			return
		}
		if !slices.Contains(s.allow, p.uid) {
			s.log.Warn("control socket: refused a client", "uid", p.uid)
			writeError(w, http.StatusForbidden, fmt.Sprintf("control socket: uid %d may not query stagewatchd (root only)", p.uid))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// QueryRequest is the body of POST /v1/query.
type QueryRequest struct {
	SQL string `json:"sql"`
}

// QueryResponse is the answer to POST /v1/query.
type QueryResponse struct {
	Columns []string            `json:"columns"`
	Rows    []map[string]string `json:"rows"`
}

// Column is a column in GET /v1/tables.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

// Table is a table in GET /v1/tables.
type Table struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Columns     []Column `json:"columns"`
}

// TablesResponse is the answer to GET /v1/tables.
type TablesResponse struct {
	Tables []Table `json:"tables"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	var req QueryRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read request: "+err.Error())
		return
	}
	if len(body) > maxRequest {
		writeError(w, http.StatusRequestEntityTooLarge, "request larger than 1 MiB")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil || req.SQL == "" {
		writeError(w, http.StatusBadRequest, `want {"sql": "…"}`)
		return
	}
	cols, rows, err := s.q.Query(r.Context(), req.SQL)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if rows == nil {
		rows = []map[string]string{}
	}
	writeJSON(w, http.StatusOK, QueryResponse{Columns: cols, Rows: rows})
}

func (s *Server) handleTables(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, TablesResponse{Tables: TablesToWire(s.q.Tables())})
}

// TablesToWire converts table specs to their JSON form (types by name).
func TablesToWire(specs []sdk.TableSpec) []Table {
	out := make([]Table, len(specs))
	for i, t := range specs {
		out[i] = Table{Name: t.Name, Description: t.Description, Columns: make([]Column, len(t.Columns))}
		for j, c := range t.Columns {
			out[i].Columns[j] = Column{Name: c.Name, Type: c.Type.String(), Description: c.Description}
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}
