// Package store keeps what an endpoint analytic serves as tables: its recent
// file events, process events of interest and detections, each in a bounded
// time-ordered ring, and turns them into rows of the shared tables
// (internal/schema) for a query, honouring time constraints by binary search.
package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Default caps: together with the correlator they keep a plugin well inside
// osquery's 200 MB watchdog budget.
const (
	DefaultMaxFileEvents    = 50000
	DefaultMaxProcessEvents = 20000
	DefaultMaxDetections    = 10000
)

// BatchSize is the number of rows per emit call.
const BatchSize = 512

// Config says whose rows these are and how many to keep.
type Config struct {
	AnalyticID string // analytic_id column of event rows
	Platform   string // platform column of event rows
	Host       string // host column when an event or detection has none

	MaxFileEvents    int // default DefaultMaxFileEvents
	MaxProcessEvents int // default DefaultMaxProcessEvents
	MaxDetections    int // default DefaultMaxDetections
}

// Stats are the store's sizes and what its caps evicted.
type Stats struct {
	FileEvents         int
	ProcessEvents      int
	Detections         int
	FileEvictions      uint64
	ProcessEvictions   uint64
	DetectionEvictions uint64
}

// Evictions is the total of records the caps pushed out.
func (s Stats) Evictions() uint64 {
	return s.FileEvictions + s.ProcessEvictions + s.DetectionEvictions
}

type fileRecord struct {
	ev          event.Event
	stagingPath string
}

type processRecord struct {
	ev       event.Event
	category string
}

type detectionRecord struct {
	d event.Detection // Evidence cleared: evidence holds it, rendered
	// evidence is the evidence column, rendered once when the detection
	// is stored: detections change rarely and are read by every query, and
	// marshalling evidence was most of the cost of generating their rows.
	evidence string
}

// Store is safe for concurrent use: collectors add while queries generate.
type Store struct {
	cfg Config

	mu         sync.RWMutex
	files      *ring[fileRecord]
	processes  *ring[processRecord]
	detections *ring[detectionRecord]
	byUID      map[string]*detectionRecord
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.MaxFileEvents <= 0 {
		cfg.MaxFileEvents = DefaultMaxFileEvents
	}
	if cfg.MaxProcessEvents <= 0 {
		cfg.MaxProcessEvents = DefaultMaxProcessEvents
	}
	if cfg.MaxDetections <= 0 {
		cfg.MaxDetections = DefaultMaxDetections
	}
	return &Store{
		cfg:        cfg,
		files:      newRing(cfg.MaxFileEvents, func(r *fileRecord) time.Time { return r.ev.Time }),
		processes:  newRing(cfg.MaxProcessEvents, func(r *processRecord) time.Time { return r.ev.Time }),
		detections: newRing(cfg.MaxDetections, func(r *detectionRecord) time.Time { return r.d.Time }),
		byUID:      map[string]*detectionRecord{},
	}
}

// AddFileEvent keeps a copy of a file event seen under stagingPath, the
// configured staging location it falls under.
func (s *Store) AddFileEvent(ev *event.Event, stagingPath string) {
	rec := &fileRecord{ev: *ev, stagingPath: stagingPath}
	s.mu.Lock()
	s.files.insert(rec)
	s.mu.Unlock()
}

// AddProcessEvent keeps a copy of an exec of interest; category is the
// command's class (archiver, extractor, copy, script, encryptor, other).
func (s *Store) AddProcessEvent(ev *event.Event, category string) {
	rec := &processRecord{ev: *ev, category: category}
	s.mu.Lock()
	s.processes.insert(rec)
	s.mu.Unlock()
}

// UpsertDetection keeps a copy of d, replacing the row with the same UID:
// an updated detection (more evidence, an encryption step) is one row.
func (s *Store) UpsertDetection(d *event.Detection) {
	rec := &detectionRecord{d: *d, evidence: EvidenceJSON(d.Evidence)}
	rec.d.Evidence = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byUID[d.UID]; ok {
		s.removeDetection(old)
	}
	if gone := s.detections.insert(rec); gone != nil {
		delete(s.byUID, gone.d.UID)
		if gone == rec {
			return
		}
	}
	s.byUID[d.UID] = rec
}

func (s *Store) removeDetection(rec *detectionRecord) {
	delete(s.byUID, rec.d.UID)
	r := s.detections
	for i := r.lower(rec.d.Time); i < r.n; i++ {
		if r.at(i) == rec {
			r.removeAt(i)
			return
		}
		if r.timeOf(r.at(i)).After(rec.d.Time) {
			return
		}
	}
}

// Stats returns sizes and eviction counts.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{
		FileEvents:         s.files.n,
		ProcessEvents:      s.processes.n,
		Detections:         s.detections.n,
		FileEvictions:      s.files.evicted,
		ProcessEvictions:   s.processes.evicted,
		DetectionEvictions: s.detections.evicted,
	}
}

// Tables are the tables a store serves.
func Tables() []sdk.TableSpec { return schema.EndpointTables }

