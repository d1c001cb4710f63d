// Package config reads stagewatch's one YAML file: a `stagewatch:` section
// for the host and one section per analytic id holding that analytic's
// mutable elements. The host checks its own section here; each analytic
// section is handed to its plugin as JSON, and the plugin validates it, so
// the names and types of mutable elements live with the analytic only.
package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stagewatch/stagewatch/plugins/registry"
)

// EnvVar names the configuration file when no --config is given; with
// neither, DefaultPath (paths_*.go) is read when it exists.
const EnvVar = "STAGEWATCH_CONFIG"

// Defaults of the host section (DefaultSocket and DefaultStateDir are per
// platform, paths_*.go).
const (
	DefaultQueryTimeout = 10 * time.Second
	// DefaultResultsLogMaxFiles is how many rotated result logs are kept
	// when results_log_max_size is set.
	DefaultResultsLogMaxFiles = 5
)

// The bounds of the result log's own rotation.
const (
	// MinResultsLogMaxSize keeps a size meant in megabytes and written as a
	// bare number ("100") from rotating the log on every run.
	MinResultsLogMaxSize  = 64 << 10
	MaxResultsLogMaxFiles = 1000
)

// MinQueryTimeout is the shortest query_timeout accepted. One table call
// crosses the plugin's process boundary and carries its rows: a full
// staging_detections (10,000 rows) takes 170-420 ms end to end on a loaded
// host (docs/deploy.md), so a shorter bound would fail healthy queries
// instead of catching a hung plugin.
const MinQueryTimeout = time.Second

// File is a loaded configuration.
type File struct {
	// Path is the file it was read from; empty when every value is a default.
	Path       string
	Stagewatch Host
	// Analytics holds each analytic section present, as JSON (id -> object).
	Analytics map[string]json.RawMessage
}

// Host is the `stagewatch:` section.
type Host struct {
	// PluginDir is where plugin binaries are looked up; empty means the
	// supervisor's defaults.
	PluginDir string `yaml:"plugin_dir"`
	// Checksums maps a plugin file name to the SHA-256 (hex) it must have.
	Checksums map[string]string `yaml:"checksums"`
	// Plugins, when set, replaces the per-OS list of plugin file names.
	Plugins []string `yaml:"plugins"`
	// RemoteAnalytics enables remote analytics, e.g. [AN0043, AN0044].
	RemoteAnalytics []string `yaml:"remote_analytics"`
	// HostIdentifier is the host column and the result log's hostIdentifier.
	HostIdentifier string `yaml:"host_identifier"`
	// Socket is the control socket stagewatchd run serves.
	Socket string `yaml:"socket"`
	// QueryTimeout bounds one table call to one plugin.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// ResultsLog is the osquery result log file; empty means stdout.
	ResultsLog string `yaml:"results_log"`
	// ResultsLogMaxSize, when set, caps the results log: it is rotated
	// (results.log → results.log.1 …) before a run's lines would pass it.
	ResultsLogMaxSize ByteSize `yaml:"results_log_max_size"`
	// ResultsLogMaxFiles is how many rotated result logs are kept.
	ResultsLogMaxFiles int `yaml:"results_log_max_files"`
	// StateDir keeps state across restarts: pack differential results and
	// each analytic's events, detections and open windows.
	StateDir string `yaml:"state_dir"`
	// State bounds the analytics' durable state.
	State State `yaml:"state"`
	// Packs are osquery pack files to schedule; empty means the defaults.
	Packs []string `yaml:"packs"`
	// Decorations are added to every result line, as osquery's decorations.
	Decorations map[string]string `yaml:"decorations"`
}

// State bounds what each analytic keeps on disk, as osquery's
// events_expiry and events_max bound its evented tables.
type State struct {
	EventsExpiry     time.Duration `yaml:"events_expiry"`
	EventsMax        int           `yaml:"events_max"`
	DetectionsExpiry time.Duration `yaml:"detections_expiry"`
	DetectionsMax    int           `yaml:"detections_max"`
}

// Defaults of the state section.
const (
	DefaultEventsExpiry     = 24 * time.Hour
	DefaultEventsMax        = 200000
	DefaultDetectionsExpiry = 30 * 24 * time.Hour
	DefaultDetectionsMax    = 10000
)

