// Package an0041 is the Linux data-staging analytic (DET0014 AN0041): files
// copied into a central temp or /mnt directory, followed by archive or
// compression utilities. Live, it reads execs from the kernel audit
// subsystem (the proc connector when audit is unavailable) and file events
// from fanotify under StagingDirectoryList; offline, it replays auditd logs.
// Both feed one pipeline: process table, settle buffer, the shared staging
// correlator, and the bounded store its tables are served from.
package an0041

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0041"
	Platform   = "linux"
	// Version is the analytic's own version: it changes when what it
	// detects or how it is configured changes.
	Version = "0.1.0"
)

// Mutable element names (contract: exact DET0014 names).
const (
	StagingDirectoryList     = "StagingDirectoryList"
	ArchivingCommandPatterns = "ArchivingCommandPatterns"
	UserContext              = "UserContext"
	TimeWindow               = "TimeWindow"
	AllowedParentProcesses   = "AllowedParentProcesses"
	AllowedPaths             = "AllowedPaths"
	MinimumFileCount         = "MinimumFileCount"
)

// MinimumTimeWindow is the shortest TimeWindow accepted: anything shorter
// misses a person copying files and archiving them by hand.
const MinimumTimeWindow = time.Minute

func jsonOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static defaults of strings and numbers
	}
	return b
}

var mutableElements = []sdk.MutableElement{
	{
		Name: StagingDirectoryList, Type: sdk.ElementStringList,
		Default:     jsonOf(staging.DefaultStagingDirectories(Platform)),
		Description: "Absolute directories where gathered files count as staged, watched recursively; the first directory below one is a staging group. An element * matches any one path element.",
	},
	{
		Name: ArchivingCommandPatterns, Type: sdk.ElementStringList,
		Default:     jsonOf(staging.DefaultArchiverPatterns(Platform)),
		Description: "Executable names (globs such as 7z*) of archive and compression tools whose runs over a staging directory are archive steps.",
	},
	{
		Name: UserContext, Type: sdk.ElementEnumList,
		Default:     jsonOf([]string{staging.ContextAny}),
		Allowed:     []string{staging.ContextAny, staging.ContextInteractive, staging.ContextElevated},
		Description: "Which archiving contexts raise a detection: any, interactive (a terminal), elevated (root rights the login user does not have). Interactive and elevated always raise the score.",
	},
	{
		Name: TimeWindow, Type: sdk.ElementDuration,
		Default:     jsonOf("30m"),
		Description: "How long after files are staged an archive step still counts, in Go duration syntax (30m, 1h) or seconds. People copy files and compress them minutes later, so at least 1m; the default is 30m.",
	},
	{
		Name: AllowedParentProcesses, Type: sdk.ElementStringList,
		Default:     jsonOf(staging.DefaultAllowedParents(Platform)),
		Description: "Executable names (globs) of package managers, build tools and maintenance jobs: files written and archives made by such a process, its child or its grandchild are benign.",
	},
	{
		Name: AllowedPaths, Type: sdk.ElementStringList,
		Default:     jsonOf(staging.DefaultAllowedPaths(Platform)),
		Description: "Path globs (* crosses /) never counted as staging: build and package scratch files.",
	},
	{
		Name: MinimumFileCount, Type: sdk.ElementInteger,
		Default:     jsonOf(staging.DefaultMinimumFileCount),
		Description: "Staged files an archive step must cover to raise a detection.",
	},
}

// Analytic is AN0041. Its zero value is not usable; call New.
type Analytic struct {
	store    *store.Store
	table    *procTable
	pipeline *pipeline

	mu         sync.Mutex
	configured bool
	mode       sdk.Mode
	host       string
	values     *elements.Values
	dirs       []string
	live       *live // nil until Start
	started    time.Time
	ingests    ingestTotals

	collectorErrors atomic.Uint64
}

type ingestTotals struct {
	parseErrors uint64
	firstError  string
}

