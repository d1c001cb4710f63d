package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/host/packs"
	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/internal/version"
	builtinpacks "github.com/stagewatch/stagewatch/packs"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// SystemPacksDir is where packages install the packs when they are not
// next to the executable.
const SystemPacksDir = "/usr/local/share/stagewatch/packs"

// shutdownGrace bounds the wait for control requests in flight at exit.
const shutdownGrace = 5 * time.Second

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	var packFlags stringList
	fs.Var(&packFlags, "pack", "osquery pack file or directory of *.conf (repeatable)")
	resultsLog := fs.String("results-log", "", "append osquery result lines to this file (default stdout)")
	socket := fs.String("socket", "", "control socket path")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 0 {
		return usageError{fmt.Sprintf("run takes no arguments (got %q)", positional[0])}
	}
	if err := needLiveCollectionPrivileges(); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
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
	if cfg.Stagewatch.ResultsLog != "" {
		f, err := openResultsLog(cfg.Stagewatch.ResultsLog)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}

	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeLive, Logger: logger})
	if err != nil {
		return err
	}
	defer h.Close()
	engine, err := sqlengine.Open(ctx, h, sqlengine.Options{QueryTimeout: queryBound(cfg)})
	if err != nil {
		return err
	}
	defer engine.Close()

	stateDir := filepath.Join(cfg.Stagewatch.StateDir, "packs")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		logger.Warn(fmt.Sprintf("pack state dir %s: %v; differential state kept in memory only", stateDir, err))
		stateDir = ""
	}
	scheduler, err := packs.NewScheduler(packs.SchedulerOptions{
		Engine:         engine,
		Packs:          loaded,
		Platform:       runtime.GOOS,
		HostIdentifier: cfg.Stagewatch.HostIdentifier,
		Decorations:    cfg.Stagewatch.Decorations,
		Out:            out,
		StateDir:       stateDir,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}

	server, err := control.Listen(control.ServerOptions{Path: cfg.Stagewatch.Socket, Logger: logger}, engine)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve() }()
	schedDone := make(chan error, 1)
	go func() { schedDone <- scheduler.Run(runCtx) }()
	logger.Info(fmt.Sprintf("serving %d tables on %s; %d scheduled queries; results to %s",
		len(h.Tables()), server.Path(), len(scheduler.Scheduled()), describeResults(cfg.Stagewatch.ResultsLog)))

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("signal received, shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("control socket: %w", err)
	}
	// Stop taking work first (socket, schedule), then the engine, then the
	// plugins, which get to remove their kernel state before exiting.
	stopRun()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Close(shutdownCtx); err != nil {
		logger.Warn("control socket close: " + err.Error())
	}
	if err := <-schedDone; err != nil && !errors.Is(err, context.Canceled) && runErr == nil {
		runErr = fmt.Errorf("scheduler: %w", err)
	}
	if err := engine.Close(); err != nil {
		logger.Warn("sql engine close: " + err.Error())
	}
	if err := h.Close(); err != nil {
		logger.Warn("plugins close: " + err.Error())
	}
	if runErr != nil {
		return runErr
	}
	logger.Info("stopped")
	return nil
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

func openResultsLog(path string) (*os.File, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("results log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("results log: %w", err)
	}
	return f, nil
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
