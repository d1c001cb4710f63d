package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/safepath"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var analyticIDPattern = regexp.MustCompile(`^AN[0-9]{4}$`)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	analytic := fs.String("analytic", "", "analytic id, e.g. AN0041")
	format := fs.String("format", "", "output: json, table, timeline, timesketch, ecs or ocsf (default: timeline on a terminal, json otherwise)")
	inputFormat := fs.String("input-format", "", "input format (empty: the plugin recognises it by its content)")
	stateDir := fs.String("state-dir", "", "keep what the replay read in this directory and read it back first (default: nothing kept)")
	output := fs.String("output", "", "the same as --format")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	// --format names the output, as for query and explain. An input
	// format's name given to it (auditd, evtx, winxml…: what --format meant
	// for replay before the output had forms) is taken as --input-format,
	// so scripts written then still work; inputs are recognised by content
	// anyway.
	if *format != "" && checkOutputFormat("--format", *format) != nil && *inputFormat == "" {
		*inputFormat, *format = *format, ""
	}
	if *output == "" {
		*output = *format
	} else if *format != "" && *format != *output {
		return usageError{fmt.Sprintf("--format %q and --output %q disagree", *format, *output)}
	}
	if err := checkOutputFormat("--format", *output); err != nil {
		return err
	}
	if *analytic == "" {
		return usageError{"replay needs --analytic ANxxxx"}
	}
	if !analyticIDPattern.MatchString(*analytic) {
		return usageError{fmt.Sprintf("--analytic %q is not an analytic id (ANxxxx)", *analytic)}
	}
	if len(files) == 0 {
		return usageError{"replay needs at least one FILE"}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	rows, unreadable, err := replayRows(ctx, cfg, *analytic, *inputFormat, *stateDir, files, stderr)
	if err != nil {
		return err
	}
	if err := writeDetections(stdout, *output, rows); err != nil {
		return err
	}
	if len(unreadable) > 0 {
		return fmt.Errorf("could not read %s", strings.Join(unreadable, ", "))
	}
	return nil
}

// replayRows feeds files through the analytic and returns its detection
// rows, sorted, and the files it could not read.
func replayRows(ctx context.Context, cfg *config.File, analytic, format, stateDir string, files []string, stderr io.Writer) ([]sdk.Row, []string, error) {
	opts := host.Options{Config: cfg, Mode: sdk.ModeReplay, Only: analytic, Logger: newLogger(stderr, hclog.Warn)}
	if stateDir != "" {
		// Replays of another machine's logs never mix with live state:
		// only a directory named here is used.
		if err := safepath.OwnDir(stateDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("--state-dir %w", err)
		}
		opts.StateDir = stateDir
	}
	h, err := host.New(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	plugin, err := h.Analytic(analytic)
	if err != nil {
		return nil, nil, err
	}

	// Every file is tried even after one fails, so one run names every
	// unreadable file; the status then says the replay was incomplete.
	var unreadable []string
	for _, name := range files {
		stats, err := ingestFile(ctx, plugin, name, format, stderr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("interrupted while reading %s: %w", name, ctx.Err())
			}
			fmt.Fprintf(stderr, "%s: not read: %s\n", visible(name), visibleText(err.Error()))
			unreadable = append(unreadable, name)
			continue
		}
		// The name may come from a glob over a hostile directory, the first
		// error quotes the log: both made visible.
		fmt.Fprintf(stderr, "%s: %d bytes, %d records, %d events, %d parse errors, %d detections%s\n",
			visible(name), stats.Bytes, stats.Records, stats.Events, stats.ParseErrors, stats.Detections, firstError(stats))
	}

	var rows []sdk.Row
	err = h.Generate(ctx, schema.Detections, nil, func(batch []sdk.Row) error {
		rows = append(rows, batch...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rowjson.SortDetections(rows)
	return rows, unreadable, nil
}

func ingestFile(ctx context.Context, a sdk.Analytic, name, format string, stderr io.Writer) (sdk.IngestStats, error) {
	var r io.Reader
	var total int64
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := openRegular(name)
		if err != nil {
			return sdk.IngestStats{}, err
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil {
			total = info.Size()
		}
		r = f
	}
	if isTerminal(stderr) {
		p := startProgress(stderr, visible(name), total)
		defer p.finish()
		r = p.reader(r)
	}
	return a.Ingest(ctx, name, format, &cancelableReader{ctx: ctx, r: r})
}

// openRegular opens a recorded log, refusing what is not a regular file
// before opening it: opening a FIFO waits for a writer that may never come,
// and opening a device can act on it. It opens without blocking where the
// platform can (openNonBlock) and checks the open file again, so a path
// swapped for a FIFO between the check and the open is refused as well,
// not waited on.
func openRegular(name string) (*os.File, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if err := regularFile(info); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil, err
	}
	if info, err = f.Stat(); err == nil {
		err = regularFile(info)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func regularFile(info fs.FileInfo) error {
	var what string
	switch m := info.Mode(); {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errors.New("is a directory")
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeCharDevice != 0:
		what = "a character device"
	case m&fs.ModeDevice != 0:
		what = "a block device"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("is %s: replay reads regular files, or - for standard input", what)
}

// cancelableReader ends a Read that blocks (stdin with no writer, a stalled
// network file system) when ctx ends, so SIGINT and SIGTERM stop a replay:
// each read runs in a goroutine of its own, and Read returns ctx's error
// when ctx ends first. The abandoned read keeps its goroutine and buffer
// until it returns or the process exits, which follows at once.
type cancelableReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

type readResult struct {
	data []byte
	err  error
}

func (c *cancelableReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	done := make(chan readResult, 1)
	go func(buf []byte) {
		n, err := c.r.Read(buf)
		done <- readResult{buf[:n], err}
	}(make([]byte, len(p)))
	select {
	case res := <-done:
		return copy(p, res.data), res.err
	case <-c.ctx.Done():
		c.err = c.ctx.Err()
		return 0, c.err
	}
}

func firstError(s sdk.IngestStats) string {
	if s.FirstError == "" {
		return ""
	}
	return " (first: " + visibleText(s.FirstError) + ")"
}
