package fleetspec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// docSeparator is fleetctl's document separator (pkg/spec/spec.go
// yamlSeparator): a line starting with ---.
var docSeparator = regexp.MustCompile(`(?m:^---[\t ]*)`)

// SplitYAML splits a multi-document file the way fleetctl does: on every
// line starting with ---, dropping chunks that are empty once trimmed. A
// chunk holding only comments is not dropped, so a comment above the first
// --- becomes a document of its own, without kind or spec.
func SplitYAML(in string) []string {
	var out []string
	for _, chunk := range docSeparator.Split(in, -1) {
		if chunk = strings.TrimSpace(chunk); chunk != "" {
			out = append(out, chunk)
		}
	}
	return out
}

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans. Fleet parses
// YAML with github.com/ghodss/yaml on gopkg.in/yaml.v2, a YAML 1.1 parser,
// so an unquoted `on` or `no` reaches Fleet as true or false, while
// yaml.v3 (YAML 1.2) reads it as a string.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// YAMLToJSON converts one YAML document to JSON the way Fleet does before
// decoding it: without a target type, so a YAML number stays a JSON number
// and a quoted YAML string stays a string. A plain scalar that Fleet's YAML
// 1.1 parser would read differently from the YAML 1.2 one used here is an
// error rather than a silent difference.
func YAMLToJSON(doc []byte) ([]byte, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(doc, &node); err != nil {
		return nil, err
	}
	if err := checkYAML11(&node); err != nil {
		return nil, err
	}
	var v any
	if err := node.Decode(&v); err != nil {
		return nil, err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("YAML to JSON: %w", err)
	}
	return js, nil
}

func checkYAML11(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" && yaml11Bools[n.Value] {
		return fmt.Errorf("line %d: unquoted %q is a boolean to Fleet's YAML 1.1 parser: quote it", n.Line, n.Value)
	}
	for _, c := range n.Content {
		if err := checkYAML11(c); err != nil {
			return err
		}
	}
	return nil
}
