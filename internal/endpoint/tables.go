package endpoint

import (
	"context"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Default caps of the endpoint tables: together with the correlator they
// keep a plugin well inside osquery's 200 MB watchdog budget.
const (
	DefaultMaxFileEvents    = 50000
	DefaultMaxProcessEvents = 20000
	DefaultMaxDetections    = 10000
)

// TablesConfig says whose rows the endpoint tables hold and how many.
type TablesConfig struct {
	AnalyticID string // analytic_id column of event rows
	Platform   string // platform column of event rows
	Host       string // host column when an event or detection has none
	// Style renders the cmdline column the way the platform writes
	// command lines.
	Style event.CommandLineStyle

	MaxFileEvents    int // default DefaultMaxFileEvents
	MaxProcessEvents int // default DefaultMaxProcessEvents
	MaxDetections    int // default DefaultMaxDetections
}

// Tables are the tables every endpoint analytic serves (staging_detections,
// staging_file_events, staging_process_events), declared in one generic
// store.
type Tables struct {
	store      *store.Store
	files      *store.Table
	processes  *store.Table
	detections *store.Table
	ident      *ident
}

// ident is what every row of one analytic shares.
type ident struct {
	analyticID, platform, host string
	style                      event.CommandLineStyle
}

// NewTables declares the endpoint tables.
func NewTables(cfg TablesConfig) *Tables {
	if cfg.MaxFileEvents <= 0 {
		cfg.MaxFileEvents = DefaultMaxFileEvents
	}
	if cfg.MaxProcessEvents <= 0 {
		cfg.MaxProcessEvents = DefaultMaxProcessEvents
	}
	if cfg.MaxDetections <= 0 {
		cfg.MaxDetections = DefaultMaxDetections
	}
	st := store.New()
	t := &Tables{store: st, ident: &ident{analyticID: cfg.AnalyticID, platform: cfg.Platform, host: cfg.Host, style: cfg.Style}}
	t.detections = st.Declare(store.Def{Spec: schema.DetectionsTable, Max: cfg.MaxDetections})
	t.files = st.Declare(store.Def{Spec: schema.FileEventsTable, Max: cfg.MaxFileEvents})
	t.processes = st.Declare(store.Def{Spec: schema.ProcessEventsTable, Max: cfg.MaxProcessEvents})
	return t
}

// Specs lists the tables served.
func (t *Tables) Specs() []sdk.TableSpec { return t.store.Tables() }

// AddFileEvent keeps a copy of a file event seen under stagingPath, the
// configured staging location it falls under.
func (t *Tables) AddFileEvent(ev *event.Event, stagingPath string) {
	t.files.Add(&fileRecord{
		time: ev.Time, kind: ev.Kind, size: ev.Size, pid: ev.Process.PID,
		path: ev.Path, stagingPath: stagingPath, exe: ev.Process.Exe, host: ev.Host, source: ev.Source,
		guid: ev.Process.GUID, remoteAddr: ev.RemoteAddr, actor: ev.Actor, id: t.ident,
	})
}

// AddProcessEvent keeps a copy of an exec of interest; category is the
// command's class (archiver, extractor, copy, script, encryptor, other).
func (t *Tables) AddProcessEvent(ev *event.Event, category string) {
	t.processes.Add(&processRecord{ev: *ev, category: category, id: t.ident})
}

// UpsertDetection keeps a copy of d, replacing the row with the same UID.
func (t *Tables) UpsertDetection(d *event.Detection) {
	t.detections.Upsert(d.UID, store.NewDetection(d, t.ident.host))
}

// HasDetection reports whether the detection with uid is kept.
func (t *Tables) HasDetection(uid string) bool { return t.detections.Has(uid) }

// Generate emits the rows of one of the tables.
func (t *Tables) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return t.store.Generate(ctx, table, constraints, emit)
}

// TableStats are the sizes of the endpoint tables and what their caps
// evicted.
type TableStats struct {
	FileEvents         int
	ProcessEvents      int
	Detections         int
	FileEvictions      uint64
	ProcessEvictions   uint64
	DetectionEvictions uint64
}

