// Package view renders staging detections for people and for other tools:
// a terminal story (a block per detection and its evidence as a timeline),
// a one-file HTML report, and exports for Timesketch, Elastic Common
// Schema and OCSF. It reads detections as rows of staging_detections, the
// columns every analytic fills, so a new analytic (AN0043 AWS, AN0044
// ESXi) needs nothing here: the same columns, its own techniques.
package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Detection is one row of staging_detections, typed.
type Detection struct {
	Time        time.Time
	DetectionID string
	AnalyticID  string
	TechniqueID string
	Techniques  []string
	Platform    string
	Host        string
	Actor       string
	Process     string
	StagingPath string
	ArchivePath string
	FileCount   int64
	Bytes       int64
	FirstSeen   time.Time
	LastSeen    time.Time
	Severity    string
	Score       int
	Reason      string
	Evidence    []event.Evidence
	UID         string
}

// FromRow reads a detection from a row as the tables serve it (every value
// a string) or as replay prints it (numbers as numbers): get returns a
// column's value as text.
func FromRow(get func(col string) string) (Detection, error) {
	d := Detection{
		DetectionID: get("detection_id"), AnalyticID: get("analytic_id"), TechniqueID: get("technique_id"),
		Platform: get("platform"), Host: get("host"), Actor: get("actor"), Process: get("process"),
		StagingPath: get("staging_path"), ArchivePath: get("archive_path"), Severity: get("severity"),
		Reason: get("reason"), UID: get("uid"),
	}
	d.Time = unixTime(get("time"))
	d.FirstSeen = unixTime(get("first_seen"))
	d.LastSeen = unixTime(get("last_seen"))
	d.FileCount, _ = strconv.ParseInt(get("file_count"), 10, 64)
	d.Bytes, _ = strconv.ParseInt(get("bytes"), 10, 64)
	score, _ := strconv.ParseInt(get("score"), 10, 64)
	d.Score = int(score)
	if ev := get("evidence"); ev != "" {
		if err := json.Unmarshal([]byte(ev), &d.Evidence); err != nil {
			return d, fmt.Errorf("detection %s: evidence: %w", d.UID, err)
		}
	}
	if t := get("techniques"); t != "" {
		if err := json.Unmarshal([]byte(t), &d.Techniques); err != nil {
			return d, fmt.Errorf("detection %s: techniques: %w", d.UID, err)
		}
	}
	if len(d.Techniques) == 0 && d.TechniqueID != "" {
		// A row from before the techniques column.
		d.Techniques = []string{d.TechniqueID}
	}
	return d, nil
}

// FromMap reads a detection from a query result row.
func FromMap(row map[string]string) (Detection, error) {
	return FromRow(func(c string) string { return row[c] })
}

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// Reader reads detections from replay's saved JSON lines, or from a
// query's JSON array of rows, one at a time.
type Reader struct {
	br   *bufio.Reader
	dec  *json.Decoder
	line int
}

// NewReader reads r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 1<<20)} }

// Next returns the next detection, io.EOF at the end.
func (r *Reader) Next() (Detection, error) {
	if r.dec != nil {
		return r.nextInArray()
	}
	for {
		line, err := r.br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return Detection{}, err
		}
		r.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if line[0] == '[' && r.line == 1 {
			// A query's output: one JSON array of row objects.
			rest := io.MultiReader(bytes.NewReader(line), bytes.NewReader([]byte{'\n'}), r.br)
			r.dec = json.NewDecoder(rest)
			if _, err := r.dec.Token(); err != nil {
				return Detection{}, err
			}
			return r.nextInArray()
		}
		return decodeObject(line, r.line)
	}
}

func (r *Reader) nextInArray() (Detection, error) {
	if !r.dec.More() {
		return Detection{}, io.EOF
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return Detection{}, err
	}
	return decodeObject(raw, 0)
}

func decodeObject(data []byte, line int) (Detection, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		if line > 0 {
			return Detection{}, fmt.Errorf("line %d: %w", line, err)
		}
		return Detection{}, err
	}
	return FromRow(func(c string) string {
		v, ok := obj[c]
		if !ok {
			return ""
		}
		if len(v) > 0 && v[0] == '"' {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
		}
		if string(v) == "null" {
			return ""
		}
		return string(v)
	})
}

// ReadAll reads every detection of r.
func ReadAll(r io.Reader) ([]Detection, error) {
	var out []Detection
	rd := NewReader(r)
	for {
		d, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
}

// Raw is the detection as a staging_detections row in replay's JSON form
// (columns as keys, numbers as numbers).
func (d *Detection) Raw() map[string]any {
	ev, _ := json.Marshal(d.Evidence)
	if d.Evidence == nil {
		ev = []byte("[]")
	}
	tech, _ := json.Marshal(d.Techniques)
	return map[string]any{
		"time": d.Time.Unix(), "detection_id": d.DetectionID, "analytic_id": d.AnalyticID, "technique_id": d.TechniqueID,
		"platform": d.Platform, "host": d.Host, "actor": d.Actor, "process": d.Process, "staging_path": d.StagingPath,
		"archive_path": d.ArchivePath, "file_count": d.FileCount, "bytes": d.Bytes, "first_seen": d.FirstSeen.Unix(),
		"last_seen": d.LastSeen.Unix(), "severity": d.Severity, "score": d.Score, "reason": d.Reason,
		"evidence": string(ev), "uid": d.UID, "techniques": string(tech),
	}
}

// Tools are the programs the evidence shows at work, in order of first
// appearance: the archiver, the copy tool, the script.
func (d *Detection) Tools() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range d.Evidence {
		name := baseName(e.Process)
		if name == "" {
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[i+1:]
		}
	}
	return p
}
