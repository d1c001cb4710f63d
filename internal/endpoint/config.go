package endpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/elements"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Mutable elements every endpoint analytic has under the same name.
const (
	TimeWindow             = "TimeWindow"
	AllowedParentProcesses = "AllowedParentProcesses"
	AllowedPaths           = "AllowedPaths"
	MinimumFileCount       = "MinimumFileCount"
)

// Ranges the shared elements are checked against.
const (
	// MinimumTimeWindow is the shortest TimeWindow accepted: anything
	// shorter misses a person copying files and archiving them by hand.
	MinimumTimeWindow = time.Minute
	MaximumFileCount  = 1_000_000
)

// Names are what one endpoint analytic calls the correlator's tunables:
// DET0014 names them differently for each platform.
type Names struct {
	// StagingDirectories: StagingDirectoryList (AN0040, AN0041),
	// SharedDirectoryIndicators (AN0042).
	StagingDirectories string
	// Archivers: ArchivingCommandPatterns (AN0041), CompressionToolList
	// (AN0040), CompressionUtilityList (AN0042).
	Archivers string
	// UserContext gates detections on the archiving actor's context
	// (AN0041's UserContext); empty when the analytic has no such element,
	// and then any context raises a detection.
	UserContext string
	// ScriptContext names the script launchers whose scripts collect files
	// (AN0042's ScriptInvocationContext: staging.Config.ScriptContexts);
	// empty when the analytic has no such element, and then the
	// correlator's script collection is off.
	ScriptContext string
}

func jsonOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static defaults of strings and numbers
	}
	return b
}

// Elements are the mutable elements of an endpoint analytic on platform,
// with that platform's defaults, in the order they are documented.
func (n Names) Elements(platform string) []sdk.MutableElement {
	out := []sdk.MutableElement{
		{
			Name: n.StagingDirectories, Type: sdk.ElementStringList,
			Default:     jsonOf(staging.DefaultStagingDirectories(platform)),
			Description: "Absolute directories where gathered files count as staged, watched recursively; the first directory below one is a staging group. An element * matches any one path element.",
		},
		{
			Name: n.Archivers, Type: sdk.ElementStringList,
			Default:     jsonOf(staging.DefaultArchiverPatterns(platform)),
			Description: "Executable names (globs such as 7z*) of archive and compression tools whose runs over a staging directory are archive steps.",
		},
	}
	if n.UserContext != "" {
		out = append(out, sdk.MutableElement{
			Name: n.UserContext, Type: sdk.ElementEnumList,
			Default:     jsonOf([]string{staging.ContextAny}),
			Allowed:     []string{staging.ContextAny, staging.ContextInteractive, staging.ContextElevated},
			Description: "Which archiving contexts raise a detection: any, interactive (a terminal or an interactive logon), elevated (rights the login identity does not have: root, an elevated token). Interactive and elevated always raise the score.",
		})
	}
	if n.ScriptContext != "" {
		out = append(out, sdk.MutableElement{
			Name: n.ScriptContext, Type: sdk.ElementStringList,
			Default:     jsonOf(staging.DefaultScriptContexts(platform)),
			Description: "Script launchers, by executable name (glob): osascript itself, and the non-GUI parents whose shell, Python, Ruby or Perl scripts are automation (launchd agents, cron, at, periodic, ssh sessions). A write Finder makes for an osascript is the osascript's; a sensitive file (keychain, Notes, Messages, browser profile, ~/.ssh, Documents, Desktop, Downloads) collected into a staging directory by such a script, or a tool it runs, is a detection by itself. An empty list turns this off.",
		})
	}
	return append(out,
		sdk.MutableElement{
			Name: TimeWindow, Type: sdk.ElementDuration,
			Default:     jsonOf("30m"),
			Description: "How long after files are staged an archive step still counts, in Go duration syntax (30m, 1h) or seconds. People copy files and compress them minutes later, so at least 1m; the default is 30m.",
		},
		sdk.MutableElement{
			Name: AllowedParentProcesses, Type: sdk.ElementStringList,
			Default:     jsonOf(staging.DefaultAllowedParents(platform)),
			Description: "Package managers, build tools and maintenance jobs, by executable name (glob) or absolute path (glob): files written and archives made by such a process, its child or its grandchild are benign. A name matches only an executable outside the staging directories (a renamed copy in /tmp is not the tool).",
		},
		sdk.MutableElement{
			Name: AllowedPaths, Type: sdk.ElementStringList,
			Default:     jsonOf(staging.DefaultAllowedPaths(platform)),
			Description: "Path globs (* crosses directory separators) never counted as staging: build and package scratch files. \"GLOB by TOOL,…\" allows the path only for writes by those tools (names or absolute path globs), the writer or its parent.",
		},
		sdk.MutableElement{
			Name: MinimumFileCount, Type: sdk.ElementInteger,
			Default:     jsonOf(staging.DefaultMinimumFileCount),
			Description: "Staged files an archive step must cover to raise a detection.",
		},
	)
}

// settings are an analytic's elements checked and turned into what the
// pipeline runs with.
type settings struct {
	values *elements.Values
	dirs   []string
	roots  *staging.Roots
	corr   staging.Config
}

