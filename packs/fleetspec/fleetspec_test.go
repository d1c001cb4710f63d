package fleetspec

import (
	"strings"
	"testing"
)

// configDoc wraps command_line_flags lines in a fleetctl apply config
// document like the one the package ships.
func configDoc(flags string) string {
	return `# comment above the document, inside it
apiVersion: v1
kind: config
spec:
  agent_options:
    extensions:
      stagewatch:
        channel: stable
        platform: linux
    command_line_flags:
` + flags
}

// The snippet stagewatch shipped before flags were typed: Fleet refuses it,
// and so must DecodeApply, with Fleet's own error.
func TestNumberTypedStringFlagsRefused(t *testing.T) {
	t.Parallel()
	old := configDoc("      extensions_require: stagewatch\n      extensions_timeout: 10\n      extensions_interval: 3\n")
	// Both flags are wrong; the JSON Fleet decodes has its keys sorted (it
	// comes from a map), so the first error, the one reported, is about
	// extensions_interval.
	_, err := DecodeApply([]byte(old))
	const want = "command-line flags: json: cannot unmarshal number into Go struct field osqueryCommandLineFlags.extensions_interval of type string"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	timeoutOnly := configDoc("      extensions_require: stagewatch\n      extensions_timeout: 10\n      extensions_interval: \"3\"\n")
	_, err = DecodeApply([]byte(timeoutOnly))
	const wantTimeout = "cannot unmarshal number into Go struct field osqueryCommandLineFlags.extensions_timeout of type string"
	if err == nil || !strings.Contains(err.Error(), wantTimeout) {
		t.Fatalf("error %v, want one containing %q", err, wantTimeout)
	}
}

