package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/internal/view"
)

// uidPattern is what a detection uid (or the prefix of one) looks like;
// anything else never reaches SQL.
var uidPattern = regexp.MustCompile(`^[0-9A-Za-z_.:-]{4,128}$`)

// cmdExplain prints one detection's whole story: its block and its
// evidence as a timeline, from the running daemon or from a replay's
// saved output (--from). A unique prefix of the uid is enough.
func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	configPath := fs.String("config", "", "configuration file")
	socket := fs.String("socket", "", "control socket of a running stagewatchd")
	local := fs.Bool("local", false, "with no daemon, run the plugins for this query")
	from := fs.String("from", "", "a replay's saved output (JSON lines) or a query's JSON array, instead of the daemon (- for stdin)")
	format := fs.String("format", formatTimeline, "timeline, table, json, timesketch, ecs or ocsf")
	positional, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || !uidPattern.MatchString(positional[0]) {
		return usageError{"explain takes one detection uid (or a unique prefix of one, 4 characters or more)"}
	}
	if err := checkOutputFormat("--format", *format); err != nil {
		return err
	}
	uid := positional[0]
	var dets []view.Detection
	if *from != "" {
		dets, err = readSaved(*from, stderr)
		if err != nil {
			return err
		}
	} else {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		if *socket == "" {
			*socket = cfg.Stagewatch.Socket
		}
		// uidPattern keeps quotes and wildcards out.
		sql := "SELECT * FROM staging_detections WHERE uid LIKE '" + uid + "%'"
		resp, err := control.NewClient(*socket).Query(ctx, sql)
		if errors.Is(err, control.ErrNoDaemon) {
			if !*local {
				return noDaemon(err)
			}
			resp, err = queryOnce(ctx, cfg, newLogger(stderr, hclog.Warn), sql)
		}
		if err != nil {
			return err
		}
		for _, r := range resp.Rows {
			d, err := view.FromMap(r)
			if err != nil {
				return err
			}
			dets = append(dets, d)
		}
	}
	var match []view.Detection
	for _, d := range dets {
		if d.UID == uid {
			match = []view.Detection{d}
			break
		}
		if strings.HasPrefix(d.UID, uid) {
			match = append(match, d)
		}
	}
	switch {
	case len(match) == 0:
		return fmt.Errorf("no detection %s", uid)
	case len(match) > 1 && match[0].UID != uid:
		var uids []string
		for _, d := range match {
			uids = append(uids, d.UID)
		}
		return fmt.Errorf("%s names %d detections (%s): give more of the uid", uid, len(match), strings.Join(uids, ", "))
	}
	if *format == formatJSON {
		out, err := json.Marshal(match[0].Raw())
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	return writeViews(stdout, *format, match)
}

// readSaved reads detections from a saved output file, with progress on a
// terminal's stderr for a big one.
func readSaved(name string, stderr io.Writer) ([]view.Detection, error) {
	var r io.Reader = os.Stdin
	var total int64
	if name != "-" {
		f, err := openRegular(name)
		if err != nil {
			return nil, err
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
	dets, err := view.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return dets, nil
}

// isSavedOutput reports whether a file holds detections (replay's JSON
// lines, or query's array of them) rather than a recorded log: its first
// object has staging_detections' detection_id and uid.
func isSavedOutput(name string) bool {
	f, err := openRegular(name)
	if err != nil {
		return false
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	line, _ := br.ReadBytes('\n')
	line = bytes.TrimSpace(line)
	line = bytes.TrimPrefix(line, []byte("["))
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		// A query's array puts its first row on the next line.
		more, _ := br.ReadBytes('\n')
		line = bytes.TrimSpace(more)
	}
	line = bytes.TrimSuffix(line, []byte(","))
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return false
	}
	_, a := obj["detection_id"]
	_, b := obj["uid"]
	_, c := obj["evidence"]
	return a && b && c
}
