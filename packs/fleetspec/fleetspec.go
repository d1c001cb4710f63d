// Package fleetspec reads the files stagewatch ships for Fleet the way Fleet
// reads them, so a file Fleet would refuse fails the build instead of an
// admin's fleetctl run.
//
// The structs below mirror the Fleet structs that decode each file, limited
// to the keys stagewatch emits, and every value has the type Fleet (and, for
// command_line_flags, osquery) declares. They are decoded with
// encoding/json's DisallowUnknownFields after the YAML has been turned into
// JSON, which is what Fleet does (github.com/ghodss/yaml, then
// encoding/json). A key stagewatch starts to emit must be added here after
// checking it against Fleet's source; the Fleet file each mirror follows is
// named on it.
//
// Only the standard library and go.yaml.in/yaml/v3 are used, so the
// packaging tests can share these checks without pulling in the SQL engine.
package fleetspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// APIVersion is the apiVersion of every fleetctl apply document.
const APIVersion = "v1"

// fleetctl apply kinds stagewatch ships (pkg/spec/spec.go GroupFromBytes;
// the constants are fleet.ReportKind, fleet.PolicyKind, fleet.AppConfigKind).
const (
	KindReport = "report"
	KindPolicy = "policy"
	KindConfig = "config"
)

// deprecatedKinds are kinds fleetctl still accepts and maps to the current
// name with a warning (pkg/spec/spec.go: "`kind: query` is deprecated,
// please use `kind: report` instead"; likewise team -> fleet). stagewatch
// ships the current names only.
var deprecatedKinds = map[string]string{
	"query": KindReport,
	"team":  "fleet",
}

// ReportSpec mirrors the keys of Fleet's fleet.QuerySpec (server/fleet/
// queries.go) that stagewatch emits: the spec of `kind: report` and one entry
// of a GitOps reports file. Fleet declares interval as uint, so a negative
// interval fails to decode, as it does in Fleet.
type ReportSpec struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	Query              string `json:"query"`
	Interval           uint   `json:"interval"`
	Platform           string `json:"platform"`
	Logging            string `json:"logging"`
	MinOsqueryVersion  string `json:"min_osquery_version"`
	ObserverCanRun     bool   `json:"observer_can_run"`
	AutomationsEnabled bool   `json:"automations_enabled"`
}

// PolicySpec mirrors the keys of Fleet's fleet.PolicySpec (server/fleet/
// policies.go) that stagewatch emits: the spec of `kind: policy` and one entry
// of a GitOps policies file.
type PolicySpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Resolution  string `json:"resolution"`
	Query       string `json:"query"`
	Platform    string `json:"platform"`
	Critical    bool   `json:"critical"`
}

// AgentOptions mirrors the keys of Fleet's fleet.AgentOptions (server/fleet/
// agent_options.go) that stagewatch emits. Fleet keeps command_line_flags
// raw and decodes it strictly in a second step, so it is raw here too.
type AgentOptions struct {
	Extensions       map[string]ExtensionInfo `json:"extensions,omitempty"`
	CommandLineFlags json.RawMessage          `json:"command_line_flags,omitempty"`

	// Flags is CommandLineFlags decoded, filled by ValidateAgentOptions.
	Flags CommandLineFlags `json:"-"`
}

// ExtensionInfo mirrors fleet.ExtensionInfo (server/fleet/orbit.go): one
// extension fleetd downloads from the TUF repository.
type ExtensionInfo struct {
	// Platform is one of Fleet's extension platforms (linux, macos, windows).
	Platform string   `json:"platform"`
	Channel  string   `json:"channel"`
	Labels   []string `json:"labels,omitempty"`
}

// extensionPlatforms are the values fleet.ExtensionInfo.Platform documents;
// osquery's "darwin" is "macos" here.
var extensionPlatforms = map[string]bool{"linux": true, "macos": true, "windows": true}

// osqueryCommandLineFlags mirrors the fields of Fleet's
// osqueryCommandLineFlags (server/fleet/agent_options_generated.go, generated
// from osquery 5.19.0's flag list) for the flags stagewatch sets, with the
// type osquery declares each one with. It keeps Fleet's type name so a type
// error reads as it does from Fleet ("... into Go struct field
// osqueryCommandLineFlags.extensions_timeout of type string").
//
// osquery/extensions/extensions.cpp declares all of these as strings:
//
//	CLI_FLAG(string, extensions_autoload, OSQUERY_HOME "extensions.load", …)
//	CLI_FLAG(string, extensions_timeout, "3", "Seconds to wait for autoloaded extensions")
//	CLI_FLAG(string, extensions_interval, "3", "Seconds delay between connectivity checks")
//	CLI_FLAG(string, extensions_require, "", "Comma-separated list of required extensions")
//
// host_identifier and database_path are here because Fleet refuses them too.
type osqueryCommandLineFlags struct {
	ExtensionsAutoload string `json:"extensions_autoload"`
	ExtensionsInterval string `json:"extensions_interval"`
	ExtensionsRequire  string `json:"extensions_require"`
	ExtensionsTimeout  string `json:"extensions_timeout"`
	HostIdentifier     string `json:"host_identifier"`
	DatabasePath       string `json:"database_path"`
}