// New returns an unconfigured AN0041.
func New() *Analytic {
	st := store.New(store.Config{AnalyticID: AnalyticID, Platform: Platform})
	table := newProcTable(defaultMaxProcesses, nil)
	return &Analytic{store: st, table: table, pipeline: newPipeline(table, st)}
}

// Describe says who AN0041 is.
func (a *Analytic) Describe() sdk.Descriptor {
	return sdk.Descriptor{
		AnalyticID:  AnalyticID,
		DetectionID: schema.DetectionID,
		TechniqueID: schema.TechniqueLocal,
		Platform:    Platform,
		Version:     Version,
		Name:        "Linux data staging: files gathered in temp or /mnt, then archived",
		Description: "Detects files created, copied or moved into a central staging directory (/tmp, /var/tmp, /mnt, /dev/shm by default) " +
			"followed within TimeWindow by an archive or compression utility (tar, zip, gzip, 7z…) over them, from auditd exec " +
			"records and fanotify file events; extraction, package managers, builds and log rotation stay quiet.",
		MutableElements: mutableElements,
		Tables:          schema.EndpointTables,
		InputFormats:    []string{"auditd"},
	}
}

// Configure validates the mutable elements and builds the correlator. A
// reconfiguration while running applies at once; a changed
// StagingDirectoryList re-marks the file watcher.
func (a *Analytic) Configure(ctx context.Context, req sdk.ConfigureRequest) (json.RawMessage, error) {
	values, err := elements.Decode(mutableElements, req.Config)
	if err != nil {
		return nil, err
	}
	dirs := values.Strings(StagingDirectoryList)
	if err := checkDirs(dirs); err != nil {
		return nil, err
	}
	window := values.Duration(TimeWindow)
	if window < MinimumTimeWindow {
		return nil, &sdk.ConfigError{Key: TimeWindow, Reason: fmt.Sprintf(
			"expected at least %s (people stage files and archive them minutes apart), got %s",
			elements.FormatDuration(MinimumTimeWindow), elements.FormatDuration(window))}
	}
	contexts := values.Strings(UserContext)
	if len(contexts) == 0 {
		return nil, &sdk.ConfigError{Key: UserContext, Reason: "expected at least one of any|interactive|elevated, got an empty list"}
	}
	minFiles := values.Int(MinimumFileCount)
	if minFiles < 1 || minFiles > 1_000_000 {
		return nil, &sdk.ConfigError{Key: MinimumFileCount, Reason: fmt.Sprintf("expected an integer from 1 to 1000000, got %d", minFiles)}
	}
	mode := req.Mode
	if mode == 0 {
		mode = sdk.ModeLive
	}
	corr, err := staging.New(staging.Config{
		AnalyticID:         AnalyticID,
		Platform:           Platform,
		Host:               req.HostIdentifier,
		StagingDirectories: dirs,
		PathStyle:          staging.Posix,
		ArchiverPatterns:   values.Strings(ArchivingCommandPatterns),
		TimeWindow:         window,
		UserContext:        contexts,
		MinimumFileCount:   int(minFiles),
		AllowedParents:     values.Strings(AllowedParentProcesses),
		AllowedPaths:       values.Strings(AllowedPaths),
	})
	if err != nil {
		return nil, correlatorConfigError(err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live != nil && mode != a.mode {
		return nil, &sdk.ConfigError{Key: "mode", Reason: fmt.Sprintf("expected %s while collecting, got %s", a.mode, mode)}
	}
	if mode == sdk.ModeLive {
		a.table.setLookup(procLookup)
	} else {
		a.table.setLookup(nil)
	}
	a.pipeline.reconfigure(corr, dirs, req.HostIdentifier)
	dirsChanged := !equalStrings(a.dirs, dirs)
	a.configured, a.mode, a.host, a.values, a.dirs = true, mode, req.HostIdentifier, values, dirs
	if a.live != nil && dirsChanged {
		a.live.rewatch(dirs)
	}
	return values.JSON(), nil
}

func checkDirs(dirs []string) error {
	if len(dirs) == 0 {
		return &sdk.ConfigError{Key: StagingDirectoryList, Reason: "expected at least one directory, got an empty list"}
	}
	for i, d := range dirs {
		if !strings.HasPrefix(d, "/") {
			return &sdk.ConfigError{Key: StagingDirectoryList, Reason: fmt.Sprintf("expected absolute directories, got %q at index %d", d, i)}
		}
		if clean := path.Clean(d); clean == "/" {
			return &sdk.ConfigError{Key: StagingDirectoryList, Reason: fmt.Sprintf("expected directories below /, got %q at index %d: every file would be staged", d, i)}
		}
	}
	return nil
}

// correlatorConfigError renames the correlator's field to the element an
// operator wrote.
func correlatorConfigError(err error) error {
	var ce *staging.ConfigError
	if !errors.As(err, &ce) {
		return &sdk.ConfigError{Key: "config", Reason: err.Error()}
	}
	key := map[string]string{
		"StagingDirectories": StagingDirectoryList,
		"ArchiverPatterns":   ArchivingCommandPatterns,
		"AllowedParents":     AllowedParentProcesses,
		"AllowedPaths":       AllowedPaths,
		"UserContext":        UserContext,
		"TimeWindow":         TimeWindow,
		"MinimumFileCount":   MinimumFileCount,
	}[ce.Field]
	if key == "" {
		key = ce.Field
	}
	return &sdk.ConfigError{Key: key, Reason: ce.Problem}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Generate serves the tables from the store.
func (a *Analytic) Generate(ctx context.Context, table string, constraints []sdk.Constraint, emit func([]sdk.Row) error) error {
	return a.store.Generate(ctx, table, constraints, emit)
}

// Health reports state, counters and per-collector detail.
func (a *Analytic) Health(ctx context.Context) sdk.Health {
	a.mu.Lock()
	configured, mode, lv, started, ingests := a.configured, a.mode, a.live, a.started, a.ingests
	a.mu.Unlock()

	ps := a.pipeline.stats()
	ss := a.store.Stats()
	misses, evicts := a.table.counters()
	h := sdk.Health{
		State:   sdk.StateConfigured,
		Message: "configured, " + mode.String() + " mode",
		Started: started,
		Counters: sdk.Counters{
			EventsSeen:      ps.seen,
			EventsDropped:   ps.drops + ss.Evictions(),
			ParseErrors:     ingests.parseErrors,
			Detections:      ps.detections,
			CollectorErrors: a.collectorErrors.Load(),
			Extra: map[string]uint64{
				"correlator_late":          ps.correlator.Late,
				"correlator_stale":         ps.correlator.Stale,
				"correlator_ignored":       ps.correlator.Ignored,
				"correlator_staged":        ps.correlator.Staged,
				"correlator_archive_steps": ps.correlator.ArchiveSteps,
				"correlator_updates":       ps.correlator.Updates,
				"correlator_groups":        uint64(ps.correlator.Groups),
				"settle_pending":           uint64(ps.pending),
				"store_file_events":        uint64(ss.FileEvents),
				"store_process_events":     uint64(ss.ProcessEvents),
				"store_detections":         uint64(ss.Detections),
				"store_evictions":          ss.Evictions(),
				"process_table_size":       uint64(a.table.size()),
				"process_table_misses":     misses,
				"process_table_evictions":  evicts,
			},
		},
	}
	if !configured {
		h.State, h.Message = sdk.StateFailed, "not configured"
		return h
	}
	if ingests.firstError != "" {
		h.Message += "; first parse error: " + ingests.firstError
	}
	if lv != nil {
		lv.health(&h)
	}
	return h
}

// Close stops live collection, if any, and waits for it to end.
func (a *Analytic) Close() error {
	a.mu.Lock()
	lv := a.live
	a.mu.Unlock()
	if lv == nil {
		return nil
	}
	lv.stop()
	return nil
}
