package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/host/packs"
	"github.com/stagewatch/stagewatch/host/resultlog"
	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/safepath"
	"github.com/stagewatch/stagewatch/internal/version"
	builtinpacks "github.com/stagewatch/stagewatch/packs"
	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// StateName names stagewatchd's analytics' state below state_dir.
const StateName = "stagewatchd"

// SystemPacksDir is where packages install the packs when they are not
// next to the executable.
const SystemPacksDir = "/usr/local/share/stagewatch/packs"

// shutdownGrace bounds the wait for control requests in flight at exit.
const shutdownGrace = 5 * time.Second

// cmdRun is `stagewatchd run`: read the configuration and packs, start the
// analytics, the SQL engine, the pack scheduler and the control socket, and
// serve until signalled or the socket fails; then stop them in order.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// SIGHUP reopens the results log (logrotate's postrotate); left to its
	// default it would stop the daemon.
	hangup := make(chan os.Signal, 1)
	notifyHangup(hangup)
	defer signal.Stop(hangup)

	cfg, packPaths, err := runConfig(args)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, hclog.Info)
	logger.Info(fmt.Sprintf("stagewatchd %s starting (config %s)", version.Version, describeConfigPath(cfg.Path)))

	// Packs are read before any plugin starts, so a broken pack costs no
	// plugin start-up and shutdown.
	loaded, err := loadPacks(packPaths)
	if err != nil {
		return err
	}
	if len(packPaths) == 0 {
		logger.Info("no pack files found (--pack, stagewatch.packs, " + SystemPacksDir + "): scheduling the built-in DET0014 pack")
	}
	out := stdout
	var results *resultlog.Log
	if cfg.Stagewatch.ResultsLog != "" {
		results, err = resultlog.Open(cfg.Stagewatch.ResultsLog, resultlog.Options{
			MaxSize:  int64(cfg.Stagewatch.ResultsLogMaxSize),
			MaxFiles: cfg.Stagewatch.ResultsLogMaxFiles,
			Logger:   newSlog(stderr),
		})
		if err != nil {
			return err
		}
		defer results.Close()
		out = results
	} else if cfg.Stagewatch.ResultsLogMaxSize > 0 {
		logger.Warn("stagewatch.results_log_max_size has no effect: results go to stdout")
	}
	hangupCtx, stopHangups := context.WithCancel(ctx)
	defer stopHangups()
	go reopenOnHangup(hangupCtx, hangup, results, logger)

	d, err := startRunning(ctx, cfg, loaded, out, logger, stderr)
	if err != nil {
		return err
	}
	runErr := d.serve(ctx)
	d.stop()
	if runErr != nil {
		return runErr
	}
	logger.Info("stopped")
	return nil
}

// runConfig reads run's flags and the configuration they and the file
// give: the file first, the flags over it, the pack paths from the flags,
// else the file, else those installed beside the binary.
func runConfig(args []string) (*config.File, []string, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	var packFlags stringList
	fs.Var(&packFlags, "pack", "osquery pack file or directory of *.conf (repeatable)")
	resultsLog := fs.String("results-log", "", "append osquery result lines to this file (default stdout)")
	socket := fs.String("socket", "", "control socket path")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(positional) != 0 {
		return nil, nil, usageError{fmt.Sprintf("run takes no arguments (got %q)", positional[0])}
	}
	if err := needLiveCollectionPrivileges(); err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return nil, nil, err
	}
	if *socket != "" {
		cfg.Stagewatch.Socket = *socket
	}
	if *resultsLog != "" {
		cfg.Stagewatch.ResultsLog = *resultsLog
	}
	packPaths := []string(packFlags)
	if len(packPaths) == 0 {
		packPaths = cfg.Stagewatch.Packs
	}
	if len(packPaths) == 0 {
		packPaths = defaultPacks()
	}
	return cfg, packPaths, nil
}

// runningDaemon is a running `stagewatchd run`: the analytics, the engine over
// their tables, the pack scheduler and the control socket.
type runningDaemon struct {
	logger    hclog.Logger
	host      *host.Host
	engine    *sqlengine.Engine
	scheduler *packs.Scheduler
	server    *control.Server
	stopRun   context.CancelFunc
	serveErr  chan error
	schedDone chan error
}