func TestAgentOptions(t *testing.T) {
	t.Parallel()
	f, err := DecodeApply([]byte(configDoc("      extensions_require: stagewatch\n      extensions_timeout: \"10\"\n      extensions_interval: '3'\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.AgentOptions) != 1 || len(f.Kinds) != 1 || f.Kinds[0] != KindConfig {
		t.Fatalf("decoded %+v", f)
	}
	o := f.AgentOptions[0]
	if o.Flags.ExtensionsTimeout != "10" || o.Flags.ExtensionsInterval != "3" || o.Flags.ExtensionsRequire != "stagewatch" {
		t.Errorf("flags %+v", o.Flags)
	}
	if e := o.Extensions["stagewatch"]; e.Channel != "stable" || e.Platform != "linux" {
		t.Errorf("extension %+v", e)
	}
}

func TestDecodeApplyRejects(t *testing.T) {
	t.Parallel()
	report := "apiVersion: v1\nkind: report\nspec:\n  name: q\n  description: d\n  query: SELECT 1\n  interval: 60\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n"
	cases := []struct{ name, doc, want string }{
		{"unknown flag", configDoc("      extensions_timeot: \"10\"\n"), `unknown field "extensions_timeot"`},
		{"bool for a string flag", configDoc("      extensions_require: true\n"), "cannot unmarshal bool"},
		{"autoload refused", configDoc("      extensions_autoload: /etc/osquery/extensions.load\n"), "The --extensions_autoload flag isn't supported"},
		{"host_identifier refused", configDoc("      host_identifier: uuid\n"), "The --host_identifier flag isn't supported"},
		{"unknown agent option", strings.Replace(configDoc("      extensions_require: stagewatch\n"), "    extensions:", "    extension:", 1), `unknown field "extension"`},
		{"osquery platform name for an extension", strings.Replace(configDoc("      extensions_require: stagewatch\n"), "platform: linux", "platform: darwin", 1), `platform "darwin"`},
		{"YAML 1.1 boolean", strings.Replace(configDoc("      extensions_require: stagewatch\n"), "channel: stable", "channel: on", 1), `unquoted "on" is a boolean`},
		{"comment before the first separator", "# header\n---\n" + report, `Missing required fields ("spec", "kind")`},
		{"deprecated kind", strings.Replace(report, "kind: report", "kind: query", 1), `kind "query" is deprecated`},
		{"unknown kind", strings.Replace(report, "kind: report", "kind: reports", 1), `unknown kind "reports"`},
		{"capitalised kind", strings.Replace(report, "kind: report", "kind: Report", 1), "lower case"},
		{"no apiVersion", strings.Replace(report, "apiVersion: v1\n", "", 1), `apiVersion ""`},
		{"unknown report key", report + "  team_id: 3\n", `unknown field "team_id"`},
		{"negative interval", strings.Replace(report, "interval: 60", "interval: -60", 1), "cannot unmarshal number -60"},
		{"interval as a string", strings.Replace(report, "interval: 60", `interval: "60"`, 1), "cannot unmarshal string"},
		{"bad logging", strings.Replace(report, "logging: snapshot", "logging: event", 1), `logging "event"`},
		{"osquery platform name", strings.Replace(report, "platform: linux", "platform: posix", 1), `platform "posix"`},
		{"policy without query", "apiVersion: v1\nkind: policy\nspec:\n  name: p\n  description: d\n  resolution: r\n  query: ''\n  platform: linux\n  critical: false\n", "query cannot be empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeApply([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The same report with the header inside the first document is fine.
	f, err := DecodeApply([]byte("# header\n" + report + "---\n" + report))
	if err != nil || len(f.Reports) != 2 || f.Reports[0].Interval != 60 {
		t.Fatalf("valid two-document file: %+v, %v", f, err)
	}
}

func TestSplitYAML(t *testing.T) {
	t.Parallel()
	got := SplitYAML("# a\n---\nx: 1\n---   \n\n---\ny: 2\nz: ---\n")
	want := []string{"# a", "x: 1", "y: 2\nz: ---"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("SplitYAML = %q, want %q", got, want)
	}
}

func TestExpandGitOps(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		`SELECT 1`:                       `SELECT 1`,
		`json_extract(x, '$.a')`:         `json_extract(x, '$.a')`,
		`cost $ 5`:                       `cost $ 5`,
		`ends in $`:                      `ends in $`,
		`${} and ${unclosed`:             `${} and ${unclosed`,
		`\$HOME`:                         `$HOME`,
		`\${HOME}`:                       `${HOME}`,
		`\$1 \$$`:                        `$1 $$`,
		`\\\$HOME`:                       `\$HOME`,
		`\\\\\$x`:                        `\\$x`,
		`\$. is \$ too`:                  `$. is $ too`,
		`a\b\\c`:                         `a\b\\c`,
		"description: \\$NOT_EXPANDED\n": "description: $NOT_EXPANDED\n",
	}
	for in, want := range ok {
		got, err := ExpandGitOps(in)
		if err != nil || got != want {
			t.Errorf("ExpandGitOps(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		`WHERE path LIKE '$HOME/%'`:    "$HOME",
		`${HOME}`:                      "$HOME",
		`${two words}`:                 "$two words",
		`$1`:                           "$1",
		`$$`:                           "$$",
		`\\$HOME`:                      "$HOME", // even run: not escaped
		"x\n  description: $USER\n":    "line 2 column 16",
		`$FLEET_VAR_NDES_SCEP_PROXY`:   "$FLEET_VAR_NDES_SCEP_PROXY",
		`$FLEET_SECRET_API_TOKEN here`: "$FLEET_SECRET_API_TOKEN",
	}
	for in, want := range bad {
		if _, err := ExpandGitOps(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ExpandGitOps(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

// EscapeGitOps is the inverse of ExpandGitOps on any text.
func TestEscapeGitOpsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`SELECT 1`, `$HOME`, `${HOME}`, `$1$$`, `'$.a'`, `\$HOME`, `\\$HOME`, `\\\$x`,
		`trailing $`, `trailing \`, `\`, `$`, `${}`, `${x`, `a\$.b`, `$a\$b\\$c\\\$d`,
		"multi\nline $X\n\\$Y",
	} {
		esc := EscapeGitOps(s)
		got, err := ExpandGitOps(esc)
		if err != nil || got != s {
			t.Errorf("ExpandGitOps(EscapeGitOps(%q) = %q) = %q, %v", s, esc, got, err)
		}
	}
	if got := EscapeGitOps(`json_extract(x, '$.a') AND p = '$HOME'`); got != `json_extract(x, '$.a') AND p = '\$HOME'` {
		t.Errorf("EscapeGitOps escaped more or less than needed: %q", got)
	}
}

func TestDecodeGitOps(t *testing.T) {
	t.Parallel()
	const reports = "# header\n- name: q\n  description: d\n  query: SELECT path FROM f WHERE path LIKE '@@/%';\n  interval: 60\n  platform: linux\n  logging: snapshot\n  observer_can_run: true\n  automations_enabled: true\n"
	if _, err := DecodeGitOpsReports([]byte(strings.Replace(reports, "@@", "$HOME", 1))); err == nil || !strings.Contains(err.Error(), "$HOME") {
		t.Errorf("unescaped $HOME accepted: %v", err)
	}
	got, err := DecodeGitOpsReports([]byte(strings.Replace(reports, "@@", `\$HOME`, 1)))
	if err != nil || len(got) != 1 || !strings.Contains(got[0].Query, "'$HOME/%'") {
		t.Errorf("escaped report: %+v, %v", got, err)
	}
	if _, err := DecodeGitOpsReports([]byte(strings.Replace(reports, "@@", "x", 1) + "  path: ../lib/other.yml\n")); err == nil || !strings.Contains(err.Error(), `unknown field "path"`) {
		t.Errorf("nested path accepted: %v", err)
	}
	const policies = "- name: p\n  description: d\n  resolution: r\n  query: SELECT 1;\n  platform: linux\n  critical: no\n"
	if _, err := DecodeGitOpsPolicies([]byte(policies)); err == nil || !strings.Contains(err.Error(), `unquoted "no"`) {
		t.Errorf("YAML 1.1 boolean accepted: %v", err)
	}
	if p, err := DecodeGitOpsPolicies([]byte(strings.Replace(policies, "critical: no", "critical: false", 1))); err != nil || len(p) != 1 {
		t.Errorf("valid policies: %+v, %v", p, err)
	}
}
