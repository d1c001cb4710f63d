package host

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host/router"
	"github.com/stagewatch/stagewatch/host/supervisor"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Options say what a Host runs.
type Options struct {
	Config *config.File // nil means config.Default()
	Mode   sdk.Mode     // live (default), replay or query
	Logger hclog.Logger // nil discards
	// Only restricts the host to one analytic id (replay of one analytic).
	Only string
	// Backoff paces restarts of crashed plugins; zero means 1 s doubling to
	// 60 s.
	Backoff supervisor.Backoff
	// StateDir, when set, keeps each analytic's events, detections and open
	// windows on disk below it, one directory per analytic; empty keeps
	// them in memory. Front ends give each their own (stagewatchd's is not
	// the extension's), so no two processes write one database.
	StateDir string
	// Declared tables are served even when no plugin running offers them
	// (router.Options.Declared): front ends that osquery or packs query
	// pass every built-in table.
	Declared []sdk.TableSpec
}

// Host runs this platform's plugins (plus the remote ones the config
// enables) and serves their tables. It is a TableSource.
type Host struct {
	sup    *supervisor.Supervisor
	router *router.Router
}

var _ TableSource = (*Host)(nil)

// AnalyticInfo is the host's record of one loaded analytic: its plugin,
// description, configuration in effect, state and restarts.
type AnalyticInfo = supervisor.Status

// New finds, verifies, launches and configures the plugins. It fails,
// naming the plugin or the config key at fault, if any of them cannot
// start; nothing is left running then. Close the Host when done.
func New(ctx context.Context, opts Options) (*Host, error) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	sup, err := supervisor.Start(ctx, supervisor.Options{
		Config:   opts.Config,
		Mode:     opts.Mode,
		Logger:   opts.Logger,
		Only:     opts.Only,
		Backoff:  opts.Backoff,
		StateDir: opts.StateDir,
	})
	if err != nil {
		return nil, err
	}
	r := router.New(sup, router.Options{
		QueryTimeout: opts.Config.Stagewatch.QueryTimeout,
		Logger:       opts.Logger,
		Declared:     opts.Declared,
	})
	return &Host{sup: sup, router: r}, nil
}

// Tables lists the tables served, sorted by name.
func (h *Host) Tables() []sdk.TableSpec { return h.router.Tables() }

// Generate produces the rows of one table (see TableSource).
func (h *Host) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return h.router.Generate(ctx, table, constraints, emit)
}

// Analytics describes the loaded analytics, ordered by id.
func (h *Host) Analytics() []AnalyticInfo { return h.sup.SortedStatuses() }

// Analytic returns the running plugin of an analytic id, for calls the
// table interface does not cover (Ingest in replay).
func (h *Host) Analytic(id string) (sdk.Analytic, error) {
	p := h.sup.Plugin(id)
	if p == nil {
		return nil, fmt.Errorf("analytic %s is not loaded", id)
	}
	return p.Analytic()
}

// Close shuts every plugin down, gracefully first (they remove their
// kernel state), and waits for them.
func (h *Host) Close() error { return h.sup.Close() }
