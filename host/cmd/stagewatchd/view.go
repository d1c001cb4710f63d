package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/stagewatch/stagewatch/internal/rowjson"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/version"
	"github.com/stagewatch/stagewatch/internal/view"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Output forms of detections. json is the contract (and what a pipe
// gets); the others are chosen with --output or --format, or, for
// timeline, by stdout being a terminal.
const (
	formatJSON     = "json"
	formatTable    = "table"
	formatTimeline = "timeline"
)

func checkOutputFormat(flag, f string) error {
	switch f {
	case "", formatJSON, formatTable, formatTimeline, view.FormatTimesketch, view.FormatECS, view.FormatOCSF:
		return nil
	}
	return usageError{fmt.Sprintf("%s %q: one of json, table, timeline, timesketch, ecs, ocsf", flag, f)}
}

// colorOK: colour only on a terminal that has it (https://no-color.org).
func colorOK(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	if t := os.Getenv("TERM"); t == "dumb" || t == "" {
		return false
	}
	return isTerminal(w)
}

func textOptions(w io.Writer) view.TextOptions {
	return view.TextOptions{Color: colorOK(w), Escape: visible}
}

func product() view.Product {
	return view.Product{Name: "stagewatch", Vendor: "stagewatch", Version: version.Version}
}

// writeDetections writes detection rows in the chosen form; "" chooses
// timeline on a terminal and the JSON lines contract otherwise.
func writeDetections(w io.Writer, format string, rows []sdk.Row) error {
	if format == "" {
		format = formatJSON
		if isTerminal(w) {
			format = formatTimeline
		}
	}
	if format == formatJSON {
		return rowjson.WriteLines(w, schema.DetectionsTable, rows)
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

func writeViews(w io.Writer, format string, dets []view.Detection) error {
	switch format {
	case formatTable:
		return view.WriteTable(w, dets, textOptions(w))
	case formatTimeline:
		return view.WriteTimeline(w, dets, textOptions(w))
	case formatJSON:
		return fmt.Errorf("internal: json is written from rows")
	}
	return view.WriteExport(w, format, dets, product())
}

// isDetectionsResult reports whether a query's columns are
// staging_detections' own (SELECT * FROM staging_detections, or at least
// the columns a detection's story needs), so it can be drawn as detections.
func isDetectionsResult(columns []string) bool {
	have := map[string]bool{}
	for _, c := range columns {
		have[c] = true
	}
	for _, need := range []string{"uid", "severity", "score", "time", "evidence", "reason"} {
		if !have[need] {
			return false
		}
	}
	return true
}

func sortViews(dets []view.Detection) {
	sort.SliceStable(dets, func(i, j int) bool {
		if !dets[i].Time.Equal(dets[j].Time) {
			return dets[i].Time.Before(dets[j].Time)
		}
		return dets[i].UID < dets[j].UID
	})
}
