package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/host/control"
)

// hostileNames are file names and command lines as an attacker writes
// them, next to the harmless names they might pass for.
var hostileNames = []string{
	"\x1b]0;owned\a\x1b[2J\x1b[H", // retitle, clear, home
	`\x1b]0;owned\a\x1b[2J\x1b[H`, // the same characters, typed
	"a\u009b31mred",               // C1 CSI
	`a\u009b31mred`,
	"/tmp/\xff\xfeloot", // invalid UTF-8
	`/tmp/\xff\xfeloot`,
	"/tmp/\u00ff\u00feloot", // what the invalid bytes would be as Latin-1
	"C:\\Users\\bob\\loot",
	`C:\\Users\\bob\\loot`,
	"del\x7f", `del\x7f`,
	"nul\x00", `nul\x00`,
	"tab\tnl\ncr\r", `tab\tnl\ncr\r`, "tab nl cr ",
	"bidi\u202eexe.txt", `bidi\u202eexe.txt`,
	"zero\u200bwidth",
	"plain", "ünïcødé 文件.docx",
}

// rawControl reports whether s holds anything a terminal would act on or
// could not show: a C0 control other than the newlines that end lines,
// DEL, a C1 control, or bytes that are not UTF-8.
func rawControl(s string, newlines bool) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if (r < 0x20 && !(newlines && r == '\n')) || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

func TestVisibleIsSafeAndUnambiguous(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, name := range hostileNames {
		got := visible(name)
		if rawControl(got, false) || strings.ContainsRune(got, '\u202e') || strings.ContainsRune(got, '\u200b') {
			t.Errorf("visible(%q) = %q: still raw", name, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("visible(%q) = visible(%q) = %q", name, other, got)
		}
		seen[got] = name
	}
	for in, want := range map[string]string{
		"\x1b]0;x\a": `\x1b]0;x\a`,
		`\x1b`:       `\\x1b`,
		"\u009b":     `\u009b`,
		"\xff":       `\xff`,
		"ünïcødé 文件": "ünïcødé 文件",
		"a b":        "a b",
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
	// Messages keep their lines and single backslashes.
	if got := visibleText("C:\\x\n\tnext \x1b[2J"); got != "C:\\x\n\tnext \\x1b[2J" {
		t.Errorf("visibleText = %q", got)
	}
}

func TestTerminalTableMakesNamesVisible(t *testing.T) {
	t.Parallel()
	cols := []string{"path", "process\x1b[8m"}
	var rows []map[string]string
	for _, name := range hostileNames {
		rows = append(rows, map[string]string{"path": name, "process\x1b[8m": "tar czf " + name})
	}
	// A long value is cut between escapes, never inside one.
	long := strings.Repeat("\x1b", maxCellWidth)
	rows = append(rows, map[string]string{"path": long})

	var term bytes.Buffer
	if err := writeRows(&term, cols, rows, true); err != nil {
		t.Fatal(err)
	}
	out := term.String()
	if rawControl(out, true) {
		t.Fatalf("terminal table has raw control bytes:\n%q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// rule, header, rule, one line per row, rule
	if len(lines) != len(rows)+4 {
		t.Fatalf("%d lines for %d rows:\n%s", len(lines), len(rows), out)
	}
	width := utf8.RuneCountInString(lines[0])
	seen := map[string]int{}
	for i, line := range lines {
		if utf8.RuneCountInString(line) != width {
			t.Errorf("line %d is %d wide, want %d: %q", i, utf8.RuneCountInString(line), width, line)
		}
		if i >= 3 && i < 3+len(hostileNames) {
			if j, dup := seen[line]; dup {
				t.Errorf("rows %d and %d render alike: %q", j, i, line)
			}
			seen[line] = i
		}
	}
	if !strings.Contains(out, `process\x1b[8m`) || !strings.Contains(out, `\x1b]0;owned\a\x1b[2J`) || !strings.Contains(out, `\\x1b]0;owned\\a`) {
		t.Errorf("escapes missing:\n%s", out)
	}
	cut := strings.TrimSpace(strings.Trim(lines[len(lines)-2], "|"))
	cut = strings.TrimSpace(strings.Split(cut, "|")[0])
	if !strings.HasSuffix(cut, `\x1b…`) || strings.Count(cut, `\x1b`) != (maxCellWidth-1)/4 {
		t.Errorf("long value cut inside an escape: %q", cut)
	}

	// JSON is exact.
	var js bytes.Buffer
	if err := writeRows(&js, cols, rows, false); err != nil {
		t.Fatal(err)
	}
	var back []map[string]string
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.String())
	}
	for i, row := range rows {
		for k, v := range row {
			if utf8.ValidString(v) && back[i][k] != v {
				t.Errorf("JSON row %d %q = %q, want %q", i, k, back[i][k], v)
			}
		}
	}
}

func TestTablesListingMakesPluginTextVisible(t *testing.T) {
	t.Parallel()
	var term bytes.Buffer
	tables := []control.Table{{Name: "staging_x\x1b[2J", Description: "about\x07", Columns: []control.Column{{Name: "c\u009b", Type: "TEXT", Description: "d\x1b]0;t\a"}}}}
	if err := writeTables(&term, tables, true); err != nil {
		t.Fatal(err)
	}
	if rawControl(term.String(), true) || !strings.Contains(term.String(), `staging_x\x1b[2J`) {
		t.Errorf("tables listing:\n%q", term.String())
	}
}

func TestLogLinesAreVisible(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := newLogger(&buf, hclog.Info)
	logger.Warn("plugin /opt/p\x1b]0;owned\a exited: \u009b2J", "path", "/tmp/\x1b[2J")
	if rawControl(buf.String(), true) || !strings.Contains(buf.String(), `/opt/p\x1b]0;owned\a exited: \u009b2J`) {
		t.Errorf("log line: %q", buf.String())
	}
}
