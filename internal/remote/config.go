// Package remote is what the remote analytics (AN0043 AWS, AN0044 ESXi)
// share, as internal/endpoint is for the endpoint ones: their connection
// blocks decoded strictly with every bad key named, secrets read from
// files or the environment and never shown, a poll loop with back-off and
// jitter, durable cursors, dedupe keys, events and detections in the
// analytic's state directory, and health counters for staging_analytics.
// An analytic is its API clients, its parser and its correlator; the
// rest is here.
package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Decode reads raw, a JSON object, into v (a pointer to a struct with
// json tags), strictly: a key v has no field for, or a value of the
// wrong type, is a *sdk.ConfigError naming the key under prefix
// ("aws.trail.bucket"), with the keys known there.
func Decode(prefix string, raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	if err := checkKeys(prefix, raw, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			key := prefix
			if te.Field != "" {
				key = join(prefix, te.Field)
			}
			return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("expected %s, got a JSON %s", kindName(te.Type), te.Value)}
		}
		var ce *sdk.ConfigError
		if errors.As(err, &ce) {
			if ce.Key == "" {
				ce.Key = prefix
			}
			return ce
		}
		return &sdk.ConfigError{Key: prefix, Reason: err.Error()}
	}
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// checkKeys walks raw against t's json fields, naming the first unknown.
func checkKeys(path string, raw json.RawMessage, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()) {
		// A value with its own syntax (a duration, a start time) is
		// checked here, where its key is known.
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			reason := err.Error()
			var ce *sdk.ConfigError
			if errors.As(err, &ce) {
				reason = ce.Reason
			}
			return &sdk.ConfigError{Key: path, Reason: reason}
		}
		return nil
	}
	switch {
	case t.Kind() == reflect.Slice && len(raw) > 0 && raw[0] == '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil // the type error is reported by Unmarshal
		}
		for i, it := range items {
			if err := checkKeys(fmt.Sprintf("%s[%d]", path, i), it, t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() != reflect.Struct || len(raw) == 0 || raw[0] != '{':
		return nil
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ft, ok := fields[k]
		if !ok {
			return &sdk.ConfigError{Key: join(path, k), Reason: "unknown key (known here: " + strings.Join(names, ", ") + ")"}
		}
		if err := checkKeys(join(path, k), obj[k], ft); err != nil {
			return err
		}
	}
	return nil
}

// Duration is a duration written as Go syntax ("60s", "1h30m") or a
// number of seconds.
type Duration time.Duration

// UnmarshalJSON reads "60s" or 60.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(time.Duration(n * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &sdk.ConfigError{Reason: fmt.Sprintf("%s is not a duration (want 60s, 5m, 1h or seconds)", b)}
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes Go syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Start is where a first run begins reading: a duration back from now
// ("24h") or an RFC 3339 time.
type Start struct {
	Back time.Duration
	At   time.Time
}

// UnmarshalJSON reads "24h" or "2026-01-02T15:04:05Z".
func (s *Start) UnmarshalJSON(b []byte) error {
	text := strings.Trim(string(b), `"`)
	if t, err := time.Parse(time.RFC3339, text); err == nil {
		*s = Start{At: t}
		return nil
	}
	if d, err := time.ParseDuration(text); err == nil && d >= 0 {
		*s = Start{Back: d}
		return nil
	}
	return &sdk.ConfigError{Reason: fmt.Sprintf("%s is neither a duration back from now (24h) nor an RFC 3339 time", b)}
}

// MarshalJSON writes what was read.
func (s Start) MarshalJSON() ([]byte, error) {
	if !s.At.IsZero() {
		return json.Marshal(s.At.Format(time.RFC3339))
	}
	return json.Marshal(s.Back.String())
}

// From is the time a first run starts at, seen from now.
func (s Start) From(now time.Time) time.Time {
	if !s.At.IsZero() {
		return s.At
	}
	return now.Add(-s.Back)
}

// Secret is a credential read from a file or an environment variable.
// It never prints or marshals its value.
type Secret struct {
	// value is behind a pointer: fmt prints a struct that holds a Secret
	// in an unexported field without calling String, but never follows a
	// pointer inside it, so %+v of any such struct shows an address.
	value  *string
	source string // "file /etc/…" or "env NAME", for messages
}

// Redacted is how a secret is shown.
const Redacted = "[redacted]"

func (s Secret) String() string { return Redacted }

// GoString keeps %#v from showing the value.
func (s Secret) GoString() string { return "remote.Secret{" + Redacted + "}" }

// MarshalJSON writes the redaction, never the value.
func (s Secret) MarshalJSON() ([]byte, error) {
	if !s.IsSet() {
		return []byte(`""`), nil
	}
	return json.Marshal(Redacted)
}

// Value is the secret itself, for the client that sends it.
func (s Secret) Value() string {
	if s.value == nil {
		return ""
	}
	return *s.value
}

// Source says where the secret came from, without it.
func (s Secret) Source() string { return s.source }

// IsSet reports whether a secret was read.
func (s Secret) IsSet() bool { return s.Value() != "" }

// ReadSecret reads a secret from file (its content, one trailing newline
// dropped) or from the environment variable env; key names the config
// key for errors (password_file, password_env). Neither set is no secret.
// A secret file must not be readable by others where permissions say so.
func ReadSecret(key, file, env string) (Secret, error) {
	switch {
	case file != "" && env != "":
		return Secret{}, &sdk.ConfigError{Key: key, Reason: "give the secret in a file or in the environment, not both"}
	case file != "":
		info, err := os.Stat(file)
		if err != nil {
			return Secret{}, &sdk.ConfigError{Key: key + "_file", Reason: err.Error()}
		}
		if info.Mode().Perm()&0o004 != 0 && secretModeChecked {
			return Secret{}, &sdk.ConfigError{Key: key + "_file", Reason: fmt.Sprintf("%s is readable by everyone (mode %04o): chmod o-r it", file, info.Mode().Perm())}
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return Secret{}, &sdk.ConfigError{Key: key + "_file", Reason: err.Error()}
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return Secret{}, &sdk.ConfigError{Key: key + "_file", Reason: file + " is empty"}
		}
		return Secret{value: &v, source: "file " + file}, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return Secret{}, &sdk.ConfigError{Key: key + "_env", Reason: "environment variable " + env + " is not set"}
		}
		return Secret{value: &v, source: "env " + env}, nil
	}
	return Secret{}, nil
}
