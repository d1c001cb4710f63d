package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/host/sqlengine"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/view"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func cmdQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	socket := fs.String("socket", "", "control socket of a running stagewatchd")
	local := fs.Bool("local", false, "with no daemon, run the plugins for this query")
	format := fs.String("format", "", "json, table, timeline (staging_detections rows), timesketch, ecs or ocsf (default: a table on a terminal, a JSON array otherwise)")
	fs.StringVar(format, "output", "", "the same as --format")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutputFormat("--format", *format); err != nil {
		return err
	}
	if len(positional) != 1 || positional[0] == "" {
		return usageError{"query takes exactly one SQL statement (quote it)"}
	}
	sql := positional[0]
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *socket == "" {
		*socket = cfg.Stagewatch.Socket
	}

	resp, err := control.NewClient(*socket).Query(ctx, sql)
	if errors.Is(err, control.ErrNoDaemon) {
		if !*local {
			return noDaemon(err)
		}
		if isTerminal(stderr) {
			// A person expecting collected rows should know why there are none.
			fmt.Fprintf(stderr, "stagewatchd is not running (no daemon on %s): the plugins answer this query alone, and live tables stay empty until `stagewatchd run` collects.\n", *socket)
		}
		resp, err = queryOnce(ctx, cfg, newLogger(stderr, hclog.Warn), sql)
	}
	if err != nil {
		return err
	}
	return writeQueryResult(stdout, *format, resp.Columns, resp.Rows)
}

// writeQueryResult prints a query's rows: as detections (a timeline on a
// terminal) when they are staging_detections' rows, else as a grid on a
// terminal; a JSON array when piped or asked for.
func writeQueryResult(w io.Writer, format string, columns []string, rows []map[string]string) error {
	detections := isDetectionsResult(columns)
	switch {
	case format == formatJSON:
		return writeRows(w, columns, rows, false)
	case format == "" && !isTerminal(w):
		return writeRows(w, columns, rows, false)
	case format == "" && !detections, format == formatTable && !detections:
		return writeRows(w, columns, rows, true)
	case !detections:
		return usageError{fmt.Sprintf("--format %s draws staging_detections rows; this result's columns are not theirs (select * from staging_detections)", format)}
	}
	if format == "" {
		format = formatTimeline
	}
	dets := make([]view.Detection, 0, len(rows))
	for _, r := range rows {
		d, err := view.FromMap(r)
		if err != nil {
			return err
		}
		dets = append(dets, d)
	}
	return writeViews(w, format, dets)
}

func cmdTables(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	socket := fs.String("socket", "", "control socket of a running stagewatchd")
	local := fs.Bool("local", false, "with no daemon, ask the plugins")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 0 {
		return usageError{"tables takes no arguments"}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *socket == "" {
		*socket = cfg.Stagewatch.Socket
	}
	tables, err := control.NewClient(*socket).Tables(ctx)
	if errors.Is(err, control.ErrNoDaemon) {
		if !*local {
			return noDaemon(err)
		}
		var h *host.Host
		h, err = host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeQuery, Logger: newLogger(stderr, hclog.Warn)})
		if err == nil {
			tables = control.TablesToWire(h.Tables())
			err = h.Close()
		}
	}
	if err != nil {
		return err
	}
	return writeTables(stdout, tables, isTerminal(stdout))
}

// noDaemon is the error of query and tables when nothing serves the socket
// and --local was not given: a script must not read "no rows" from a daemon
// that is not running.
func noDaemon(err error) error {
	return fmt.Errorf("%w: stagewatchd run is not running there (or left a stale socket); start it, or pass --local to run the plugins for this one call (live tables are then empty)", err)
}

// queryOnce runs the plugins in query mode for one statement.
func queryOnce(ctx context.Context, cfg *config.File, logger hclog.Logger, sql string) (control.QueryResponse, error) {
	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeQuery, Logger: logger})
	if err != nil {
		return control.QueryResponse{}, err
	}
	defer h.Close()
	engine, err := sqlengine.Open(ctx, h, sqlengine.Options{QueryTimeout: queryBound(cfg)})
	if err != nil {
		return control.QueryResponse{}, err
	}
	defer engine.Close()
	cols, rows, err := engine.Query(ctx, sql)
	if err != nil {
		return control.QueryResponse{}, err
	}
	return control.QueryResponse{Columns: cols, Rows: rows}, nil
}

// queryBound is the whole query's bound: the plugin calls inside it are
// bounded by query_timeout each, and SQLite may scan several tables.
func queryBound(cfg *config.File) time.Duration {
	return 3 * cfg.Stagewatch.QueryTimeout
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
