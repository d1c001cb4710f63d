package sqlengine

import (
	"database/sql/driver"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"modernc.org/sqlite"
)

// registerFunctions adds the osquery SQL helpers that packs use for string
// handling, with osquery's names, arities and NULL conventions. SQLite
// itself already provides concat and concat_ws.
func registerFunctions(drv *sqlite.Driver) error {
	fns := []struct {
		name  string
		nArgs int32
		fn    func([]driver.Value) (driver.Value, error)
	}{
		{"split", 3, split},
		{"regex_split", 3, regexSplit},
		{"regex_match", 3, regexMatch},
		{"regexp", 2, regexpOp}, // backs the REGEXP operator
		{"to_base64", 1, toBase64},
		{"from_base64", 1, fromBase64},
		{"conditional_to_base64", 1, conditionalToBase64},
	}
	for _, f := range fns {
		impl := f.fn
		err := drv.RegisterDeterministicScalarFunction(f.name, f.nArgs,
			func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) { return impl(args) })
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// text reads a TEXT argument; ok is false for NULL.
func text(v driver.Value) (s string, ok bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return formatValue(v), true
}

func index(v driver.Value) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case float64:
		return int(x), nil
	}
	return 0, fmt.Errorf("index must be an integer, got %T", v)
}

// pick returns parts[i] or NULL, as osquery's split helpers do.
func pick(parts []string, i int) driver.Value {
	if i < 0 || i >= len(parts) {
		return nil
	}
	return parts[i]
}

// splitArgs reads the (string, separator, index) arguments of osquery's
// split helpers; null is true when the string or separator is NULL, which
// makes the result NULL.
func splitArgs(name string, args []driver.Value) (s, sep string, i int, null bool, err error) {
	s, ok1 := text(args[0])
	sep, ok2 := text(args[1])
	if !ok1 || !ok2 {
		return "", "", 0, true, nil
	}
	if i, err = index(args[2]); err != nil {
		return "", "", 0, false, fmt.Errorf("%s: %w", name, err)
	}
	return s, sep, i, false, nil
}

// split(string, tokens, index): split on any character of tokens, dropping
// empty pieces (osquery trims each piece of surrounding whitespace too).
func split(args []driver.Value) (driver.Value, error) {
	s, tokens, i, null, err := splitArgs("split", args)
	if null || err != nil {
		return nil, err
	}
	var parts []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(tokens, r) }) {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return pick(parts, i), nil
}

// regex_split(string, pattern, index).
func regexSplit(args []driver.Value) (driver.Value, error) {
	s, pattern, i, null, err := splitArgs("regex_split", args)
	if null || err != nil {
		return nil, err
	}
	re, err := compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex_split: %w", err)
	}
	var parts []string
	for _, p := range re.Split(s, -1) {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return pick(parts, i), nil
}

// regex_match(string, pattern, index): group index of the first match
// (0 = the whole match), NULL when there is none.
func regexMatch(args []driver.Value) (driver.Value, error) {
	s, pattern, i, null, err := splitArgs("regex_match", args)
	if null || err != nil {
		return nil, err
	}
	re, err := compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex_match: %w", err)
	}
	return pick(re.FindStringSubmatch(s), i), nil
}

// regexp(pattern, string) implements `string REGEXP pattern`.
func regexpOp(args []driver.Value) (driver.Value, error) {
	pattern, ok1 := text(args[0])
	s, ok2 := text(args[1])
	if !ok1 || !ok2 {
		return nil, nil
	}
	re, err := compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regexp: %w", err)
	}
	return re.MatchString(s), nil
}

func toBase64(args []driver.Value) (driver.Value, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fromBase64(args []driver.Value) (driver.Value, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, nil // osquery yields NULL for input that is not base64
	}
	return string(b), nil
}

// conditional_to_base64 encodes only strings that are not printable UTF-8.
func conditionalToBase64(args []driver.Value) (driver.Value, error) {
	s, ok := text(args[0])
	if !ok {
		return nil, nil
	}
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' }) {
		return s, nil
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

// patterns caches compiled expressions: a pack applies the same pattern to
// every row. Bounded so hostile SQL cannot grow it without limit.
var patterns = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: make(map[string]*regexp.Regexp)}

const maxCachedPatterns = 256

func compile(pattern string) (*regexp.Regexp, error) {
	patterns.Lock()
	re, ok := patterns.m[pattern]
	patterns.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	patterns.Lock()
	if len(patterns.m) >= maxCachedPatterns {
		clear(patterns.m)
	}
	patterns.m[pattern] = re
	patterns.Unlock()
	return re, nil
}
