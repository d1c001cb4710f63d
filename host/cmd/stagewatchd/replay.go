package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var analyticIDPattern = regexp.MustCompile(`^AN[0-9]{4}$`)

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	analytic := fs.String("analytic", "", "analytic id, e.g. AN0041")
	format := fs.String("format", "", "input format (empty: the plugin recognises it)")
	files, err := parseFlags(fs, args)
	if err != nil {
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

	h, err := host.New(ctx, host.Options{Config: cfg, Mode: sdk.ModeReplay, Only: *analytic, Logger: newLogger(stderr, hclog.Warn)})
	if err != nil {
		return err
	}
	defer h.Close()
	plugin, err := h.Analytic(*analytic)
	if err != nil {
		return err
	}

	// Every file is tried even after one fails, so one run names every
	// unreadable file; the status then says the replay was incomplete.
	var unreadable []string
	for _, name := range files {
		stats, err := ingestFile(ctx, plugin, name, *format)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
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
		return err
	}
	rowjson.SortDetections(rows)
	if err := rowjson.WriteLines(stdout, schema.DetectionsTable, rows); err != nil {
		return err
	}
	if len(unreadable) > 0 {
		return fmt.Errorf("could not read %s", strings.Join(unreadable, ", "))
	}
	return nil
}

func ingestFile(ctx context.Context, a sdk.Analytic, name, format string) (sdk.IngestStats, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return sdk.IngestStats{}, err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return sdk.IngestStats{}, err
		}
		if info.IsDir() {
			return sdk.IngestStats{}, errors.New("is a directory")
		}
		r = f
	}
	return a.Ingest(ctx, name, format, r)
}

func firstError(s sdk.IngestStats) string {
	if s.FirstError == "" {
		return ""
	}
	return " (first: " + visibleText(s.FirstError) + ")"
}
