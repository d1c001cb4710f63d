package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Text makes s safe for a TEXT column: protobuf strings must be valid UTF-8
// and SQLite's C side stops at NUL, so invalid bytes and NUL become \xNN
// escapes. Everything else, newlines included, is kept as the sensor saw it.
func Text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == 0 {
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EvidenceJSON renders the evidence column: always a JSON array, valid even
// when paths hold invalid UTF-8 (encoding/json substitutes U+FFFD).
func EvidenceJSON(evidence []event.Evidence) string {
	if len(evidence) == 0 {
		return "[]"
	}
	if out, ok := marshal(evidence); ok {
		return out
	}
	// Only a time outside years 0–9999 fails to encode: keep the event and
	// drop the impossible time rather than the whole chain.
	clean := slices.Clone(evidence)
	for i := range clean {
		if y := clean[i].Time.Year(); y < 0 || y > 9999 {
			clean[i].Time = time.Time{}
		}
	}
	out, _ := marshal(clean)
	return out
}

// JSONStrings renders a list column (ancestry…) as a JSON array.
func JSONStrings(list []string) string {
	if len(list) == 0 {
		return "[]"
	}
	out, _ := marshal(list) // strings always encode
	return out
}

func marshal(v any) (string, bool) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Paths with & or < are common; \u0026 in a column helps no one.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "[]", false
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}
