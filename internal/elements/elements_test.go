package elements

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

var testDescs = []sdk.MutableElement{
	{Name: "StagingDirectoryList", Type: sdk.ElementStringList, Default: json.RawMessage(`["/tmp/","/var/tmp/"]`)},
	{Name: "TimeWindow", Type: sdk.ElementDuration, Default: json.RawMessage(`"30m"`)},
	{Name: "MinimumFileCount", Type: sdk.ElementInteger, Default: json.RawMessage(`2`)},
	{Name: "Verbose", Type: sdk.ElementBoolean, Default: json.RawMessage(`false`)},
	{Name: "Label", Type: sdk.ElementString, Default: json.RawMessage(`"x"`)},
	{Name: "Mode", Type: sdk.ElementEnum, Default: json.RawMessage(`"fast"`), Allowed: []string{"fast", "thorough"}},
	{Name: "UserContext", Type: sdk.ElementEnumList, Default: json.RawMessage(`["any"]`), Allowed: []string{"any", "interactive", "elevated"}},
}

func TestDecodeDefaults(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "null", "{}", "  { }  "} {
		v, err := Decode(testDescs, json.RawMessage(raw))
		if err != nil {
			t.Fatalf("Decode(%q): %v", raw, err)
		}
		if got := v.Strings("StagingDirectoryList"); !slices.Equal(got, []string{"/tmp/", "/var/tmp/"}) {
			t.Errorf("StagingDirectoryList = %q", got)
		}
		if got := v.Duration("TimeWindow"); got != 30*time.Minute {
			t.Errorf("TimeWindow = %v", got)
		}
		if got := v.Int("MinimumFileCount"); got != 2 {
			t.Errorf("MinimumFileCount = %d", got)
		}
		if v.Bool("Verbose") || v.String("Label") != "x" || v.String("Mode") != "fast" {
			t.Errorf("scalars wrong: %s", v.JSON())
		}
		want := `{"StagingDirectoryList":["/tmp/","/var/tmp/"],"TimeWindow":"30m","MinimumFileCount":2,"Verbose":false,"Label":"x","Mode":"fast","UserContext":["any"]}`
		if got := string(v.JSON()); got != want {
			t.Errorf("JSON = %s\nwant %s", got, want)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		raw   string
		check func(*Values) bool
	}{
		{"duration string", `{"TimeWindow":"1h30m"}`, func(v *Values) bool { return v.Duration("TimeWindow") == 90*time.Minute }},
		{"duration seconds", `{"TimeWindow":900}`, func(v *Values) bool { return v.Duration("TimeWindow") == 15*time.Minute }},
		{"duration seconds as float", `{"TimeWindow":60.0}`, func(v *Values) bool { return v.Duration("TimeWindow") == time.Minute }},
		{"duration zero", `{"TimeWindow":"0s"}`, func(v *Values) bool { return v.Duration("TimeWindow") == 0 }},
		{"integer", `{"MinimumFileCount":7}`, func(v *Values) bool { return v.Int("MinimumFileCount") == 7 }},
		{"integer exponent", `{"MinimumFileCount":1e3}`, func(v *Values) bool { return v.Int("MinimumFileCount") == 1000 }},
		{"negative integer", `{"MinimumFileCount":-3}`, func(v *Values) bool { return v.Int("MinimumFileCount") == -3 }},
		{"bool", `{"Verbose":true}`, func(v *Values) bool { return v.Bool("Verbose") }},
		{"string", `{"Label":"a\nb"}`, func(v *Values) bool { return v.String("Label") == "a\nb" }},
		{"empty list", `{"StagingDirectoryList":[]}`, func(v *Values) bool { return len(v.Strings("StagingDirectoryList")) == 0 }},
		{"enum case folded", `{"Mode":"THOROUGH"}`, func(v *Values) bool { return v.String("Mode") == "thorough" }},
		{"enum list deduplicated", `{"UserContext":["elevated","Interactive","elevated"]}`, func(v *Values) bool {
			return slices.Equal(v.Strings("UserContext"), []string{"elevated", "interactive"})
		}},
		{"whitespace everywhere", " {\n \"Verbose\" :\ttrue } \n", func(v *Values) bool { return v.Bool("Verbose") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Decode(testDescs, json.RawMessage(tt.raw))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !tt.check(v) {
				t.Fatalf("unexpected values: %s", v.JSON())
			}
			again, err := Decode(testDescs, v.JSON())
			if err != nil {
				t.Fatalf("effective JSON does not decode: %v", err)
			}
			if string(again.JSON()) != string(v.JSON()) {
				t.Fatalf("effective JSON not stable: %s vs %s", again.JSON(), v.JSON())
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     string
		key     string
		reasons []string // all must appear in the reason
	}{
		{"unknown key", `{"StagingDirs":["/tmp"]}`, "StagingDirs", []string{"unknown mutable element", "known: StagingDirectoryList, TimeWindow"}},
		{"wrong case key", `{"timewindow":"5m"}`, "timewindow", []string{"did you mean TimeWindow?"}},
		{"not an object", `["a"]`, ConfigKey, []string{"expected an object", "got a list"}},
		{"malformed value", `{"TimeWindow":`, "TimeWindow", []string{"malformed JSON"}},
		{"malformed", `{"TimeWindow" 1}`, "TimeWindow", []string{"malformed JSON"}},
		{"empty key", `{"":1}`, `""`, []string{"unknown mutable element"}},
		{"key not a string", `{1:1}`, ConfigKey, []string{"malformed JSON"}},
		{"trailing data", `{} {}`, ConfigKey, []string{"data after the object"}},
		{"duplicate key", `{"Verbose":true,"Verbose":false}`, "Verbose", []string{"given more than once"}},
		{"list is a string", `{"StagingDirectoryList":"/tmp/"}`, "StagingDirectoryList", []string{"expected a list of non-empty strings", `got string "/tmp/"`}},
		{"list has a number", `{"StagingDirectoryList":["/tmp/",3]}`, "StagingDirectoryList", []string{"got number 3 at index 1"}},
		{"list has empty", `{"StagingDirectoryList":["/tmp/",""]}`, "StagingDirectoryList", []string{"empty string at index 1"}},
		{"list null", `{"StagingDirectoryList":null}`, "StagingDirectoryList", []string{"got null"}},
		{"duration no unit", `{"TimeWindow":"15"}`, "TimeWindow", []string{`a duration such as "15m"`, `got string "15"`}},
		{"duration days", `{"TimeWindow":"1d"}`, "TimeWindow", []string{`got string "1d"`}},
		{"duration negative", `{"TimeWindow":"-5m"}`, "TimeWindow", []string{"negative"}},
		{"duration fraction seconds", `{"TimeWindow":1.5}`, "TimeWindow", []string{"got number 1.5"}},
		{"duration overflow", `{"TimeWindow":1e300}`, "TimeWindow", []string{"got number 1e300"}},
		{"duration bool", `{"TimeWindow":true}`, "TimeWindow", []string{"got boolean true"}},
		{"integer fraction", `{"MinimumFileCount":2.5}`, "MinimumFileCount", []string{"expected an integer", "got number 2.5"}},
		{"integer string", `{"MinimumFileCount":"2"}`, "MinimumFileCount", []string{`got string "2"`}},
		{"integer huge", `{"MinimumFileCount":99999999999999999999999}`, "MinimumFileCount", []string{"got number"}},
		{"bool string", `{"Verbose":"yes"}`, "Verbose", []string{"expected true or false", `got string "yes"`}},
		{"string object", `{"Label":{}}`, "Label", []string{"expected a string", "got an object"}},
		{"enum unknown", `{"Mode":"slow"}`, "Mode", []string{"expected one of fast|thorough", `got "slow"`}},
		{"enum list unknown", `{"UserContext":["any","root"]}`, "UserContext", []string{"expected one of any|interactive|elevated", `got "root"`}},
		{"enum list scalar", `{"UserContext":"any"}`, "UserContext", []string{"a list drawn from any|interactive|elevated"}},
		{"long value clipped", `{"Label":` + strings.Repeat("1", 500) + `}`, "Label", []string{"…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(testDescs, json.RawMessage(tt.raw))
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Decode(%s) error = %v, want *sdk.ConfigError", tt.raw, err)
			}
			if ce.Key != tt.key {
				t.Errorf("key = %q, want %q (reason %q)", ce.Key, tt.key, ce.Reason)
			}
			for _, r := range tt.reasons {
				if !strings.Contains(ce.Reason, r) {
					t.Errorf("reason %q lacks %q", ce.Reason, r)
				}
			}
			if len(ce.Reason) > 400 {
				t.Errorf("reason is %d bytes long", len(ce.Reason))
			}
		})
	}
}

func TestBadDescriptors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		descs []sdk.MutableElement
		key   string
	}{
		{"bad default", []sdk.MutableElement{{Name: "TimeWindow", Type: sdk.ElementDuration, Default: json.RawMessage(`"soon"`)}}, "TimeWindow"},
		{"missing default", []sdk.MutableElement{{Name: "Count", Type: sdk.ElementInteger}}, "Count"},
		{"declared twice", []sdk.MutableElement{
			{Name: "A", Type: sdk.ElementBoolean, Default: json.RawMessage(`true`)},
			{Name: "A", Type: sdk.ElementBoolean, Default: json.RawMessage(`true`)},
		}, "A"},
		{"unsupported type", []sdk.MutableElement{{Name: "B", Type: sdk.ElementType(99), Default: json.RawMessage(`1`)}}, "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckDefaults(tt.descs)
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("CheckDefaults = %v, want ConfigError for %s", err, tt.key)
			}
		})
	}
}

