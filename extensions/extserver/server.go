// Package extserver runs stagewatch as an osquery extension: it loads the
// host library (the same plugins stagewatchd runs), registers every
// staging_* table with osqueryd over Thrift and serves them until osqueryd
// goes away.
package extserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/osquery/osquery-go"

	"github.com/stagewatch/stagewatch/extensions/tablewrap"
	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/safepath"
	"github.com/stagewatch/stagewatch/internal/version"
	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Name is the extension name osqueryd lists in osquery_extensions and that
// --extensions_require names.
const Name = "stagewatch"

// StateName names the extension's analytics' state below state_dir:
// stagewatchd keeps its own beside it, so the two never write one file.
const StateName = "stagewatch.ext"

// Environment variables read by the extension (autoload passes no other
// arguments, so this is how an admin tunes it).
const (
	// TableTimeoutEnv overrides the per-call table timeout (a Go duration).
	TableTimeoutEnv = "STAGEWATCH_EXT_TABLE_TIMEOUT"
)

// ErrCoreUnhealthy means osqueryd answered a ping with a failure status: it
// is alive but refuses this extension, so the exit status must say so.
var ErrCoreUnhealthy = errors.New("osqueryd reports the extension unhealthy")

// Options configure Run.
type Options struct {
	Flags
	// ConfigPath is the stagewatch configuration; empty means
	// $STAGEWATCH_CONFIG, then /etc/stagewatch/stagewatch.yaml.
	ConfigPath string
	// Config, when set, is used instead of reading ConfigPath.
	Config *config.File
	// TableTimeout bounds one table call; zero means 80 % of Flags.Timeout.
	TableTimeout time.Duration
	// MaxConcurrent bounds concurrent table calls; zero means the default.
	MaxConcurrent int
	Logger        hclog.Logger
}

// ResolveConfigPath says which configuration file the extension reads.
func ResolveConfigPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if p := os.Getenv(config.EnvVar); p != "" {
		return p
	}
	return config.DefaultPath
}

// LoadConfig reads the extension's configuration: the file named, else
// $STAGEWATCH_CONFIG, else /etc/stagewatch/stagewatch.yaml. Only the last
// may be missing: then the platform's analytics run with their defaults,
// which is how Fleet delivers the extension (one .ext file, nothing else).
// A file the admin named that is missing is an error, logged where osquery
// logs the extension.
func LoadConfig(explicit string) (*config.File, error) {
	return config.Load(explicit)
}

// TableTimeout is the per-call table timeout for an osquery --timeout.
func TableTimeout(osqueryTimeout time.Duration) time.Duration {
	return osqueryTimeout * 8 / 10
}

// Run registers stagewatch's tables with the osqueryd at opts.Socket and
// serves them. It returns nil when osqueryd goes away or ctx ends (the
// clean exit osquery's own extensions make), and an error when the
// extension could not start or osqueryd reports it unhealthy.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	cfg := opts.Config
	if cfg == nil {
		var err error
		if cfg, err = LoadConfig(opts.ConfigPath); err != nil {
			return err
		}
	}
	// Connect before starting plugins: without osqueryd there is nothing to
	// serve, and NewClient waits up to --timeout for the socket to appear.
	client, err := connect(opts.Flags)
	if err != nil {
		return err
	}
	defer client.Close()

	source := cfg.Path
	if source == "" {
		source = "none found: every analytic runs with its defaults"
	}
	opts.Logger.Info("starting analytics", "config", source)
	analyticsDir := filepath.Join(cfg.Stagewatch.StateDir, StateName)
	for _, dir := range []string{cfg.Stagewatch.StateDir, analyticsDir} {
		if err := safepath.OwnDir(dir, 0o700); err != nil {
			return fmt.Errorf("state directory %w", err)
		}
	}
	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeLive, Logger: opts.Logger.Named("host"), StateDir: analyticsDir, Declared: registry.Tables()})
	if err != nil {
		return fmt.Errorf("starting analytics (config %s): %w", source, err)
	}
	defer h.Close()
	return serve(ctx, client, h, opts)
}

// Serve registers src's tables with the osqueryd at flags.Socket and serves
// them like Run, for a source the caller runs itself.
func Serve(ctx context.Context, src host.TableSource, opts Options) error {
	opts = opts.withDefaults()
	client, err := connect(opts.Flags)
	if err != nil {
		return err
	}
	defer client.Close()
	return serve(ctx, client, src, opts)
}

// withDefaults fills in the logger and the table timeout.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.TableTimeout <= 0 {
		o.TableTimeout = TableTimeout(o.Timeout)
	}
	return o
}

func connect(flags Flags) (*osquery.ExtensionManagerClient, error) {
	client, err := osquery.NewClient(flags.Socket, flags.Timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to osqueryd at %s within %s: %w", flags.Socket, flags.Timeout, err)
	}
	return client, nil
}

func serve(ctx context.Context, client *osquery.ExtensionManagerClient, src host.TableSource, opts Options) error {
	log, tableTimeout := opts.Logger, opts.TableTimeout
	wrapper := tablewrap.New(src, tablewrap.Options{
		Timeout:       tableTimeout,
		MaxConcurrent: opts.MaxConcurrent,
		Logger:        log.Named("tables"),
	})
	tables := wrapper.Plugins()
	if len(tables) == 0 {
		return errors.New("no staging_* tables to register: no analytic loaded (check plugin_dir and plugins in the configuration)")
	}

	server, err := newExtensionServer(client, tables, opts.Flags)
	if err != nil {
		return err
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name()
	}

	served := make(chan error, 1)
	go func() { served <- server.Start() }()
	defer func() {
		if err := server.Stop(); err != nil {
			log.Debug("deregistering from osqueryd", "error", err)
		}
	}()
	log.Info("serving tables", "socket", opts.Socket, "tables", names, "table_timeout", tableTimeout, "version", version.Version)

	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "reason", context.Cause(ctx))
			return nil
		case err := <-served:
			if err == nil {
				return nil
			}
			return fmt.Errorf("serving osqueryd: %w", err)
		case <-server.shutdown:
			log.Info("osqueryd asked the extension to shut down")
			return nil
		case <-ticker.C:
			pingCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
			status, err := client.PingContext(pingCtx)
			cancel()
			if ctx.Err() != nil {
				continue
			}
			if err != nil {
				log.Info("osqueryd has gone away, exiting", "error", err)
				return nil
			}
			if status.Code != 0 {
				return fmt.Errorf("%w: ping status %d: %s", ErrCoreUnhealthy, status.Code, status.Message)
			}
		}
	}
}
