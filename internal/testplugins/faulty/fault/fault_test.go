package fault

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func TestTimeRange(t *testing.T) {
	t.Parallel()
	at := func(op sdk.Operator, offset int64) sdk.Constraint {
		return sdk.Constraint{Column: "time", Op: op, Expr: strconv.FormatInt(BaseTime+offset, 10)}
	}
	tests := []struct {
		name        string
		rows        int64
		constraints []sdk.Constraint
		first, last int64
	}{
		{"all", 10, nil, 0, 9},
		{"no rows", 0, nil, 0, -1},
		{">= inside", 10, []sdk.Constraint{at(sdk.OpGreaterThanOrEqual, 3)}, 3, 9},
		{"> before all", 10, []sdk.Constraint{at(sdk.OpGreaterThan, -100)}, 0, 9},
		{"< after all", 10, []sdk.Constraint{at(sdk.OpLessThan, 100)}, 0, 9},
		{"= outside", 10, []sdk.Constraint{at(sdk.OpEquals, 10)}, 10, 9},
		{"huge", 10, []sdk.Constraint{{Column: "time", Op: sdk.OpGreaterThan, Expr: "9223372036854775807"}}, maxRows + 2, 9},
		{"tiny", 10, []sdk.Constraint{{Column: "time", Op: sdk.OpLessThan, Expr: "-9223372036854775808"}}, 0, -2},
		{"LIKE ignored", 10, []sdk.Constraint{{Column: "time", Op: sdk.OpLike, Expr: strconv.Itoa(BaseTime + 5)}}, 0, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, last := TimeRange(tt.rows, tt.constraints)
			if first != tt.first || last != tt.last {
				t.Fatalf("TimeRange = %d..%d, want %d..%d", first, last, tt.first, tt.last)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    func(Config) bool
		wantKey string
	}{
		{raw: ``, want: func(c Config) bool { return c == DefaultConfig }},
		{raw: `{"Rows": 0, "CrashAfterStart": "1m", "IgnoreCancel": true}`, want: func(c Config) bool {
			return c.Rows == 0 && c.CrashAfterStart == time.Minute && c.IgnoreCancel
		}},
		{raw: `{"rows": 1}`, wantKey: "rows"},
		{raw: `{"Rows": 1.5}`, wantKey: "Rows"},
		{raw: `{"HangGenerate": "yes"}`, wantKey: "HangGenerate"},
		{raw: `{"CrashAfterStart": "-1s"}`, wantKey: "CrashAfterStart"},
		{raw: `{"Description": 3}`, wantKey: "Description"},
		{raw: `"Rows"`, wantKey: AnalyticID},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			cfg, err := ParseConfig(json.RawMessage(tt.raw))
			if tt.wantKey != "" {
				var configErr *sdk.ConfigError
				if !errors.As(err, &configErr) || configErr.Key != tt.wantKey {
					t.Fatalf("err %v, want a ConfigError for %s", err, tt.wantKey)
				}
				return
			}
			if err != nil || !tt.want(cfg) {
				t.Fatalf("ParseConfig = %+v, %v", cfg, err)
			}
			// The effective configuration must read back as itself.
			again, err := ParseConfig(cfg.Effective())
			if err != nil || again != cfg {
				t.Fatalf("effective %s reads back as %+v, %v", cfg.Effective(), again, err)
			}
		})
	}
}