// decode checks raw against the analytic's elements, then the values
// against what the correlator can work with. Every error is a
// *sdk.ConfigError naming the element as the operator wrote it.
func (n Names) decode(descs []sdk.MutableElement, raw json.RawMessage, base staging.Config) (settings, error) {
	values, err := elements.Decode(descs, raw)
	if err != nil {
		return settings{}, err
	}
	dirs := values.Strings(n.StagingDirectories)
	roots, err := n.checkDirs(dirs, base.PathStyle)
	if err != nil {
		return settings{}, err
	}
	// An empty list here can never fire: no archiver's run would make an
	// archive step. (The allowlists may be empty: they then allow nothing.)
	if len(values.Strings(n.Archivers)) == 0 {
		return settings{}, &sdk.ConfigError{Key: n.Archivers, Reason: "expected at least one executable name or glob, got an empty list: no archiver's run could ever make an archive step"}
	}
	window := values.Duration(TimeWindow)
	if window < MinimumTimeWindow {
		return settings{}, &sdk.ConfigError{Key: TimeWindow, Reason: fmt.Sprintf(
			"expected at least %s (people stage files and archive them minutes apart), got %s",
			elements.FormatDuration(MinimumTimeWindow), elements.FormatDuration(window))}
	}
	contexts := []string{staging.ContextAny}
	if n.UserContext != "" {
		if contexts = values.Strings(n.UserContext); len(contexts) == 0 {
			return settings{}, &sdk.ConfigError{Key: n.UserContext, Reason: "expected at least one of any|interactive|elevated, got an empty list"}
		}
	}
	minFiles := values.Int(MinimumFileCount)
	if minFiles < 1 || minFiles > MaximumFileCount {
		return settings{}, &sdk.ConfigError{Key: MinimumFileCount, Reason: fmt.Sprintf("expected an integer from 1 to %d, got %d", MaximumFileCount, minFiles)}
	}
	cfg := base
	cfg.StagingDirectories = dirs
	cfg.ArchiverPatterns = values.Strings(n.Archivers)
	cfg.TimeWindow = window
	cfg.UserContext = contexts
	cfg.MinimumFileCount = int(minFiles)
	cfg.AllowedParents = values.Strings(AllowedParentProcesses)
	cfg.AllowedPaths = values.Strings(AllowedPaths)
	cfg.ScriptContexts = []string{}
	if n.ScriptContext != "" {
		cfg.ScriptContexts = values.Strings(n.ScriptContext)
	}
	return settings{values: values, dirs: dirs, roots: roots, corr: cfg}, nil
}

// checkDirs checks the staging directories in the platform's path style.
func (n Names) checkDirs(dirs []string, style staging.PathStyle) (*staging.Roots, error) {
	if len(dirs) == 0 {
		return nil, &sdk.ConfigError{Key: n.StagingDirectories, Reason: "expected at least one directory, got an empty list"}
	}
	roots, err := staging.NewRoots(dirs, style)
	var re *staging.RootError
	if !errors.As(err, &re) {
		return roots, err
	}
	reason := re.Problem
	switch re.Kind {
	case staging.RootNotAbsolute:
		reason = fmt.Sprintf("expected absolute directories, got %q at index %d", re.Dir, re.Index)
	case staging.RootWholeFileSystem:
		below := "/"
		if style == staging.Windows {
			below = `a drive or share root`
		}
		reason = fmt.Sprintf("expected directories below %s, got %q at index %d: every file would be staged", below, re.Dir, re.Index)
	case staging.RootDotElement:
		reason = fmt.Sprintf("expected directories without . or .. elements, got %q at index %d", re.Dir, re.Index)
	}
	return nil, &sdk.ConfigError{Key: n.StagingDirectories, Reason: reason}
}

// configError renames a correlator field to the element an operator wrote.
func (n Names) configError(err error) error {
	var ce *staging.ConfigError
	if !errors.As(err, &ce) {
		return &sdk.ConfigError{Key: elements.ConfigKey, Reason: err.Error()}
	}
	key := map[string]string{
		"StagingDirectories": n.StagingDirectories,
		"ArchiverPatterns":   n.Archivers,
		"AllowedParents":     AllowedParentProcesses,
		"AllowedPaths":       AllowedPaths,
		"UserContext":        n.UserContext,
		"ScriptContexts":     n.ScriptContext,
		"TimeWindow":         TimeWindow,
		"MinimumFileCount":   MinimumFileCount,
	}[ce.Field]
	if key == "" {
		key = ce.Field
	}
	return &sdk.ConfigError{Key: key, Reason: ce.Problem}
}

// checkResolved checks the staging directories again as this host resolves
// them: a link is judged by where it leads (/tmp/l -> / would stage every
// file on every mount), for live collection only, since replayed logs come
// from another machine's file system.
func (n Names) checkResolved(dirs []string, style staging.PathStyle) error {
	resolved := make([]string, 0, len(dirs))
	for _, d := range dirs {
		prefix := staging.StaticPrefix(d, style)
		real, err := filepath.EvalSymlinks(prefix)
		if err != nil || real == filepath.Clean(prefix) {
			resolved = append(resolved, d)
			continue
		}
		resolved = append(resolved, real+d[len(prefix):])
	}
	if _, err := staging.NewRoots(resolved, style); err != nil {
		var re *staging.RootError
		if errors.As(err, &re) {
			return &sdk.ConfigError{Key: n.StagingDirectories, Reason: fmt.Sprintf(
				"%q at index %d resolves to %q: %s", dirs[re.Index], re.Index, re.Dir, strings.TrimPrefix(re.Problem, fmt.Sprintf("%q: ", re.Dir)))}
		}
		return err
	}
	return nil
}
