package fleetspec

import (
	"errors"
	"fmt"
	"strings"
)

// fleetctl gitops replaces environment variables in every GitOps file before
// parsing it (pkg/spec/spec.go expandEnv, on fleet.MaybeExpand, a variant of
// os.Expand): default.yml, the fleet files, and every file they include with
// path:, which covers the reports and policies lib files stagewatch ships.
// The rules, on the raw bytes:
//
//   - $NAME and ${NAME} are references; NAME starts with a letter or _ and
//     goes on with letters, digits and _. ${…} takes everything up to the
//     first }. $ followed by one of * # $ @ ! ? - or a digit references that
//     one character. A reference to an unset variable is an error, and
//     $FLEET_SECRET_… is refused outside profiles and scripts.
//   - $ followed by anything else ($. $' $) a space, ${}, an unclosed ${, or
//     the end of the file) is left as it is.
//   - A run of n backslashes directly before a $ escapes it when n is odd:
//     Fleet writes (n-1)/2 backslashes and a literal $. When n is even the
//     backslashes stay as they are and the $ is not escaped.
//   - Values of description: and resolution: keys are not expanded, but
//     escapes are still removed there. $FLEET_VAR_… is left for the server.
//
// stagewatch is stricter than Fleet: any reference Fleet would try to
// expand is an error wherever it is (also in descriptions and for
// FLEET_VAR_), because a query means its $ literally and must not depend on
// the environment fleetctl gitops happens to run in.

// ExpandGitOps returns s as fleetctl gitops hands it to the YAML parser, with
// every escape removed. Any $ reference Fleet would try to expand is an
// error naming its line and column.
func ExpandGitOps(s string) (string, error) {
	var b strings.Builder
	var errs []error
	for i := 0; i < len(s); {
		if s[i] != '\\' && s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		run := 0
		for i+run < len(s) && s[i+run] == '\\' {
			run++
		}
		if i+run >= len(s) || s[i+run] != '$' {
			b.WriteString(s[i : i+run]) // backslashes not before a $
			i += run
			continue
		}
		dollar := i + run
		if run%2 == 1 {
			b.WriteString(strings.Repeat(`\`, (run-1)/2))
			b.WriteByte('$')
			i = dollar + 1
			continue
		}
		b.WriteString(s[i:dollar])
		if name, ok := envReference(s[dollar+1:]); ok {
			line, col := position(s, dollar)
			errs = append(errs, fmt.Errorf("line %d column %d: fleetctl gitops would replace $%s with an environment variable: write \\$ for a literal $", line, col, name))
		}
		b.WriteByte('$')
		i = dollar + 1
	}
	return b.String(), errors.Join(errs...)
}

// EscapeGitOps escapes s so that ExpandGitOps (and fleetctl gitops) give s
// back unchanged: every $ Fleet would expand, and every $ that Fleet would
// read as escaped because an odd run of backslashes precedes it, gets the
// backslashes that make it a literal $. Other text is left alone, so
// json_extract(x, '$.a') stays readable.
func EscapeGitOps(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		run := 0
		for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
			run++
		}
		if _, ok := envReference(s[i+1:]); ok || run%2 == 1 {
			// run backslashes are already written; 2*run+1 in all makes
			// Fleet write run backslashes and a literal $.
			b.WriteString(strings.Repeat(`\`, run+1))
		}
		b.WriteByte('$')
	}
	return b.String()
}

// envReference reports whether the text after a $ is a reference Fleet
// expands, and its name.
func envReference(rest string) (string, bool) {
	if rest == "" {
		return "", false // a $ at the very end is left alone
	}
	switch c := rest[0]; {
	case c == '{':
		if len(rest) > 2 && isSpecialVar(rest[1]) && rest[2] == '}' {
			return rest[1:2], true
		}
		end := strings.IndexByte(rest, '}')
		if end <= 1 {
			return "", false // ${} or an unclosed ${
		}
		return rest[1:end], true
	case isSpecialVar(c):
		return rest[:1], true
	case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		n := 1
		for n < len(rest) && isNameByte(rest[n]) {
			n++
		}
		return rest[:n], true
	}
	return "", false
}

func isSpecialVar(c byte) bool {
	return strings.IndexByte("*#$@!?-0123456789", c) >= 0
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func position(s string, off int) (line, col int) {
	line = 1 + strings.Count(s[:off], "\n")
	col = off - strings.LastIndexByte(s[:off], '\n')
	return line, col
}