// CommandLineFlags is the decoded command_line_flags of an agent options
// block.
type CommandLineFlags = osqueryCommandLineFlags

// strictDecode is what Fleet's fleet.JSONStrictDecode does: unknown keys
// and trailing data are errors.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if dec.Decode(&extra) != io.EOF {
		return errors.New("json: extra bytes after end of object")
	}
	return nil
}

// ValidateAgentOptions checks an agent_options value (as JSON) the way
// Fleet's ValidateJSONAgentOptions does for the keys stagewatch uses: the
// block is decoded strictly, then command_line_flags is decoded strictly
// into osquery's flag types, and the flags Fleet refuses because they break
// fleetd are refused.
func ValidateAgentOptions(raw json.RawMessage) (*AgentOptions, error) {
	var opts AgentOptions
	if err := strictDecode(raw, &opts); err != nil {
		return nil, fmt.Errorf("agent options: %w", err)
	}
	if len(opts.CommandLineFlags) > 0 {
		if err := strictDecode(opts.CommandLineFlags, &opts.Flags); err != nil {
			return nil, fmt.Errorf("command-line flags: %w", err)
		}
		// The same refusals, in the same order, as ValidateJSONAgentOptions.
		refused := ""
		switch {
		case opts.Flags.HostIdentifier != "":
			refused = "--host_identifier"
		case opts.Flags.ExtensionsAutoload != "":
			refused = "--extensions_autoload"
		case opts.Flags.DatabasePath != "":
			refused = "--database_path"
		}
		if refused != "" {
			return nil, fmt.Errorf("The %s flag isn't supported. Please remove this flag.", refused)
		}
	}
	for name, ext := range opts.Extensions {
		if !extensionPlatforms[ext.Platform] {
			return nil, fmt.Errorf("extensions.%s.platform %q: Fleet knows linux, macos and windows", name, ext.Platform)
		}
		if strings.TrimSpace(ext.Channel) == "" {
			return nil, fmt.Errorf("extensions.%s.channel: empty", name)
		}
	}
	return &opts, nil
}

// ApplyFile is what a fleetctl apply file holds, by kind.
type ApplyFile struct {
	Reports      []ReportSpec
	Policies     []PolicySpec
	AgentOptions []*AgentOptions // one per kind: config document
	Kinds        []string        // kind of each document, in order
}

type applyDoc struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Spec       json.RawMessage `json:"spec"`
}

// appConfigSpec is the part of fleet.AppConfig a stagewatch config document
// sets.
type appConfigSpec struct {
	AgentOptions json.RawMessage `json:"agent_options"`
}

