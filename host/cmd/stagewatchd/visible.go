package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What reaches a person's terminal is made visible: file names, command
// lines, table descriptions and error texts come from the watched host, a
// recorded log or a plugin, and a control character in them (ESC, BEL, a C1
// such as U+009B CSI) would otherwise retitle, recolour or clear the
// terminal, or hide the rest of a line. JSON output stays exact.

// visible renders a value for a terminal: every character that would not
// print as itself (C0 and C1 controls, DEL, invisible format characters
// such as bidi overrides, invalid UTF-8) becomes a Go-style escape (\x1b,
// \a, \n, \u009b; an invalid byte \xff), and a backslash is doubled, so no
// two values render alike: a name that really contains the four characters
// \x1b shows as \\x1b.
func visible(s string) string {
	if !needsEscape(s, false) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		tok, size := escapeAt(s[i:], false)
		b.WriteString(tok)
		i += size
	}
	return b.String()
}

// visibleText renders a message (an error, a log line) for a terminal:
// controls and invalid UTF-8 are escaped as by visible, but newlines and
// tabs lay it out and backslashes stay single, since a message is read, not
// told apart from another.
func visibleText(s string) string {
	if !needsEscape(s, true) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		tok, size := escapeAt(s[i:], true)
		b.WriteString(tok)
		i += size
	}
	return b.String()
}

func needsEscape(s string, text bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && (text || c != '\\') {
			i++
			continue
		}
		tok, size := escapeAt(s[i:], text)
		if tok != s[i:i+size] {
			return true
		}
		i += size
	}
	return false
}

// escapeAt renders the character at the start of s and says how many bytes
// of s it took.
func escapeAt(s string, text bool) (string, int) {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf(`\x%02x`, s[0]), 1
	}
	switch r {
	case '\\':
		if text {
			return `\`, 1
		}
		return `\\`, 1
	case '\n', '\t':
		if text {
			return s[:1], 1
		}
	}
	switch r {
	case '\a':
		return `\a`, size
	case '\b':
		return `\b`, size
	case '\f':
		return `\f`, size
	case '\n':
		return `\n`, size
	case '\r':
		return `\r`, size
	case '\t':
		return `\t`, size
	case '\v':
		return `\v`, size
	}
	switch {
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02x`, r), size
	case r == ' ' || unicode.IsPrint(r):
		return s[:size], size
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04x`, r), size
	}
	return fmt.Sprintf(`\U%08x`, r), size
}

// visibleWriter passes text to a terminal's stream with visibleText
// applied; log handlers (hclog, slog) write one whole entry per Write.
type visibleWriter struct{ w io.Writer }

func (v visibleWriter) Write(p []byte) (int, error) {
	s := string(p)
	if !needsEscape(s, true) {
		return v.w.Write(p)
	}
	if _, err := io.WriteString(v.w, visibleText(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}