// hostKeys are the keys of the stagewatch section, in the order documented.
var hostKeys = []string{"plugin_dir", "checksums", "plugins", "remote_analytics", "host_identifier",
	"socket", "query_timeout", "results_log", "results_log_max_size", "results_log_max_files", "state_dir",
	"state", "packs", "decorations"}

// Default returns the configuration used when there is no file.
func Default() *File {
	f := &File{Analytics: map[string]json.RawMessage{}}
	f.applyDefaults()
	return f
}

// Load reads the configuration from path. An empty path means $STAGEWATCH_CONFIG,
// then DefaultPath; only a missing DefaultPath falls back to Default(), since
// a file the operator named and that is missing is a mistake worth stopping for.
func Load(path string) (*File, error) {
	explicit := path != ""
	if !explicit {
		path = os.Getenv(EnvVar)
		explicit = path != ""
	}
	if !explicit {
		path = DefaultPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !explicit {
				return Default(), nil
			}
			return nil, fmt.Errorf("config: %s does not exist (named by --config or $%s; without either, %s is read if present)", path, EnvVar, DefaultPath)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a configuration from data; source names it in errors.
func Parse(data []byte, source string) (*File, error) {
	f := &File{Path: source, Analytics: map[string]json.RawMessage{}}
	fail := func(line int, format string, args ...any) error {
		if line > 0 {
			return fmt.Errorf("config %s: line %d: %s", source, line, fmt.Sprintf(format, args...))
		}
		return fmt.Errorf("config %s: %s", source, fmt.Sprintf(format, args...))
	}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			f.applyDefaults()
			return f, nil // an empty file means all defaults
		}
		return nil, fail(0, "%v", err)
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		f.applyDefaults()
		return f, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "top level must be a mapping of sections (stagewatch, AN0040…AN0044)")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		name := key.Value
		if seen[name] {
			return nil, fail(key.Line, "section %q appears twice", name)
		}
		seen[name] = true
		switch {
		case name == "stagewatch":
			if err := decodeHost(value, &f.Stagewatch); err != nil {
				return nil, fail(0, "%v", err)
			}
		case contains(registry.IDs(), name):
			raw, err := sectionJSON(name, value)
			if err != nil {
				return nil, fail(value.Line, "%v", err)
			}
			if raw != nil {
				f.Analytics[name] = raw
			}
		default:
			return nil, fail(key.Line, "unknown key %q (known: stagewatch, %s)", name, strings.Join(registry.IDs(), ", "))
		}
	}
	if err := f.Stagewatch.validate(); err != nil {
		return nil, fail(0, "%v", err)
	}
	f.applyDefaults()
	return f, nil
}

// decodeHost checks the keys of the stagewatch section itself, so that the
// error names the unknown key and lists the known ones, then decodes it with
// KnownFields as a second line of defence.
func decodeHost(node *yaml.Node, h *Host) error {
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: stagewatch must be a mapping", node.Line)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		if !contains(hostKeys, k.Value) {
			return fmt.Errorf("line %d: unknown key \"stagewatch.%s\" (known: %s)", k.Line, k.Value, strings.Join(hostKeys, ", "))
		}
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		// 0 cannot be told from absent once decoded.
		var n int
		if k, v := node.Content[i], node.Content[i+1]; k.Value == "results_log_max_files" && v.Decode(&n) == nil && n == 0 {
			return fmt.Errorf("line %d: stagewatch.results_log_max_files: 0 would keep no rotated log: 1 to %d (the default is %d)", v.Line, MaxResultsLogMaxFiles, DefaultResultsLogMaxFiles)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(node); err != nil {
		return fmt.Errorf("stagewatch: %v", err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(h); err != nil {
		return fmt.Errorf("stagewatch: %v", keyedYAMLError(node, err))
	}
	return nil
}

// keyedYAMLError turns yaml's "line N: cannot unmarshal …" into an error that
// names the stagewatch key at that line, since line numbers after re-encoding
// no longer match the operator's file.
func keyedYAMLError(node *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	// Re-decode key by key to find which key is at fault.
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		probe := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
		var h Host
		if perr := probe.Decode(&h); perr != nil {
			if k.Value == "state" && v.Kind == yaml.MappingNode {
				// Name the key inside the section.
				for j := 0; j+1 < len(v.Content); j += 2 {
					sk, sv := v.Content[j], v.Content[j+1]
					var st State
					sub := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{sk, sv}}
					if serr := sub.Decode(&st); serr != nil {
						return fmt.Errorf("line %d: stagewatch.state.%s: bad value: %s (want a duration such as \"24h\" or a number)", sv.Line, sk.Value, strings.Join(yamlReasons(serr), "; "))
					}
				}
			}
			hint := ""
			switch k.Value {
			case "query_timeout":
				hint = ` (want a duration such as "10s")`
			case "results_log_max_files":
				hint = " (want a number of files such as 5)"
			}
			return fmt.Errorf("line %d: stagewatch.%s: bad value: %s%s", v.Line, k.Value, strings.Join(yamlReasons(perr), "; "), hint)
		}
	}
	return errors.New(strings.Join(te.Errors, "; "))
}

