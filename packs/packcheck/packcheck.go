// Package packcheck checks the generated packs as their consumers read them:
// the osquery pack JSON and Fleet's YAML are parsed back, their intervals,
// platforms, names and logging modes validated, and every query's SQL
// collected so it can be compiled against stagewatch's table schemas.
package packcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/stagewatch/stagewatch/host"
	"github.com/stagewatch/stagewatch/packs/fleetspec"
	"github.com/stagewatch/stagewatch/packs/packdef"
	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Query is one SQL statement found in a generated file, named for errors.
type Query struct {
	File, Name, SQL string
}

// SchemaSource serves table schemas with no rows: enough for the SQL engine
// to compile queries against the real columns.
type SchemaSource []sdk.TableSpec

var _ host.TableSource = SchemaSource(nil)

// Tables lists the schemas.
func (s SchemaSource) Tables() []sdk.TableSpec { return s }

// Generate returns no rows for a known table.
func (s SchemaSource) Generate(ctx context.Context, table string, _ []sdk.Constraint, _ func([]sdk.Row) error) error {
	for _, t := range s {
		if t.Name == table {
			return ctx.Err()
		}
	}
	return fmt.Errorf("no table %q", table)
}

// Tables are the schemas pack queries may use: every table stagewatch
// serves.
func Tables() SchemaSource { return SchemaSource(registry.Tables()) }

// CheckOsqueryPack parses an osquery pack and validates it.
func CheckOsqueryPack(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pack packdef.OsqueryPack
	if err := dec.Decode(&pack); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	if pack.Platform != "" {
		if err := packdef.ValidatePlatform(pack.Platform); err != nil {
			errs = append(errs, fmt.Errorf("%s: platform: %w", path, err))
		}
	}
	if len(pack.Queries) == 0 {
		errs = append(errs, fmt.Errorf("%s: no queries", path))
	}
	var out []Query
	for name, q := range pack.Queries {
		where := fmt.Sprintf("%s: query %s", path, name)
		if err := checkName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if err := checkInterval(q.Interval); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if q.Platform != "" {
			if err := packdef.ValidatePlatform(q.Platform); err != nil {
				errs = append(errs, fmt.Errorf("%s: platform: %w", where, err))
			}
		}
		if q.Snapshot && q.Removed {
			errs = append(errs, fmt.Errorf("%s: snapshot and removed together mean nothing to osquery", where))
		}
		if q.Shard < 0 || q.Shard > 100 {
			errs = append(errs, fmt.Errorf("%s: shard %d not in 0..100", where, q.Shard))
		}
		if strings.TrimSpace(q.Description) == "" || strings.TrimSpace(q.Value) == "" {
			errs = append(errs, fmt.Errorf("%s: description and value are required", where))
		}
		out = append(out, Query{File: path, Name: name, SQL: q.Query})
	}
	return out, errors.Join(errs...)
}

func checkName(name string) error {
	if name == "" || strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return fmt.Errorf("name %q: want lower-case letters, digits and underscores", name)
	}
	return nil
}

func checkInterval[T int | uint](seconds T) error {
	if seconds <= 0 || uint64(seconds) > packdef.MaxInterval {
		return fmt.Errorf("interval %d not in 1..%d seconds", seconds, packdef.MaxInterval)
	}
	return nil
}

var fleetPlatforms = map[string]bool{"darwin": true, "linux": true, "windows": true, "chrome": true}

func checkFleetPlatform(list string) error {
	if list == "" {
		return nil // every platform
	}
	for _, p := range strings.Split(list, ",") {
		if !fleetPlatforms[p] {
			return fmt.Errorf("platform %q is not one Fleet accepts (darwin, linux, windows, chrome)", p)
		}
	}
	return nil
}

// CheckFleetApply parses a fleetctl apply file as fleetctl does (see
// fleetspec.DecodeApply): documents split on ---, each decoded strictly by
// kind. A pack file holds reports or policies, not both.
func CheckFleetApply(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := fleetspec.DecodeApply(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, k := range f.Kinds {
		if k != f.Kinds[0] || (k != fleetspec.KindReport && k != fleetspec.KindPolicy) {
			return nil, fmt.Errorf("%s: kinds %v: want only %s or only %s documents", path, f.Kinds, fleetspec.KindReport, fleetspec.KindPolicy)
		}
	}
	return checkFleet(path, f.Reports, f.Policies)
}

// CheckFleetGitOps parses a GitOps lib file as fleetctl gitops does (see
// fleetspec.DecodeGitOpsReports): environment expanded first, so an
// unescaped $NAME is an error, then the list decoded strictly. The file
// name says what it lists: .reports.yml or .policies.yml.
func CheckFleetGitOps(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(path, ".reports.yml"):
		reports, err := fleetspec.DecodeGitOpsReports(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return checkFleet(path, reports, nil)
	case strings.HasSuffix(path, ".policies.yml"):
		policies, err := fleetspec.DecodeGitOpsPolicies(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return checkFleet(path, nil, policies)
	}
	return nil, fmt.Errorf("%s: want a .reports.yml or .policies.yml file", path)
}

func checkFleet(path string, queries []fleetspec.ReportSpec, policies []fleetspec.PolicySpec) ([]Query, error) {
	var errs []error
	var out []Query
	seen := map[string]bool{}
	for _, q := range queries {
		where := fmt.Sprintf("%s: report %q", path, q.Name)
		if seen[q.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[q.Name] = true
		if err := checkName(q.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if err := checkInterval(q.Interval); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if err := checkFleetPlatform(q.Platform); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		switch q.Logging {
		case packdef.LoggingDifferential, packdef.LoggingDifferentialIgnoreRemovals, packdef.LoggingSnapshot:
		default:
			errs = append(errs, fmt.Errorf("%s: logging %q is not one Fleet accepts", where, q.Logging))
		}
		out = append(out, Query{File: path, Name: q.Name, SQL: q.Query})
	}
	for _, p := range policies {
		where := fmt.Sprintf("%s: policy %q", path, p.Name)
		if strings.TrimSpace(p.Name) == "" || seen[p.Name] {
			errs = append(errs, fmt.Errorf("%s: empty or duplicate name", where))
		}
		seen[p.Name] = true
		if err := checkFleetPlatform(p.Platform); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if strings.TrimSpace(p.Resolution) == "" {
			errs = append(errs, fmt.Errorf("%s: no resolution", where))
		}
		out = append(out, Query{File: path, Name: p.Name, SQL: p.Query})
	}
	return out, errors.Join(errs...)
}