// DecodeApply reads a fleetctl apply file as fleetctl does: split into
// documents on lines starting with ---, each document turned into JSON and
// decoded by kind. A document without kind or spec (a file that starts with a
// comment before its first ---, for one) is the error fleetctl gives.
func DecodeApply(data []byte) (*ApplyFile, error) {
	out := &ApplyFile{}
	docs := SplitYAML(string(data))
	if len(docs) == 0 {
		return nil, errors.New("no documents")
	}
	for i, text := range docs {
		where := fmt.Sprintf("document %d", i+1)
		js, err := YAMLToJSON([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		var doc applyDoc
		if err := strictDecode(js, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		kind := strings.ToLower(doc.Kind)
		if len(doc.Spec) == 0 || string(doc.Spec) == "null" {
			if kind == "" {
				return nil, fmt.Errorf(`%s: Missing required fields ("spec", "kind") on provided configuration`, where)
			}
			return nil, fmt.Errorf(`%s: Missing required fields ("spec") on provided %q configuration`, where, doc.Kind)
		}
		if doc.APIVersion != APIVersion {
			return nil, fmt.Errorf("%s: apiVersion %q, want %s", where, doc.APIVersion, APIVersion)
		}
		if doc.Kind != kind {
			return nil, fmt.Errorf("%s: kind %q: write it in lower case, %q", where, doc.Kind, kind)
		}
		if current, ok := deprecatedKinds[kind]; ok {
			return nil, fmt.Errorf("%s: kind %q is deprecated (fleetctl maps it to %q with a warning): ship kind: %s", where, kind, current, current)
		}
		out.Kinds = append(out.Kinds, kind)
		switch kind {
		case KindReport:
			var r ReportSpec
			if err := strictDecode(doc.Spec, &r); err != nil {
				return nil, fmt.Errorf("%s: %s spec: %w", where, kind, err)
			}
			if err := validateReport(r); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			out.Reports = append(out.Reports, r)
		case KindPolicy:
			var p PolicySpec
			if err := strictDecode(doc.Spec, &p); err != nil {
				return nil, fmt.Errorf("%s: %s spec: %w", where, kind, err)
			}
			if err := validatePolicy(p); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			out.Policies = append(out.Policies, p)
		case KindConfig:
			var c appConfigSpec
			if err := strictDecode(doc.Spec, &c); err != nil {
				return nil, fmt.Errorf("%s: %s spec: %w", where, kind, err)
			}
			if len(c.AgentOptions) == 0 {
				return nil, fmt.Errorf("%s: config spec has no agent_options", where)
			}
			opts, err := ValidateAgentOptions(c.AgentOptions)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			out.AgentOptions = append(out.AgentOptions, opts)
		default:
			return nil, fmt.Errorf("%s: unknown kind %q", where, doc.Kind)
		}
	}
	return out, nil
}

// DecodeGitOpsReports reads a GitOps reports file (a list of reports
// referenced with `reports: [{path: …}]`) as fleetctl gitops does: the
// environment is expanded first (an unescaped $NAME is an error here, see
// ExpandGitOps), then the list is decoded strictly.
func DecodeGitOpsReports(data []byte) ([]ReportSpec, error) {
	var out []ReportSpec
	if err := decodeGitOps(data, &out); err != nil {
		return nil, err
	}
	for i, r := range out {
		if err := validateReport(r); err != nil {
			return nil, fmt.Errorf("reports[%d]: %w", i, err)
		}
	}
	return out, nil
}

// DecodeGitOpsPolicies reads a GitOps policies file like DecodeGitOpsReports.
func DecodeGitOpsPolicies(data []byte) ([]PolicySpec, error) {
	var out []PolicySpec
	if err := decodeGitOps(data, &out); err != nil {
		return nil, err
	}
	for i, p := range out {
		if err := validatePolicy(p); err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
	}
	return out, nil
}

func decodeGitOps(data []byte, v any) error {
	expanded, err := ExpandGitOps(string(data))
	if err != nil {
		return err
	}
	js, err := YAMLToJSON([]byte(expanded))
	if err != nil {
		return err
	}
	return strictDecode(js, v)
}

// validateReport is Fleet's validateReport (pkg/spec/gitops.go) plus the
// logging and platform checks Fleet's Query.Verify applies on apply.
func validateReport(r ReportSpec) error {
	if r.Name == "" {
		return errors.New("report: `name` is required")
	}
	if strings.TrimSpace(r.Query) == "" {
		return fmt.Errorf("report %q: `query` is required", r.Name)
	}
	if !isASCII(r.Name) {
		return fmt.Errorf("report %q: `name` must be in ASCII", r.Name)
	}
	switch r.Logging {
	case "snapshot", "differential", "differential_ignore_removals":
	default:
		return fmt.Errorf("report %q: logging %q: Fleet accepts snapshot, differential and differential_ignore_removals", r.Name, r.Logging)
	}
	if err := verifyPlatforms(r.Platform); err != nil {
		return fmt.Errorf("report %q: %w", r.Name, err)
	}
	return nil
}

// validatePolicy is PolicySpec.Verify (server/fleet/policies.go).
func validatePolicy(p PolicySpec) error {
	if strings.TrimSpace(p.Name) == "" {
		return errors.New("policy: name cannot be empty")
	}
	if strings.TrimSpace(p.Query) == "" {
		return fmt.Errorf("policy %q: query cannot be empty", p.Name)
	}
	if err := verifyPlatforms(p.Platform); err != nil {
		return fmt.Errorf("policy %q: %w", p.Name, err)
	}
	return nil
}

// verifyPlatforms is Fleet's platform check for reports and policies: a
// comma-separated list of darwin, linux, windows and chrome, empty for all.
func verifyPlatforms(list string) error {
	if list == "" {
		return nil
	}
	for _, p := range strings.Split(list, ",") {
		switch strings.TrimSpace(p) {
		case "darwin", "linux", "windows", "chrome":
		default:
			return fmt.Errorf("platform %q: Fleet accepts darwin, linux, windows and chrome", p)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
