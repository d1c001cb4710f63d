// Package elements decodes an analytic's mutable elements from its config
// JSON against the analytic's own descriptors: one place where keys are
// matched, values type-checked and defaults filled, so every analytic rejects
// a bad value the same way, naming the key and saying what was expected.
package elements

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// ConfigKey is the key named by errors about the config as a whole (not an
// object, malformed JSON).
const ConfigKey = "config"

// Values are the decoded mutable elements of one analytic: the given value
// where the config had one, the descriptor's default otherwise.
type Values struct {
	descs  []sdk.MutableElement
	values map[string]any // string, []string, int64, time.Duration or bool
}

// Decode checks raw (a JSON object: element name -> value; nil, empty or
// null means all defaults) against descs. Every problem is a
// *sdk.ConfigError naming the key. A descriptor whose default does not
// decode is reported as an error too, keyed by that element, since the
// analytic could not run with it.
func Decode(descs []sdk.MutableElement, raw json.RawMessage) (*Values, error) {
	v := &Values{descs: descs, values: make(map[string]any, len(descs))}
	byName := make(map[string]sdk.MutableElement, len(descs))
	for _, d := range descs {
		if _, dup := byName[d.Name]; dup {
			return nil, &sdk.ConfigError{Key: d.Name, Reason: "element declared twice by the analytic"}
		}
		byName[d.Name] = d
	}

	given, err := splitObject(raw)
	if err != nil {
		return nil, err
	}
	for _, kv := range given {
		d, ok := byName[kv.key]
		if !ok {
			return nil, &sdk.ConfigError{Key: keyName(kv.key), Reason: unknownReason(kv.key, descs)}
		}
		value, err := decodeValue(d, kv.value)
		if err != nil {
			return nil, &sdk.ConfigError{Key: d.Name, Reason: err.Error()}
		}
		v.values[d.Name] = value
	}
	for _, d := range descs {
		if _, ok := v.values[d.Name]; ok {
			continue
		}
		value, err := decodeValue(d, d.Default)
		if err != nil {
			return nil, &sdk.ConfigError{Key: d.Name, Reason: "the analytic's default is invalid: " + err.Error()}
		}
		v.values[d.Name] = value
	}
	return v, nil
}

// CheckDefaults reports whether every descriptor's default decodes; analytics
// call it from tests so a bad default fails the build, not the first start.
func CheckDefaults(descs []sdk.MutableElement) error {
	_, err := Decode(descs, nil)
	return err
}

type keyValue struct {
	key   string
	value json.RawMessage
}

// splitObject reads the top-level object by hand so that a key given twice
// is an error rather than the last one silently winning.
func splitObject(raw json.RawMessage) ([]keyValue, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "malformed JSON: " + err.Error()}
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "expected an object of mutable elements, got " + describeJSON(trimmed)}
	}
	var out []keyValue
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "malformed JSON: " + err.Error()}
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "malformed JSON: object key is not a string"}
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, &sdk.ConfigError{Key: keyName(key), Reason: "malformed JSON value: " + err.Error()}
		}
		if seen[key] {
			return nil, &sdk.ConfigError{Key: keyName(key), Reason: "given more than once"}
		}
		seen[key] = true
		out = append(out, keyValue{key: key, value: value})
	}
	if _, err := dec.Token(); err != nil {
		return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "malformed JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &sdk.ConfigError{Key: ConfigKey, Reason: "malformed JSON: data after the object"}
	}
	return out, nil
}

// keyName keeps errors keyed even for an empty key, which names nothing.
func keyName(key string) string {
	if key == "" {
		return `""`
	}
	return key
}

func unknownReason(key string, descs []sdk.MutableElement) string {
	names := make([]string, len(descs))
	hint := ""
	for i, d := range descs {
		names[i] = d.Name
		if strings.EqualFold(d.Name, key) {
			hint = fmt.Sprintf(" (did you mean %s?)", d.Name)
		}
	}
	return "unknown mutable element" + hint + "; known: " + strings.Join(names, ", ")
}