// Evictions is the total of records the caps pushed out.
func (s TableStats) Evictions() uint64 {
	return s.FileEvictions + s.ProcessEvictions + s.DetectionEvictions
}

// Stats returns sizes and eviction counts.
func (t *Tables) Stats() TableStats {
	f, p, d := t.files.Stats(), t.processes.Stats(), t.detections.Stats()
	return TableStats{
		FileEvents: f.Rows, ProcessEvents: p.Rows, Detections: d.Rows,
		FileEvictions: f.Evictions, ProcessEvictions: p.Evictions, DetectionEvictions: d.Evictions,
	}
}

// StoreCounters adds the store's sizes and evictions to a health's extra
// counters, one "store_<table>" per table (staging_ dropped) and their
// total evictions.
func StoreCounters(st *store.Store, extra map[string]uint64) (evictions uint64) {
	for _, s := range st.Stats() {
		extra["store_"+strings.TrimPrefix(s.Name, "staging_")] = uint64(s.Rows)
		evictions += s.Evictions
	}
	extra["store_evictions"] = evictions
	return evictions
}

func (id *ident) hostOr(h string) string {
	if h == "" {
		return id.host
	}
	return h
}

// fileRecord keeps of a file event what its row shows, and no more: a
// full table is 50,000 of them.
type fileRecord struct {
	time                                 time.Time
	kind                                 event.Kind
	size, pid                            int64
	path, stagingPath, exe, host, source string
	guid, remoteAddr                     string
	actor                                event.Actor
	id                                   *ident
}

func (r *fileRecord) Time() time.Time { return r.time }

func (r *fileRecord) Row() sdk.Row {
	return sdk.Row{
		"time":         store.UnixSeconds(r.time),
		"time_ns":      store.Nanos(r.time),
		"analytic_id":  store.Text(r.id.analyticID),
		"platform":     store.Text(r.id.platform),
		"host":         store.Text(r.id.hostOr(r.host)),
		"action":       r.kind.String(),
		"path":         store.Text(r.path),
		"staging_path": store.Text(r.stagingPath),
		"size":         store.KnownInt(r.size),
		"pid":          store.KnownPID(r.pid),
		"process":      store.Text(r.exe),
		"actor":        store.Text(r.actor.String()),
		"source":       store.Text(r.source),
		"guid":         store.Text(r.guid),
		"remote_addr":  store.Text(r.remoteAddr),
	}
}

type processRecord struct {
	ev       event.Event
	category string
	id       *ident
}

func (r *processRecord) Time() time.Time { return r.ev.Time }

func (r *processRecord) Row() sdk.Row {
	ev := &r.ev
	p := &ev.Process
	return sdk.Row{
		"time":            store.UnixSeconds(ev.Time),
		"time_ns":         store.Nanos(ev.Time),
		"analytic_id":     store.Text(r.id.analyticID),
		"platform":        store.Text(r.id.platform),
		"host":            store.Text(r.id.hostOr(ev.Host)),
		"pid":             store.KnownPID(p.PID),
		"ppid":            store.KnownPID(p.PPID),
		"path":            store.Text(p.Exe),
		"cmdline":         store.Text(r.id.style.Render(p)),
		"cwd":             store.Text(p.Cwd),
		"uid":             store.KnownInt(ev.Actor.UID),
		"euid":            store.KnownInt(ev.Actor.EUID),
		"auid":            store.KnownInt(ev.Actor.AUID),
		"user":            store.Text(ev.Actor.User),
		"tty":             store.Text(ev.Actor.TTY),
		"session":         store.Text(ev.Actor.Session),
		"parent":          store.Text(p.Parent),
		"ancestry":        store.JSONStrings(p.Ancestors),
		"category":        store.Text(r.category),
		"source":          store.Text(ev.Source),
		"guid":            store.Text(p.GUID),
		"parent_guid":     store.Text(p.ParentGUID),
		"original_name":   store.Text(p.OriginalName),
		"elevated":        boolInt(ev.Actor.Elevated),
		"signing_id":      store.Text(p.SigningID),
		"team_id":         store.Text(p.TeamID),
		"platform_binary": boolInt(p.PlatformBinary),
		"responsible_pid": store.KnownPID(p.ResponsiblePID),
	}
}

func boolInt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
