// Package packdef reads the single source of stagewatch's query packs
// (packs/source/*.yaml) and renders it as an osquery pack and as Fleet's YAML
// so the two can never drift: both are generated from one definition.
package packdef

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxInterval is the longest schedule accepted: a daily query is the slowest
// cadence that still reports a host within a working day.
const MaxInterval = 86400

// Logging modes, with Fleet's names. osquery expresses the same choice with
// its snapshot and removed flags.
const (
	LoggingDifferential               = "differential"
	LoggingDifferentialIgnoreRemovals = "differential_ignore_removals"
	LoggingSnapshot                   = "snapshot"
)

// Source is one pack: its scheduled queries and its Fleet policies.
type Source struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Platform    string   `yaml:"platform"`
	Queries     []Query  `yaml:"queries"`
	Policies    []Policy `yaml:"policies"`
}

// Query is one scheduled query.
type Query struct {
	Name              string `yaml:"name"`
	Description       string `yaml:"description"`
	Value             string `yaml:"value"`
	Query             string `yaml:"query"`
	Interval          int    `yaml:"interval"`
	Logging           string `yaml:"logging"`
	Platform          string `yaml:"platform"` // empty: the pack's platform
	Shard             int    `yaml:"shard"`    // percentage of hosts, 0 = all
	MinOsqueryVersion string `yaml:"min_osquery_version"`
}

// Policy is one yes/no check: it passes on a host when its query returns a row.
type Policy struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Resolution  string `yaml:"resolution"`
	Query       string `yaml:"query"`
	Platform    string `yaml:"platform"` // empty: the pack's platform
	Critical    bool   `yaml:"critical"`
}

// Load reads and validates a pack source. Unknown keys are errors, so a typo
// cannot silently drop a setting.
func Load(path string) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	src, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return src, nil
}

// Parse decodes and validates a pack source.
func Parse(data []byte) (*Source, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var src Source
	if err := dec.Decode(&src); err != nil {
		return nil, err
	}
	if err := src.Validate(); err != nil {
		return nil, err
	}
	return &src, nil
}

var queryName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// osqueryPlatforms are the values osquery's pack platform filter knows.
var osqueryPlatforms = map[string]bool{
	"darwin": true, "linux": true, "windows": true, "freebsd": true,
	"posix": true, "any": true, "all": true,
}

// Validate checks names, intervals, logging modes and platforms. It names the
// query or policy at fault.
func (s *Source) Validate() error {
	var errs []error
	if !queryName.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: want lower-case letters, digits and underscores", s.Name))
	}
	if err := ValidatePlatform(s.Platform); err != nil {
		errs = append(errs, fmt.Errorf("platform: %w", err))
	}
	if len(s.Queries) == 0 {
		errs = append(errs, errors.New("queries: none defined"))
	}
	seen := map[string]bool{}
	for i, q := range s.Queries {
		where := fmt.Sprintf("queries[%d] %q", i, q.Name)
		switch {
		case !queryName.MatchString(q.Name):
			errs = append(errs, fmt.Errorf("%s: name: want lower-case letters, digits and underscores", where))
		case seen[q.Name]:
			errs = append(errs, fmt.Errorf("%s: name: duplicate", where))
		}
		seen[q.Name] = true
		if strings.TrimSpace(q.Query) == "" {
			errs = append(errs, fmt.Errorf("%s: query: empty", where))
		}
		if strings.TrimSpace(q.Description) == "" {
			errs = append(errs, fmt.Errorf("%s: description: empty", where))
		}
		if strings.TrimSpace(q.Value) == "" {
			errs = append(errs, fmt.Errorf("%s: value: empty (say why an analyst cares)", where))
		}
		if q.Interval <= 0 || q.Interval > MaxInterval {
			errs = append(errs, fmt.Errorf("%s: interval: %d not in 1..%d seconds", where, q.Interval, MaxInterval))
		}
		switch q.Logging {
		case LoggingDifferential, LoggingDifferentialIgnoreRemovals, LoggingSnapshot:
		default:
			errs = append(errs, fmt.Errorf("%s: logging: %q is not differential, differential_ignore_removals or snapshot", where, q.Logging))
		}
		if q.Platform != "" {
			if err := ValidatePlatform(q.Platform); err != nil {
				errs = append(errs, fmt.Errorf("%s: platform: %w", where, err))
			}
		}
		if q.Shard < 0 || q.Shard > 100 {
			errs = append(errs, fmt.Errorf("%s: shard: %d not in 0..100", where, q.Shard))
		}
	}
	seenPolicy := map[string]bool{}
	for i, p := range s.Policies {
		where := fmt.Sprintf("policies[%d] %q", i, p.Name)
		switch {
		case strings.TrimSpace(p.Name) == "":
			errs = append(errs, fmt.Errorf("%s: name: empty", where))
		case seenPolicy[p.Name]:
			errs = append(errs, fmt.Errorf("%s: name: duplicate", where))
		}
		seenPolicy[p.Name] = true
		if strings.TrimSpace(p.Query) == "" {
			errs = append(errs, fmt.Errorf("%s: query: empty", where))
		}
		if strings.TrimSpace(p.Description) == "" || strings.TrimSpace(p.Resolution) == "" {
			errs = append(errs, fmt.Errorf("%s: description and resolution are both required", where))
		}
		if p.Platform != "" {
			if err := ValidatePlatform(p.Platform); err != nil {
				errs = append(errs, fmt.Errorf("%s: platform: %w", where, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ValidatePlatform checks a comma-separated list of osquery platform names.
func ValidatePlatform(list string) error {
	if strings.TrimSpace(list) == "" {
		return errors.New("empty")
	}
	for _, p := range strings.Split(list, ",") {
		if !osqueryPlatforms[strings.TrimSpace(p)] {
			return fmt.Errorf("%q is not an osquery platform (darwin, linux, windows, freebsd, posix, any, all)", p)
		}
	}
	return nil
}

// QueryPlatform is the platform list a query runs on.
func (s *Source) QueryPlatform(q Query) string {
	if q.Platform != "" {
		return q.Platform
	}
	return s.Platform
}

// PolicyPlatform is the platform list a policy runs on.
func (s *Source) PolicyPlatform(p Policy) string {
	if p.Platform != "" {
		return p.Platform
	}
	return s.Platform
}
