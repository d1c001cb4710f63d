// Command stagewatchd runs stagewatch's analytics without osquery: live with
// the built-in SQL engine and pack scheduler (run), over recorded logs
// (replay), or for one query (query, tables).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host/supervisor"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/version"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const usageText = `stagewatchd: data staging detection (MITRE ATT&CK T1074, DET0014)

Usage:
  stagewatchd run [--config FILE] [--pack FILE]... [--results-log FILE] [--socket PATH]
      Live: load this platform's plugins, schedule the packs, write osquery
      result lines to --results-log (appended) or stdout, serve the control
      socket. Runs until SIGINT or SIGTERM; SIGHUP reopens the results log.
      Needs root.
  stagewatchd replay --analytic ANxxxx [--config FILE] [--format FORMAT] [--output FORM] FILE...
      Offline: feed recorded logs (regular files; - for stdin) through that
      analytic's plugin and print one JSON object per detection
      (staging_detections columns); on a terminal, each detection and its
      evidence as a timeline instead. --format is the logs' format;
      --output FORM is json, table, timeline, timesketch, ecs or ocsf.
      Per-file counts go to stderr; a FIFO, a device or a socket is refused
      by name. SIGINT or SIGTERM stops it.
  stagewatchd query [--config FILE] [--socket PATH] [--local] [--format FORM] 'SQL'
      One reading query (SELECT, WITH, EXPLAIN, VALUES), asked of the running
      daemon. With no daemon on the socket it fails, unless --local: then the
      plugins run for this query alone (live tables are empty). A table on a
      terminal, with control characters and invalid UTF-8 shown as escapes
      (\x1b, \u009b, \xff; a backslash as \\), exact JSON otherwise;
      staging_detections rows as timelines on a terminal. --format json,
      table, timeline, timesketch, ecs or ocsf chooses.
  stagewatchd explain [--from FILE] [--format FORM] UID
      One detection's whole story (a unique prefix of its uid will do),
      from the running daemon or from a replay's saved output (--from).
  stagewatchd report --html FILE [--analytic ANxxxx] INPUT...
      One self-contained HTML report of the detections in replay's saved
      outputs, or replayed from recorded logs with --analytic.
  stagewatchd tables [--config FILE] [--socket PATH] [--local]
      The tables and their columns (same daemon and output rules as query).
  stagewatchd version
  stagewatchd help

The configuration is --config, else $STAGEWATCH_CONFIG, else
/etc/stagewatch/stagewatch.yaml (all defaults when that file is missing).
`

// usageError is a command-line mistake: usage is printed, exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	// Started by the host as one of its own built-in plugins.
	if supervisor.ServeBuiltin(os.Args[1:]) {
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "replay":
		err = cmdReplay(ctx, rest, stdout, stderr)
	case "query":
		err = cmdQuery(ctx, rest, stdout, stderr)
	case "tables":
		err = cmdTables(ctx, rest, stdout, stderr)
	case "explain":
		err = cmdExplain(ctx, rest, stdout, stderr)
	case "report":
		err = cmdReport(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		if len(rest) > 0 {
			err = usageError{"version takes no arguments"}
			break
		}
		fmt.Fprintf(stdout, "stagewatchd %s\n", version.Version)
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usageText)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "stagewatchd: %s\n\n%s", visibleText(ue.msg), usageText)
		return exitUsage
	default:
		// Errors quote SQL, table names, file names and plugins' words.
		fmt.Fprintf(stderr, "stagewatchd %s: %s\n", visible(args[0]), visibleText(err.Error()))
		return exitError
	}
}

// parseFlags parses flags wherever they appear among the positional
// arguments (`query 'SQL' --config f` works as well as the other order);
// "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag stops at "--" or the first positional argument; only the
		// latter may be followed by more flags.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func loadConfig(path string) (*config.File, error) {
	return config.Load(path)
}

// newLogger logs to stderr. The one-shot commands log warnings only: their
// stdout is the product and stderr should carry what needs attention.
// hclog escapes the values of a line but not its message, which carries
// plugin names, errors and what plugins log: the output is made visible.
func newLogger(stderr io.Writer, level hclog.Level) hclog.Logger {
	if env := os.Getenv("STAGEWATCH_LOG_LEVEL"); env != "" {
		level = hclog.LevelFromString(env)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "stagewatchd", Output: visibleWriter{stderr}, Level: level})
}