// Generate emits the rows of table matching constraints, oldest first, in
// batches of BatchSize. Constraints on time narrow the rows by binary
// search; other "=" constraints filter; the rest are left to the SQL engine,
// which re-checks every constraint anyway. emit is never called with the
// lock held, so a slow consumer does not stall collection.
func (s *Store) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	var spec sdk.TableSpec
	switch table {
	case schema.FileEvents:
		spec = schema.FileEventsTable
	case schema.ProcessEvents:
		spec = schema.ProcessEventsTable
	case schema.Detections:
		spec = schema.DetectionsTable
	default:
		return fmt.Errorf("store: unknown table %q", table)
	}
	window, filters, err := plan(spec, constraints)
	if err != nil {
		return err
	}
	from, to := window.bounds()

	// Only pointers are copied under the lock: records never change once
	// added, so converting them afterwards is safe.
	s.mu.RLock()
	var convert func(i int) sdk.Row
	var n int
	switch table {
	case schema.FileEvents:
		recs := sliceRange(s.files, from, to)
		n, convert = len(recs), func(i int) sdk.Row { return s.fileRow(recs[i]) }
	case schema.ProcessEvents:
		recs := sliceRange(s.processes, from, to)
		n, convert = len(recs), func(i int) sdk.Row { return s.processRow(recs[i]) }
	case schema.Detections:
		recs := sliceRange(s.detections, from, to)
		n, convert = len(recs), func(i int) sdk.Row { return s.detectionRow(recs[i]) }
	}
	s.mu.RUnlock()

	batch := make([]sdk.Row, 0, min(n, BatchSize))
	for i := range n {
		row := convert(i)
		if !filters.match(row) {
			continue
		}
		batch = append(batch, row)
		if len(batch) == BatchSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(batch); err != nil {
				return err
			}
			batch = make([]sdk.Row, 0, BatchSize)
		}
	}
	if len(batch) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return emit(batch)
	}
	return ctx.Err()
}

func sliceRange[T any](r *ring[T], from, to *time.Time) []*T {
	lo, hi := 0, r.n
	if from != nil {
		lo = r.lower(*from)
	}
	if to != nil {
		hi = r.lower(*to)
	}
	if lo >= hi {
		return nil
	}
	return r.slice(lo, hi)
}

func (s *Store) host(h string) string {
	if h == "" {
		return s.cfg.Host
	}
	return h
}

func (s *Store) fileRow(r *fileRecord) sdk.Row {
	ev := &r.ev
	return sdk.Row{
		"time":         unixSeconds(ev.Time),
		"time_ns":      nanos(ev.Time),
		"analytic_id":  Text(s.cfg.AnalyticID),
		"platform":     Text(s.cfg.Platform),
		"host":         Text(s.host(ev.Host)),
		"action":       ev.Kind.String(),
		"path":         Text(ev.Path),
		"staging_path": Text(r.stagingPath),
		"size":         knownInt(ev.Size),
		"pid":          knownPID(ev.Process.PID),
		"process":      Text(ev.Process.Exe),
		"actor":        Text(ev.Actor.String()),
		"source":       Text(ev.Source),
	}
}

func (s *Store) processRow(r *processRecord) sdk.Row {
	ev := &r.ev
	p := &ev.Process
	return sdk.Row{
		"time":        unixSeconds(ev.Time),
		"time_ns":     nanos(ev.Time),
		"analytic_id": Text(s.cfg.AnalyticID),
		"platform":    Text(s.cfg.Platform),
		"host":        Text(s.host(ev.Host)),
		"pid":         knownPID(p.PID),
		"ppid":        knownPID(p.PPID),
		"path":        Text(p.Exe),
		"cmdline":     Cmdline(p.Argv),
		"cwd":         Text(p.Cwd),
		"uid":         knownInt(ev.Actor.UID),
		"euid":        knownInt(ev.Actor.EUID),
		"auid":        knownInt(ev.Actor.AUID),
		"user":        Text(ev.Actor.User),
		"tty":         Text(ev.Actor.TTY),
		"session":     Text(ev.Actor.Session),
		"parent":      Text(p.Parent),
		"ancestry":    jsonStrings(p.Ancestors),
		"category":    Text(r.category),
		"source":      Text(ev.Source),
	}
}

func (s *Store) detectionRow(r *detectionRecord) sdk.Row {
	d := &r.d
	return sdk.Row{
		"time":         unixSeconds(d.Time),
		"detection_id": Text(d.DetectionID),
		"analytic_id":  Text(d.AnalyticID),
		"technique_id": Text(d.TechniqueID),
		"platform":     Text(d.Platform),
		"host":         Text(s.host(d.Host)),
		"actor":        Text(d.Actor),
		"process":      Text(d.Process),
		"staging_path": Text(d.StagingPath),
		"archive_path": Text(d.ArchivePath),
		"file_count":   strconv.FormatInt(d.FileCount, 10),
		"bytes":        strconv.FormatInt(d.Bytes, 10),
		"first_seen":   unixSeconds(d.FirstSeen),
		"last_seen":    unixSeconds(d.LastSeen),
		"severity":     Text(d.Severity),
		"score":        strconv.Itoa(d.Score),
		"reason":       Text(d.Reason),
		"evidence":     r.evidence,
		"uid":          Text(d.UID),
	}
}

// unixSeconds renders a time column; the zero time (not known) is 0 rather
// than year 1 in seconds.
func unixSeconds(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func nanos(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.Itoa(t.Nanosecond())
}

// knownInt maps every "not reported" negative to the schema's -1.
func knownInt(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// knownPID treats pid 0 as unknown too: no user process has it, and some
// sensors report it when the writer is gone.
func knownPID(pid int64) string {
	if pid <= 0 {
		return "-1"
	}
	return strconv.FormatInt(pid, 10)
}