// startRunning starts the parts in order; what started is stopped again
// when a later part fails.
func startRunning(ctx context.Context, cfg *config.File, loaded []*packs.Pack, out io.Writer, logger hclog.Logger, stderr io.Writer) (_ *runningDaemon, err error) {
	d := &runningDaemon{logger: logger}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	// The state directory holds the packs' differential results and, one
	// directory per analytic, what each keeps across restarts; the
	// extension keeps its own beside it, never the same files.
	stateDir := filepath.Join(cfg.Stagewatch.StateDir, "packs")
	analyticsDir := filepath.Join(cfg.Stagewatch.StateDir, StateName)
	for _, dir := range []string{cfg.Stagewatch.StateDir, stateDir, analyticsDir} {
		if err := safepath.OwnDir(dir, 0o700); err != nil {
			return nil, fmt.Errorf("state directory %w", err)
		}
	}
	if d.host, err = host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeLive, Logger: logger, StateDir: analyticsDir, Declared: registry.Tables()}); err != nil {
		return nil, err
	}
	if d.engine, err = sqlengine.Open(ctx, d.host, sqlengine.Options{QueryTimeout: queryBound(cfg)}); err != nil {
		return nil, err
	}
	d.scheduler, err = packs.NewScheduler(packs.SchedulerOptions{
		Engine:         d.engine,
		Packs:          loaded,
		Platform:       runtime.GOOS,
		HostIdentifier: cfg.Stagewatch.HostIdentifier,
		Decorations:    cfg.Stagewatch.Decorations,
		Out:            out,
		StateDir:       stateDir,
		Logger:         newSlog(stderr),
	})
	if err != nil {
		return nil, err
	}
	if d.server, err = control.Listen(control.ServerOptions{Path: cfg.Stagewatch.Socket, Logger: logger}, d.engine); err != nil {
		return nil, err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	d.stopRun = stopRun
	d.serveErr, d.schedDone = make(chan error, 1), make(chan error, 1)
	go func() { d.serveErr <- d.server.Serve() }()
	go func() { d.schedDone <- d.scheduler.Run(runCtx) }()
	logger.Info(fmt.Sprintf("serving %d tables on %s; %d scheduled queries; results to %s",
		len(d.host.Tables()), d.server.Path(), len(d.scheduler.Scheduled()), describeResults(cfg.Stagewatch.ResultsLog)))
	return d, nil
}

// serve waits for a signal (ctx) or the control socket to fail, then for
// the scheduler to finish its current query; it returns why it stopped, if
// that was a failure.
func (d *runningDaemon) serve(ctx context.Context) error {
	var runErr error
	select {
	case <-ctx.Done():
		d.logger.Info("signal received, shutting down")
	case err := <-d.serveErr:
		runErr = fmt.Errorf("control socket: %w", err)
	}
	// Stop taking work first (socket, schedule), then the engine, then the
	// plugins, which get to remove their kernel state before exiting.
	d.stopRun()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := d.server.Close(shutdownCtx); err != nil {
		d.logger.Warn("control socket close: " + err.Error())
	}
	if err := <-d.schedDone; err != nil && !errors.Is(err, context.Canceled) && runErr == nil {
		runErr = fmt.Errorf("scheduler: %w", err)
	}
	return runErr
}

// stop closes the engine and the plugins, those that started.
func (d *runningDaemon) stop() {
	if d.engine != nil {
		if err := d.engine.Close(); err != nil {
			d.logger.Warn("sql engine close: " + err.Error())
		}
	}
	if d.host != nil {
		if err := d.host.Close(); err != nil {
			d.logger.Warn("plugins close: " + err.Error())
		}
	}
}

// loadPacks reads the pack files given, or with none the DET0014 pack
// built into the binary.
func loadPacks(paths []string) ([]*packs.Pack, error) {
	if len(paths) > 0 {
		return packs.LoadPacks(paths)
	}
	p, err := packs.ParsePack(builtinpacks.DET0014Name, builtinpacks.DET0014)
	if err != nil {
		return nil, fmt.Errorf("built-in pack: %w", err)
	}
	p.Path = "built in"
	return []*packs.Pack{p}, nil
}

// reopenOnHangup reopens the results log on each SIGHUP until ctx ends.
func reopenOnHangup(ctx context.Context, hangup <-chan os.Signal, results *resultlog.Log, logger hclog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangup:
		}
		if results == nil {
			logger.Info("SIGHUP: results go to stdout, nothing to reopen")
			continue
		}
		if err := results.Reopen(); err != nil {
			logger.Warn("SIGHUP: results log not reopened: " + err.Error())
		} else {
			logger.Info("SIGHUP: results log " + results.Path() + " reopened")
		}
	}
}

// newSlog is the scheduler's and the results log's logger, on stderr.
func newSlog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(visibleWriter{stderr}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// defaultPacks returns the packs directory next to the install (the build
// tree's ../packs for build/stagewatchd), else the system one, if present.
func defaultPacks() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "..", "packs"))
	}
	dirs = append(dirs, SystemPacksDir)
	for _, dir := range dirs {
		if matches, _ := filepath.Glob(filepath.Join(dir, "*.conf")); len(matches) > 0 {
			return matches
		}
	}
	return nil
}

func describeConfigPath(p string) string {
	if p == "" {
		return "defaults"
	}
	return p
}

func describeResults(p string) string {
	if p == "" {
		return "stdout"
	}
	return p
}
