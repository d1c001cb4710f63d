// Package sdk is the contract between stagewatch's host and its analytics:
// the Go types both program against (Analytic, Descriptor, mutable elements,
// tables, rows, constraints, health, errors). It imports nothing but the
// standard library. How an analytic is served and reached over go-plugin and
// gRPC is package sdk/plugin, which converts these types to and from the
// generated stagewatch.v1 messages (terraform-plugin-go's tfprotov6 /
// tf6server split).
package sdk

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Analytic is what every stagewatch analytic plugin implements. An analytic
// whose collectors hold state outside the process (audit rules, fanotify
// marks, remote sessions) also implements io.Closer: the plugin server calls
// Close after the host stops the plugin and before the process exits.
type Analytic interface {
	// Describe says who the analytic is and what it needs and provides.
	Describe() Descriptor
	// Configure validates raw (the analytic's own YAML section, as JSON; nil
	// or empty means all defaults) and applies it. A bad value returns a
	// *ConfigError naming the key. It returns the elements in effect.
	Configure(ctx context.Context, req ConfigureRequest) (effective json.RawMessage, err error)
	// Start begins live collection. Collection runs until ctx is cancelled.
	Start(ctx context.Context) error
	// Generate produces the rows of table for one query. Rows must honour
	// the constraints it can (at least on time columns); the SQL engine
	// re-checks every constraint, so honouring one is an optimisation.
	// emit may be called many times; each call is one batch. Rows are
	// read-only once emitted: an analytic may hand the same maps to many
	// queries, and receivers never modify them.
	Generate(ctx context.Context, table string, constraints []Constraint, emit func([]Row) error) error
	// Ingest reads one recorded log and feeds it through the analytic.
	Ingest(ctx context.Context, source, format string, r io.Reader) (IngestStats, error)
	// Health reports the analytic's state and counters.
	Health(ctx context.Context) Health
}

// Mode says why a plugin was started.
type Mode int

const (
	ModeLive   Mode = 1 // collect until stopped
	ModeReplay Mode = 2 // only Ingest feeds events; clocks follow event time
	ModeQuery  Mode = 3 // started for a single query
)

func (m Mode) String() string {
	switch m {
	case ModeLive:
		return "live"
	case ModeReplay:
		return "replay"
	case ModeQuery:
		return "query"
	}
	return "unspecified"
}

// ConfigureRequest carries an analytic's configuration.
type ConfigureRequest struct {
	Config         json.RawMessage
	Mode           Mode
	HostIdentifier string
	// StateDir is the analytic's own directory for what must survive a
	// restart (its events, detections and open windows); empty means it
	// keeps everything in memory.
	StateDir string
	// State bounds what it keeps there.
	State StateLimits
}

// StateLimits bound an analytic's durable state, as osquery's events_expiry
// and events_max bound its evented tables. Zero fields take the defaults.
type StateLimits struct {
	EventsExpiry     time.Duration // events older than this are removed
	EventsMax        int           // at most this many events are kept
	DetectionsExpiry time.Duration
	DetectionsMax    int
}

// Descriptor is an analytic's self-description.
type Descriptor struct {
	AnalyticID      string // AN0041
	DetectionID     string // DET0014
	TechniqueID     string // T1074.001
	Platform        string // osquery platform: linux, windows, darwin, aws, esxi
	Version         string
	Name            string
	Description     string
	Remote          bool // collects through remote APIs (aws, esxi)
	MutableElements []MutableElement
	Tables          []TableSpec
	InputFormats    []string
}

// ElementType is the type of a mutable element's value.
type ElementType int

const (
	ElementString     ElementType = 1
	ElementStringList ElementType = 2
	ElementInteger    ElementType = 3
	ElementDuration   ElementType = 4
	ElementBoolean    ElementType = 5
	ElementEnumList   ElementType = 6
	ElementEnum       ElementType = 7
)

func (t ElementType) String() string {
	switch t {
	case ElementString:
		return "string"
	case ElementStringList:
		return "string list"
	case ElementInteger:
		return "integer"
	case ElementDuration:
		return "duration"
	case ElementBoolean:
		return "boolean"
	case ElementEnumList:
		return "enum list"
	case ElementEnum:
		return "enum"
	}
	return "unspecified"
}

// MutableElement is one tunable of an analytic, named as DET0014 names it.
type MutableElement struct {
	Name        string
	Type        ElementType
	Default     json.RawMessage
	Description string
	Allowed     []string
}

// ColumnType is an osquery column type.
type ColumnType int

const (
	ColumnText    ColumnType = 1
	ColumnInteger ColumnType = 2
	ColumnBigInt  ColumnType = 3
	ColumnDouble  ColumnType = 4
)

// String returns the osquery/SQLite type name.
func (c ColumnType) String() string {
	switch c {
	case ColumnInteger:
		return "INTEGER"
	case ColumnBigInt:
		return "BIGINT"
	case ColumnDouble:
		return "DOUBLE"
	}
	return "TEXT"
}

// ColumnSpec is one column of a table.
type ColumnSpec struct {
	Name        string
	Type        ColumnType
	Description string
}

// TableSpec is one table an analytic provides.
type TableSpec struct {
	Name        string
	Description string
	Columns     []ColumnSpec
}

// ColumnNames lists the table's column names in order.
func (t TableSpec) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// Row is one table row: column name -> value, as osquery passes rows.
type Row map[string]string

// Operator is an osquery constraint operator, with osquery's codes.
type Operator int

const (
	OpEquals             Operator = 2
	OpGreaterThan        Operator = 4
	OpLessThanOrEquals   Operator = 8
	OpLessThan           Operator = 16
	OpGreaterThanOrEqual Operator = 32
	OpMatch              Operator = 64
	OpLike               Operator = 65
	OpGlob               Operator = 66
	OpRegexp             Operator = 67
)

// Constraint is one WHERE term pushed down from SQL: Column Op Expr.
type Constraint struct {
	Column string
	Op     Operator
	Expr   string
}

// IngestStats reports what one Ingest read.
type IngestStats struct {
	Bytes       uint64
	Records     uint64
	Events      uint64
	ParseErrors uint64
	Detections  uint64
	FirstError  string
}

// State is an analytic's health state.
type State int

const (
	StateConfigured State = 1
	StateRunning    State = 2
	StateDegraded   State = 3
	StateFailed     State = 4
)

func (s State) String() string {
	switch s {
	case StateConfigured:
		return "configured"
	case StateRunning:
		return "running"
	case StateDegraded:
		return "degraded"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// Counters are what an analytic saw, dropped and failed on.
type Counters struct {
	EventsSeen      uint64
	EventsDropped   uint64
	ParseErrors     uint64
	Detections      uint64
	CollectorErrors uint64
	Extra           map[string]uint64
}

// Health is an analytic's state and counters.
type Health struct {
	State   State
	Message string
	Counters
	Started time.Time
}

// ConfigError is a configuration problem with one key.
type ConfigError struct {
	Key    string // the mutable element (or top-level key) at fault
	Reason string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Reason }
