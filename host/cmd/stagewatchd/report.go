package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/view"
)

// cmdReport writes the one-file HTML report of detections read from
// saved outputs (replay's JSON lines, query's arrays) or replayed from
// recorded logs through --analytic, in one run.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	out := fs.String("html", "", "the HTML file to write")
	analytic := fs.String("analytic", "", "replay the recorded logs among the inputs through this analytic (ANxxxx)")
	format := fs.String("format", "", "input format of the recorded logs (empty: the plugin recognises it)")
	title := fs.String("title", "", "the report's title")
	inputs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return usageError{"report needs --html FILE"}
	}
	if len(inputs) == 0 {
		return usageError{"report needs at least one INPUT: a replay's saved output, or recorded logs with --analytic"}
	}
	if *analytic != "" && !analyticIDPattern.MatchString(*analytic) {
		return usageError{fmt.Sprintf("--analytic %q is not an analytic id (ANxxxx)", *analytic)}
	}
	var saved, logs []string
	for _, in := range inputs {
		if in != "-" && isSavedOutput(in) {
			saved = append(saved, in)
		} else {
			logs = append(logs, in)
		}
	}
	if len(logs) > 0 && *analytic == "" {
		return usageError{fmt.Sprintf("%s: not a saved output of detections; recorded logs need --analytic ANxxxx", visible(logs[0]))}
	}
	var dets []view.Detection
	for _, name := range saved {
		d, err := readSaved(name, stderr)
		if err != nil {
			return err
		}
		dets = append(dets, d...)
	}
	var unreadable []string
	if len(logs) > 0 {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		rows, bad, err := replayRows(ctx, cfg, *analytic, *format, "", logs, stderr)
		if err != nil {
			return err
		}
		unreadable = bad
		for _, r := range rows {
			d, err := view.FromMap(r)
			if err != nil {
				return err
			}
			dets = append(dets, d)
		}
	}
	sortViews(dets)
	dets = dedupe(dets)
	if err := writeReportFile(*out, dets, view.ReportOptions{Title: *title, Generated: time.Now(), Sources: baseNames(inputs), Product: product()}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d detections\n", visible(*out), len(dets))
	if len(unreadable) > 0 {
		return fmt.Errorf("could not read %s", strings.Join(unreadable, ", "))
	}
	return nil
}

// dedupe keeps the last of each uid: a detection updated later (more
// files) is one detection, as staging_detections keeps it.
func dedupe(dets []view.Detection) []view.Detection {
	last := map[string]int{}
	for i, d := range dets {
		last[d.UID] = i
	}
	out := dets[:0]
	for i, d := range dets {
		if last[d.UID] == i {
			out = append(out, d)
		}
	}
	return out
}

// writeReportFile writes the report beside its final name and renames it
// into place, so a reader never sees half a report.
func writeReportFile(name string, dets []view.Detection, opt view.ReportOptions) error {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, ".stagewatch-report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := view.WriteHTML(tmp, dets, opt); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
