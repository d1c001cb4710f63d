// Package fault is a small but real analytic whose configuration makes it
// misbehave on purpose (hang, crash, fail, flood), so hosts can be tested
// against plugins that do. Its staging_detections rows are synthetic but
// valid: row i has time BaseTime+i, so time constraints can be checked.
package fault

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

const (
	// AnalyticID is outside AN0040..AN0044 so it never passes for a real one.
	AnalyticID = "AN9999"
	Platform   = "test"
	Version    = "1.0.0"
	// BaseTime is the time of row 0, unix seconds.
	BaseTime = 1_700_000_000
	// CrashStatus is the exit status of a deliberate crash.
	CrashStatus = 3
	// emitRows is larger than the SDK's default batch on purpose, so the
	// server side has to split emits.
	emitRows = 1000
)

// Analytic is the faulty analytic. The zero value is not ready; use New.
type Analytic struct {
	mu      sync.Mutex
	config  Config
	host    string
	started time.Time

	generateCalls uint64
	rowsEmitted   uint64
	recordsRead   uint64

	// rows holds the first rows once built, as a real analytic's store
	// holds its rows between queries; a query then costs what crossing
	// the boundaries costs, which is what this analytic is used to measure.
	rows []sdk.Row
}

// cachedRows bounds the rows kept built.
const cachedRows = 100_000

// New returns the analytic with the default configuration.
func New() *Analytic { return &Analytic{config: DefaultConfig, host: "faulty-host"} }

var _ sdk.Analytic = (*Analytic)(nil)

func (a *Analytic) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		AnalyticID:      AnalyticID,
		DetectionID:     schema.DetectionID,
		TechniqueID:     schema.TechniqueLocal,
		Platform:        Platform,
		Version:         Version,
		Name:            "Faulty test analytic",
		Description:     "Serves synthetic staging_detections rows and misbehaves on request; for testing hosts.",
		MutableElements: Elements,
		Tables:          []sdk.TableSpec{schema.DetectionsTable},
		InputFormats:    []string{"lines"},
	}
}

func (a *Analytic) Configure(_ context.Context, req sdk.ConfigureRequest) (json.RawMessage, error) {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.config = cfg
	if req.HostIdentifier != "" {
		a.host = req.HostIdentifier
	}
	a.rows = nil
	return cfg.Effective(), nil
}

func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	a.started = time.Now()
	crashAfter := a.config.CrashAfterStart
	a.mu.Unlock()
	if crashAfter > 0 {
		go func() {
			select {
			case <-time.After(crashAfter):
				fmt.Fprintf(os.Stderr, "%s: crashing %s after start, as configured\n", AnalyticID, crashAfter)
				os.Exit(CrashStatus)
			case <-ctx.Done():
			}
		}()
	}
	return nil
}

func (a *Analytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	if table != schema.Detections {
		return fmt.Errorf("%s provides no table %q", AnalyticID, table)
	}
	a.mu.Lock()
	cfg, host := a.config, a.host
	a.generateCalls++
	a.mu.Unlock()

	switch {
	case cfg.CrashOnGenerate:
		fmt.Fprintf(os.Stderr, "%s: crashing in Generate, as configured\n", AnalyticID)
		os.Exit(CrashStatus)
	case cfg.FailGenerate != "":
		return errors.New(cfg.FailGenerate)
	case cfg.HangGenerate:
		<-ctx.Done()
		if cfg.IgnoreCancel {
			select {}
		}
		return ctx.Err()
	}

	first, last := TimeRange(cfg.Rows, constraints)
	built := a.builtRows(cfg, host)
	batch := make([]sdk.Row, 0, emitRows)
	for i := first; i <= last; i++ {
		if i < int64(len(built)) {
			batch = append(batch, built[i])
		} else {
			batch = append(batch, detectionRow(i, host, cfg.Description))
		}
		if len(batch) == emitRows || i == last {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(batch); err != nil {
				return err
			}
			a.mu.Lock()
			a.rowsEmitted += uint64(len(batch))
			a.mu.Unlock()
			batch = make([]sdk.Row, 0, emitRows)
		}
	}
	return nil
}

// builtRows returns the first rows of the configuration, building them on
// first use.
func (a *Analytic) builtRows(cfg Config, host string) []sdk.Row {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rows == nil {
		n := min(cfg.Rows, cachedRows)
		a.rows = make([]sdk.Row, n)
		for i := range n {
			a.rows[i] = detectionRow(i, host, cfg.Description)
		}
	}
	return a.rows
}

