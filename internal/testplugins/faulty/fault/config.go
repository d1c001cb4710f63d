package fault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// maxRows keeps a typo in a test config from asking for a billion rows.
const maxRows = 10_000_000

// Config holds the mutable elements, each named and typed as Elements
// describes them.
type Config struct {
	Rows            int64
	HangGenerate    bool
	IgnoreCancel    bool
	CrashOnGenerate bool
	CrashAfterStart time.Duration
	FailGenerate    string
	Description     string
}

// DefaultConfig is the configuration in effect when a key is absent.
var DefaultConfig = Config{
	Rows:        100,
	Description: "Synthetic detection from the faulty test analytic",
}

// Elements describes the mutable elements with their defaults.
var Elements = []sdk.MutableElement{
	{Name: "Rows", Type: sdk.ElementInteger, Default: json.RawMessage(`100`),
		Description: "Rows staging_detections returns; row i has time BaseTime+i"},
	{Name: "HangGenerate", Type: sdk.ElementBoolean, Default: json.RawMessage(`false`),
		Description: "Generate blocks until the query is cancelled"},
	{Name: "IgnoreCancel", Type: sdk.ElementBoolean, Default: json.RawMessage(`false`),
		Description: "With HangGenerate, Generate keeps blocking after cancellation"},
	{Name: "CrashOnGenerate", Type: sdk.ElementBoolean, Default: json.RawMessage(`false`),
		Description: "Generate exits the process with status 3"},
	{Name: "CrashAfterStart", Type: sdk.ElementDuration, Default: json.RawMessage(`"0s"`),
		Description: "Exit with status 3 this long after Start; 0s never"},
	{Name: "FailGenerate", Type: sdk.ElementString, Default: json.RawMessage(`""`),
		Description: "When set, Generate fails with this message"},
	{Name: "Description", Type: sdk.ElementString, Default: json.RawMessage(`"Synthetic detection from the faulty test analytic"`),
		Description: "The reason column of every row"},
}

// ParseConfig decodes raw (a JSON object; nil, empty or null for all
// defaults). Any problem is a *sdk.ConfigError naming the key.
func ParseConfig(raw json.RawMessage) (Config, error) {
	cfg := DefaultConfig
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return cfg, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return cfg, &sdk.ConfigError{Key: "AN9999", Reason: "configuration is not a JSON object: " + err.Error()}
	}
	keys := make([]string, 0, len(fields))
	for key := range fields {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if err := cfg.set(key, fields[key]); err != nil {
			return DefaultConfig, err
		}
	}
	return cfg, nil
}

func (c *Config) set(key string, value json.RawMessage) error {
	bad := func(want string) error {
		return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("want %s, got %s", want, value)}
	}
	switch key {
	case "Rows":
		if json.Unmarshal(value, &c.Rows) != nil {
			return bad("an integer")
		}
		if c.Rows < 0 || c.Rows > maxRows {
			return &sdk.ConfigError{Key: key, Reason: fmt.Sprintf("%d is outside 0..%d", c.Rows, maxRows)}
		}
	case "HangGenerate", "IgnoreCancel", "CrashOnGenerate":
		var on bool
		if json.Unmarshal(value, &on) != nil {
			return bad("true or false")
		}
		switch key {
		case "HangGenerate":
			c.HangGenerate = on
		case "IgnoreCancel":
			c.IgnoreCancel = on
		default:
			c.CrashOnGenerate = on
		}
	case "CrashAfterStart":
		var text string
		if json.Unmarshal(value, &text) != nil {
			return bad(`a duration string such as "2s"`)
		}
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return bad(`a non-negative duration such as "2s"`)
		}
		c.CrashAfterStart = d
	case "FailGenerate", "Description":
		var text string
		if json.Unmarshal(value, &text) != nil {
			return bad("a string")
		}
		if key == "FailGenerate" {
			c.FailGenerate = text
		} else {
			c.Description = text
		}
	default:
		names := make([]string, len(Elements))
		for i, e := range Elements {
			names[i] = e.Name
		}
		return &sdk.ConfigError{Key: key, Reason: "unknown key; known keys: " + strings.Join(names, ", ")}
	}
	return nil
}

// Effective is the configuration as JSON, element names as keys.
func (c Config) Effective() json.RawMessage {
	out, _ := json.Marshal(struct {
		Rows            int64
		HangGenerate    bool
		IgnoreCancel    bool
		CrashOnGenerate bool
		CrashAfterStart string
		FailGenerate    string
		Description     string
	}{c.Rows, c.HangGenerate, c.IgnoreCancel, c.CrashOnGenerate, c.CrashAfterStart.String(), c.FailGenerate, c.Description})
	return out
}