func TestAccessorMisusePanics(t *testing.T) {
	t.Parallel()
	v, err := Decode(testDescs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func(){
		"undeclared": func() { v.Int("Nope") },
		"wrong type": func() { v.Int("TimeWindow") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			call()
		}()
	}
}

func TestStringsReturnsCopy(t *testing.T) {
	t.Parallel()
	v, err := Decode(testDescs, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Strings("StagingDirectoryList")[0] = "/etc/"
	if v.Strings("StagingDirectoryList")[0] != "/tmp/" {
		t.Fatal("caller changed the stored list")
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Minute:        "30m",
		90 * time.Minute:        "1h30m",
		time.Hour:               "1h",
		90 * time.Second:        "1m30s",
		250 * time.Millisecond:  "250ms",
		0:                       "0s",
		time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"TimeWindow":"5m"}`, `{"TimeWindow":300}`,
		`{"StagingDirectoryList":["/tmp/","\u0000"]}`, `{"UserContext":["ANY"]}`,
		`{"MinimumFileCount":1e3}`, `{"Verbose":true,"Verbose":true}`, `{"Label":"\xff"}`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := Decode(testDescs, raw)
		if err != nil {
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || ce.Key == "" || ce.Reason == "" {
				t.Fatalf("error %v is not a keyed ConfigError", err)
			}
			return
		}
		effective := v.JSON()
		if !json.Valid(effective) {
			t.Fatalf("effective JSON invalid: %s", effective)
		}
		again, err := Decode(testDescs, effective)
		if err != nil {
			t.Fatalf("effective JSON %s does not decode: %v", effective, err)
		}
		if string(again.JSON()) != string(effective) {
			t.Fatalf("not stable: %s vs %s", again.JSON(), effective)
		}
	})
}
