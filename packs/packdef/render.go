package packdef

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stagewatch/stagewatch/packs/fleetspec"
)

// OsqueryPack is osquery's pack format (the JSON a --config_path pack entry
// or Fleet's legacy packs point at).
type OsqueryPack struct {
	Platform string                  `json:"platform,omitempty"`
	Version  string                  `json:"version,omitempty"`
	Queries  map[string]OsqueryQuery `json:"queries"`
}

// OsqueryQuery is one query of an osquery pack.
type OsqueryQuery struct {
	Query       string `json:"query"`
	Interval    int    `json:"interval"`
	Platform    string `json:"platform,omitempty"`
	Version     string `json:"version,omitempty"`
	Description string `json:"description"`
	Value       string `json:"value"`
	Snapshot    bool   `json:"snapshot"`
	Removed     bool   `json:"removed"`
	Shard       int    `json:"shard,omitempty"`
}

// FleetQuery is the spec of Fleet's `kind: report` (fleetctl apply; Fleet
// renamed queries to reports and maps the old `kind: query` with a warning)
// and one entry of a GitOps reports file. packs/fleetspec.ReportSpec mirrors
// the Fleet struct that reads it.
type FleetQuery struct {
	Name               string `yaml:"name" json:"name"`
	Description        string `yaml:"description" json:"description"`
	Query              string `yaml:"query" json:"query"`
	Interval           int    `yaml:"interval" json:"interval"`
	Platform           string `yaml:"platform" json:"platform"`
	Logging            string `yaml:"logging" json:"logging"`
	MinOsqueryVersion  string `yaml:"min_osquery_version,omitempty" json:"min_osquery_version,omitempty"`
	ObserverCanRun     bool   `yaml:"observer_can_run" json:"observer_can_run"`
	AutomationsEnabled bool   `yaml:"automations_enabled" json:"automations_enabled"`
}

// FleetPolicy is the spec of Fleet's `kind: policy` and one entry of a GitOps
// policies file (mirrored by packs/fleetspec.PolicySpec).
type FleetPolicy struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	Resolution  string `yaml:"resolution" json:"resolution"`
	Query       string `yaml:"query" json:"query"`
	Platform    string `yaml:"platform" json:"platform"`
	Critical    bool   `yaml:"critical" json:"critical"`
}

// FleetDoc is one document of a fleetctl apply file.
type FleetDoc[T any] struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Spec       T      `yaml:"spec"`
}

// Osquery renders the osquery pack.
func (s *Source) Osquery() OsqueryPack {
	pack := OsqueryPack{Platform: s.Platform, Queries: map[string]OsqueryQuery{}}
	for _, q := range s.Queries {
		oq := OsqueryQuery{
			Query:       q.Query,
			Interval:    q.Interval,
			Version:     q.MinOsqueryVersion,
			Description: q.Description,
			Value:       q.Value,
			Snapshot:    q.Logging == LoggingSnapshot,
			Removed:     q.Logging == LoggingDifferential,
			Shard:       q.Shard,
		}
		if q.Platform != "" {
			oq.Platform = q.Platform
		}
		pack.Queries[q.Name] = oq
	}
	return pack
}

// FleetPlatform maps an osquery platform list to Fleet's: Fleet knows
// darwin, linux and windows, and an empty string means every platform.
func FleetPlatform(list string) (string, error) {
	set := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		switch p = strings.TrimSpace(p); p {
		case "any", "all":
			return "", nil
		case "posix":
			set["darwin"], set["linux"] = true, true
		case "darwin", "linux", "windows":
			set[p] = true
		default:
			return "", fmt.Errorf("platform %q has no Fleet equivalent", p)
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return strings.Join(out, ","), nil
}

// FleetQueries renders the queries for Fleet.
func (s *Source) FleetQueries() ([]FleetQuery, error) {
	out := make([]FleetQuery, 0, len(s.Queries))
	for _, q := range s.Queries {
		platform, err := FleetPlatform(s.QueryPlatform(q))
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.Name, err)
		}
		out = append(out, FleetQuery{
			Name: q.Name,
			// Fleet has no separate "value" field; analysts read the
			// description, so the reason to care goes there too.
			Description:        q.Description + " Why it matters: " + q.Value,
			Query:              q.Query,
			Interval:           q.Interval,
			Platform:           platform,
			Logging:            q.Logging,
			MinOsqueryVersion:  q.MinOsqueryVersion,
			ObserverCanRun:     true,
			AutomationsEnabled: true,
		})
	}
	return out, nil
}

// FleetPolicies renders the policies for Fleet.
func (s *Source) FleetPolicies() ([]FleetPolicy, error) {
	out := make([]FleetPolicy, 0, len(s.Policies))
	for _, p := range s.Policies {
		platform, err := FleetPlatform(s.PolicyPlatform(p))
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		out = append(out, FleetPolicy{
			Name:        p.Name,
			Description: p.Description,
			Resolution:  p.Resolution,
			Query:       p.Query,
			Platform:    platform,
			Critical:    p.Critical,
		})
	}
	return out, nil
}

const generatedHeader = "# Code generated by go run ./packs/gen from packs/source/%s.yaml. DO NOT EDIT.\n"

// Render produces every generated file of the pack, keyed by path relative to
// the packs/ directory.
func (s *Source) Render() (map[string][]byte, error) {
	files := map[string][]byte{}

	// SQL is full of < and >: keep it readable instead of \u003c escapes.
	var packJSON bytes.Buffer
	enc := json.NewEncoder(&packJSON)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.Osquery()); err != nil {
		return nil, err
	}
	files[s.Name+".conf"] = packJSON.Bytes()

	queries, err := s.FleetQueries()
	if err != nil {
		return nil, err
	}
	policies, err := s.FleetPolicies()
	if err != nil {
		return nil, err
	}

	var applyReports, applyPolicies []any
	for _, q := range queries {
		applyReports = append(applyReports, FleetDoc[FleetQuery]{APIVersion: fleetspec.APIVersion, Kind: fleetspec.KindReport, Spec: q})
	}
	for _, p := range policies {
		applyPolicies = append(applyPolicies, FleetDoc[FleetPolicy]{APIVersion: fleetspec.APIVersion, Kind: fleetspec.KindPolicy, Spec: p})
	}
	header := fmt.Sprintf(generatedHeader, s.Name)
	if files["fleet/"+s.Name+".reports.yml"], err = yamlDocs(header, applyReports); err != nil {
		return nil, err
	}
	if files["fleet/"+s.Name+".policies.yml"], err = yamlDocs(header, applyPolicies); err != nil {
		return nil, err
	}
	// fleetctl gitops expands $NAME in these files before parsing them.
	gitops := func(v any) ([]byte, error) {
		data, err := yamlDoc(header, v)
		return []byte(fleetspec.EscapeGitOps(string(data))), err
	}
	if files["fleet/gitops/lib/"+s.Name+".reports.yml"], err = gitops(queries); err != nil {
		return nil, err
	}
	if files["fleet/gitops/lib/"+s.Name+".policies.yml"], err = gitops(policies); err != nil {
		return nil, err
	}
	return files, nil
}

func yamlDoc(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// yamlDocs writes a multi-document file, the form fleetctl apply -f reads.
// The header stays inside the first document: fleetctl splits on ---, and a
// comment above the first one would be a document without kind or spec.
func yamlDocs(header string, docs []any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