func yamlReasons(err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			// "line 2: cannot unmarshal !!str `x` into time.Duration": keep the part after the line.
			if j := strings.Index(m, ": "); j >= 0 && strings.HasPrefix(m, "line ") {
				m = m[j+2:]
			}
			out[i] = m
		}
		return out
	}
	return []string{err.Error()}
}

// sectionJSON converts an analytic section to the JSON its plugin receives.
// A null section means all defaults and converts to nil.
func sectionJSON(id string, node *yaml.Node) (json.RawMessage, error) {
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil, nil
	}
	if node.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s must be a mapping of mutable elements", id)
	}
	var v any
	if err := node.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %v", id, err)
	}
	j, err := jsonable(v)
	if err != nil {
		return nil, fmt.Errorf("%s.%v", id, err)
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", id, err)
	}
	return raw, nil
}

// jsonable turns what yaml decodes into values encoding/json accepts: YAML
// allows non-string mapping keys, JSON does not.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("%s.%v", k, err)
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%v: mapping keys must be strings", k)
			}
			c, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("%s.%v", ks, err)
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("%d.%v", i, err)
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	}
	return v, nil
}

func (h *Host) validate() error {
	st := h.State
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"events_expiry", st.EventsExpiry}, {"detections_expiry", st.DetectionsExpiry}} {
		if d.v < 0 || (d.v > 0 && d.v < time.Minute) {
			return fmt.Errorf("stagewatch.state.%s: %v: expected at least 1m (0 for the default)", d.key, d.v)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"events_max", st.EventsMax}, {"detections_max", st.DetectionsMax}} {
		if n.v < 0 || (n.v > 0 && n.v < 100) || n.v > 10_000_000 {
			return fmt.Errorf("stagewatch.state.%s: %d: expected 100 to 10000000 (0 for the default)", n.key, n.v)
		}
	}
	for name, sum := range h.Checksums {
		if name == "" || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("stagewatch.checksums: %q must be a plugin file name, not a path", name)
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return fmt.Errorf("stagewatch.checksums.%s: %q is not a SHA-256 in hex (64 hex digits)", name, sum)
		}
	}
	for _, name := range h.Plugins {
		if name == "" || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("stagewatch.plugins: %q must be a plugin file name in plugin_dir, not a path", name)
		}
	}
	for _, id := range h.RemoteAnalytics {
		if !contains(registry.RemoteIDs(), id) {
			return fmt.Errorf("stagewatch.remote_analytics: %q is not a remote analytic (known: %s)", id, strings.Join(registry.RemoteIDs(), ", "))
		}
	}
	if h.QueryTimeout < 0 {
		return fmt.Errorf("stagewatch.query_timeout: %v must be positive", h.QueryTimeout)
	}
	if h.QueryTimeout > 0 && h.QueryTimeout < MinQueryTimeout {
		return fmt.Errorf("stagewatch.query_timeout: %v is too short to answer a query: at least %v (the default is %v)", h.QueryTimeout, MinQueryTimeout, DefaultQueryTimeout)
	}
	if h.ResultsLogMaxSize < 0 {
		return fmt.Errorf("stagewatch.results_log_max_size: %d must not be negative (0 or absent: no cap)", h.ResultsLogMaxSize)
	}
	if h.ResultsLogMaxSize > 0 && h.ResultsLogMaxSize < MinResultsLogMaxSize {
		return fmt.Errorf("stagewatch.results_log_max_size: %d bytes is too small: at least %d (64KB), e.g. \"100MB\"", h.ResultsLogMaxSize, MinResultsLogMaxSize)
	}
	if h.ResultsLogMaxFiles < 0 || h.ResultsLogMaxFiles > MaxResultsLogMaxFiles {
		return fmt.Errorf("stagewatch.results_log_max_files: %d is outside 1..%d (the default is %d)", h.ResultsLogMaxFiles, MaxResultsLogMaxFiles, DefaultResultsLogMaxFiles)
	}
	if h.Socket != "" && !filepath.IsAbs(h.Socket) {
		return fmt.Errorf("stagewatch.socket: %q must be an absolute path", h.Socket)
	}
	for _, p := range h.Packs {
		if p == "" {
			return errors.New("stagewatch.packs: empty pack path")
		}
	}
	return nil
}