// TimeRange narrows rows 0..rows-1 to those whose time (BaseTime+i) meets
// every time constraint. Constraints on other columns, or with an
// expression that is not an integer, are left to the SQL engine. An empty
// range has first > last.
func TimeRange(rows int64, constraints []sdk.Constraint) (first, last int64) {
	first, last = 0, rows-1
	for _, c := range constraints {
		if c.Column != "time" {
			continue
		}
		v, err := strconv.ParseInt(c.Expr, 10, 64)
		if err != nil {
			continue
		}
		// Clamping first keeps the offsets below from overflowing.
		offset := min(max(v, BaseTime-1), BaseTime+maxRows+1) - BaseTime
		switch c.Op {
		case sdk.OpEquals:
			first, last = max(first, offset), min(last, offset)
		case sdk.OpGreaterThan:
			first = max(first, offset+1)
		case sdk.OpGreaterThanOrEqual:
			first = max(first, offset)
		case sdk.OpLessThan:
			last = min(last, offset-1)
		case sdk.OpLessThanOrEquals:
			last = min(last, offset)
		}
	}
	return first, last
}

func detectionRow(i int64, host, reason string) sdk.Row {
	t := BaseTime + i
	archive := "/tmp/staging/archive-" + strconv.FormatInt(i, 10) + ".tar.gz"
	files := i%50 + 1
	score := (i * 7) % 101
	severity := "low"
	switch {
	case score >= 70:
		severity = "high"
	case score >= 40:
		severity = "medium"
	}
	evidence, _ := json.Marshal([]event.Evidence{
		{Time: time.Unix(t-30, 0).UTC(), Kind: "move_in", Path: "/tmp/staging/doc-" + strconv.FormatInt(i, 10) + ".pdf", Size: 4096, PID: 4000 + i%1000, Process: "/usr/bin/cp", Actor: "analyst"},
		{Time: time.Unix(t, 0).UTC(), Kind: "exec", PID: 5000 + i%1000, Process: "/usr/bin/tar", Cmdline: "tar -czf " + archive + " /tmp/staging", Actor: "analyst"},
	})
	uid := sha256.Sum256([]byte(AnalyticID + "/" + strconv.FormatInt(i, 10)))
	return sdk.Row{
		"time":         strconv.FormatInt(t, 10),
		"detection_id": schema.DetectionID,
		"analytic_id":  AnalyticID,
		"technique_id": schema.TechniqueLocal,
		"platform":     Platform,
		"host":         host,
		"actor":        "analyst (uid 1000, pts/0)",
		"process":      "/usr/bin/tar -czf " + archive + " /tmp/staging",
		"staging_path": "/tmp/staging",
		"archive_path": archive,
		"file_count":   strconv.FormatInt(files, 10),
		"bytes":        strconv.FormatInt(files*4096, 10),
		"first_seen":   strconv.FormatInt(t-30, 10),
		"last_seen":    strconv.FormatInt(t, 10),
		"severity":     severity,
		"score":        strconv.FormatInt(score, 10),
		"reason":       reason,
		"evidence":     string(evidence),
		"uid":          hex.EncodeToString(uid[:16]),
		"techniques":   `["` + schema.TechniqueLocal + `","T1005","T1560.001"]`,
	}
}

// Ingest counts the bytes and lines of r; every line is a record.
func (a *Analytic) Ingest(ctx context.Context, source, format string, r io.Reader) (sdk.IngestStats, error) {
	if format != "" && format != "lines" {
		return sdk.IngestStats{}, fmt.Errorf("%s: format %q is not supported (lines)", source, format)
	}
	var stats sdk.IngestStats
	reader := bufio.NewReaderSize(r, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		line, err := reader.ReadSlice('\n')
		stats.Bytes += uint64(len(line))
		if len(line) > 0 && (err == nil || err == io.EOF) {
			stats.Records++
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return stats, fmt.Errorf("%s: %w", source, err)
		}
	}
	a.mu.Lock()
	a.recordsRead += stats.Records
	a.mu.Unlock()
	return stats, nil
}

func (a *Analytic) Health(context.Context) sdk.Health {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := sdk.Health{
		State:   sdk.StateConfigured,
		Started: a.started,
		Counters: sdk.Counters{
			EventsSeen: a.recordsRead,
			Detections: a.rowsEmitted,
			Extra:      map[string]uint64{"generate_calls": a.generateCalls},
		},
	}
	if !a.started.IsZero() {
		h.State = sdk.StateRunning
	}
	return h
}