func decodeValue(d sdk.MutableElement, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, fmt.Errorf("expected %s, got nothing", expectation(d))
	}
	switch d.Type {
	case sdk.ElementString:
		s, ok := jsonString(raw)
		if !ok {
			return nil, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
		}
		return s, nil
	case sdk.ElementStringList:
		list, err := stringList(d, raw)
		if err != nil {
			return nil, err
		}
		for i, s := range list {
			if s == "" {
				return nil, fmt.Errorf("expected %s, got an empty string at index %d", expectation(d), i)
			}
		}
		return list, nil
	case sdk.ElementInteger:
		return integer(d, raw)
	case sdk.ElementDuration:
		return duration(d, raw)
	case sdk.ElementBoolean:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
	case sdk.ElementEnum:
		s, ok := jsonString(raw)
		if !ok {
			return nil, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
		}
		return enumValue(d, s)
	case sdk.ElementEnumList:
		list, err := stringList(d, raw)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(list))
		for _, s := range list {
			canonical, err := enumValue(d, s)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, canonical) {
				out = append(out, canonical)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("element has unsupported type %d", int(d.Type))
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func stringList(d sdk.MutableElement, raw json.RawMessage) ([]string, error) {
	if raw[0] != '[' {
		return nil, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("expected %s, got malformed JSON: %v", expectation(d), err)
	}
	list := make([]string, 0, len(items))
	for i, item := range items {
		s, ok := jsonString(bytes.TrimSpace(item))
		if !ok {
			return nil, fmt.Errorf("expected %s, got %s at index %d", expectation(d), describeJSON(item), i)
		}
		list = append(list, s)
	}
	return list, nil
}

func integer(d sdk.MutableElement, raw json.RawMessage) (int64, error) {
	if !isNumber(raw) {
		return 0, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err == nil {
		return n, nil
	}
	// 5.0 or 1e3 are integers written another way; 5.5 or 1e30 are not.
	f, ferr := strconv.ParseFloat(string(raw), 64)
	if ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		return int64(f), nil
	}
	return 0, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
}

func duration(d sdk.MutableElement, raw json.RawMessage) (time.Duration, error) {
	var dur time.Duration
	switch {
	case isNumber(raw):
		seconds, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || seconds != math.Trunc(seconds) || math.Abs(seconds) > float64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
		}
		dur = time.Duration(seconds) * time.Second
	default:
		s, ok := jsonString(raw)
		if !ok {
			return 0, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
		}
		parsed, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("expected %s, got %s", expectation(d), describeJSON(raw))
		}
		dur = parsed
	}
	if dur < 0 {
		return 0, fmt.Errorf("expected %s, got a negative duration %s", expectation(d), describeJSON(raw))
	}
	return dur, nil
}

// enumValue matches case-insensitively and returns the analytic's spelling,
// so "Elevated" in a YAML file means what the operator obviously meant.
func enumValue(d sdk.MutableElement, s string) (string, error) {
	for _, allowed := range d.Allowed {
		if strings.EqualFold(allowed, s) {
			return allowed, nil
		}
	}
	return "", fmt.Errorf("expected one of %s, got %s", strings.Join(d.Allowed, "|"), quoteClip(s))
}

func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

func expectation(d sdk.MutableElement) string {
	switch d.Type {
	case sdk.ElementString:
		return "a string"
	case sdk.ElementStringList:
		return "a list of non-empty strings"
	case sdk.ElementInteger:
		return "an integer"
	case sdk.ElementDuration:
		return `a duration such as "15m" or "1h30m", or integer seconds`
	case sdk.ElementBoolean:
		return "true or false"
	case sdk.ElementEnum:
		return "one of " + strings.Join(d.Allowed, "|")
	case sdk.ElementEnumList:
		return "a list drawn from " + strings.Join(d.Allowed, "|")
	}
	return d.Type.String()
}

// describeJSON names a JSON value's kind and shows it, clipped, so an error
// about a 10 kB blob stays one readable line.
func describeJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return "string " + quoteClip(s)
		}
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == 't' || c == 'f':
		return "boolean " + string(raw)
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number " + clip(string(raw))
	}
	return "malformed JSON " + quoteClip(string(raw))
}

const clipAt = 60

func clip(s string) string {
	if len(s) <= clipAt {
		return s
	}
	return s[:clipAt] + "…"
}

func quoteClip(s string) string {
	if len(s) > clipAt {
		return strconv.Quote(s[:clipAt]) + "…"
	}
	return strconv.Quote(s)
}

// Names lists the elements in descriptor order.
func (v *Values) Names() []string {
	names := make([]string, len(v.descs))
	for i, d := range v.descs {
		names[i] = d.Name
	}
	return names
}

// The accessors panic on a name the analytic did not declare or on a type
// mismatch: both are mistakes in the analytic's code, never in its input,
// and the analytic's tests exercise every name it reads.
func (v *Values) get(name string, want ...sdk.ElementType) any {
	for _, d := range v.descs {
		if d.Name == name {
			if !slices.Contains(want, d.Type) {
				panic(fmt.Sprintf("elements: %s is a %s, not a %s", name, d.Type, want[0]))
			}
			return v.values[name]
		}
	}
	panic("elements: no mutable element named " + name)
}

// String returns a string or enum element.
func (v *Values) String(name string) string {
	return v.get(name, sdk.ElementString, sdk.ElementEnum).(string)
}

// Strings returns a copy of a string-list or enum-list element.
func (v *Values) Strings(name string) []string {
	return slices.Clone(v.get(name, sdk.ElementStringList, sdk.ElementEnumList).([]string))
}

// Int returns an integer element.
func (v *Values) Int(name string) int64 {
	return v.get(name, sdk.ElementInteger).(int64)
}

// Duration returns a duration element.
func (v *Values) Duration(name string) time.Duration {
	return v.get(name, sdk.ElementDuration).(time.Duration)
}

// Bool returns a boolean element.
func (v *Values) Bool(name string) bool {
	return v.get(name, sdk.ElementBoolean).(bool)
}

// JSON is the effective configuration: every element, in descriptor order,
// durations in Go syntax. Decoding it again yields the same values.
func (v *Values) JSON() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, d := range v.descs {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(d.Name)
		b.Write(key)
		b.WriteByte(':')
		value := v.values[d.Name]
		if dur, ok := value.(time.Duration); ok {
			value = FormatDuration(dur)
		}
		encoded, err := json.Marshal(value)
		if err != nil {
			// Only strings, lists of strings, integers and booleans reach
			// here, all of which marshal.
			panic("elements: " + err.Error())
		}
		b.Write(encoded)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// FormatDuration writes d in Go syntax without zero tails: 30m, 1h30m, 90s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