func (f *File) applyDefaults() {
	h := &f.Stagewatch
	if h.HostIdentifier == "" {
		if name, err := os.Hostname(); err == nil {
			h.HostIdentifier = name
		}
	}
	if h.Socket == "" {
		h.Socket = DefaultSocket
	}
	if h.QueryTimeout == 0 {
		h.QueryTimeout = DefaultQueryTimeout
	}
	if h.StateDir == "" {
		h.StateDir = DefaultStateDir
	}
	if h.ResultsLogMaxFiles == 0 {
		h.ResultsLogMaxFiles = DefaultResultsLogMaxFiles
	}
	if h.State.EventsExpiry == 0 {
		h.State.EventsExpiry = DefaultEventsExpiry
	}
	if h.State.EventsMax == 0 {
		h.State.EventsMax = DefaultEventsMax
	}
	if h.State.DetectionsExpiry == 0 {
		h.State.DetectionsExpiry = DefaultDetectionsExpiry
	}
	if h.State.DetectionsMax == 0 {
		h.State.DetectionsMax = DefaultDetectionsMax
	}
	for name, sum := range h.Checksums {
		h.Checksums[name] = strings.ToLower(sum)
	}
}

// ByteSize is a size in bytes, written as an integer (bytes) or as a
// string with a unit: "64KB", "100MB", "1GB" (powers of 1024, as
// logrotate's size; KiB, MiB, GiB, K, M, G and B are accepted too).
type ByteSize int64

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// UnmarshalYAML reads an integer or a number with a unit. A bad value is
// a TypeError, which the stagewatch section reports under the key.
func (b *ByteSize) UnmarshalYAML(node *yaml.Node) error {
	bad := func() error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a size (want bytes, or a whole number with KB, MB or GB, e.g. \"100MB\")", node.Line, node.Value)}}
	}
	if node.Kind != yaml.ScalarNode {
		return bad()
	}
	text := strings.TrimSpace(node.Value)
	i := 0
	for i < len(text) && (text[i] >= '0' && text[i] <= '9' || i == 0 && text[i] == '-') {
		i++
	}
	n, err := strconv.ParseInt(text[:i], 10, 64)
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(text[i:]))]
	if err != nil || !ok {
		return bad()
	}
	if n < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q must not be negative (0 or absent: no cap)", node.Line, node.Value)}}
	}
	if n > (1<<63-1)/unit {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is too large", node.Line, node.Value)}}
	}
	*b = ByteSize(n * unit)
	return nil
}

// AnalyticConfig returns the JSON section for an analytic id, nil when the
// file has none (the plugin then uses its defaults).
func (f *File) AnalyticConfig(id string) json.RawMessage {
	if f == nil {
		return nil
	}
	return f.Analytics[id]
}

// RemoteEnabled reports whether remote_analytics enables id.
func (f *File) RemoteEnabled(id string) bool {
	return f != nil && contains(f.Stagewatch.RemoteAnalytics, id)
}

// SectionIDs lists the analytic sections present, sorted.
func (f *File) SectionIDs() []string {
	ids := make([]string, 0, len(f.Analytics))
	for id := range f.Analytics {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
