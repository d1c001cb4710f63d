package staging

import (
	"path"
	"strings"
)

// PathStyle says how paths are spelled on the platform the events come from.
type PathStyle uint8

const (
	// PathAuto picks Windows for Platform "windows", Mac for "darwin" and
	// Posix otherwise.
	PathAuto PathStyle = iota
	// Posix paths are case-sensitive and separated by '/'.
	Posix
	// Windows paths are case-insensitive, separated by '\' or '/', and
	// start with a drive letter or a UNC share.
	Windows
	// Mac paths are separated by '/' and compare case-insensitively, as on
	// macOS's default file system (APFS or HFS+, case-insensitive): ASCII
	// letters fold; other letters compare as written.
	Mac
)

func (s PathStyle) String() string {
	switch s {
	case Posix:
		return "posix"
	case Windows:
		return "windows"
	case Mac:
		return "mac"
	}
	return "auto"
}

// folds reports whether the style compares paths case-insensitively.
func (s PathStyle) folds() bool { return s == Windows || s == Mac }

func (s PathStyle) isSep(b byte) bool {
	return b == '/' || (s == Windows && b == '\\')
}

func (s PathStyle) sep() byte {
	if s == Windows {
		return '\\'
	}
	return '/'
}

func lowerASCII(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// byteEq compares one byte of a pattern that has been normalized (lower case
// where the style folds, '\' separators on Windows) with one byte of a raw
// path.
func (s PathStyle) byteEq(pattern, raw byte) bool {
	if !s.folds() {
		return pattern == raw
	}
	if raw == '/' && s == Windows {
		raw = '\\'
	}
	return pattern == lowerASCII(raw)
}

// globMatch reports whether raw matches the normalized pattern, in which '*'
// matches any run of bytes (separators included, so "/tmp/go-build*" covers
// the whole tree) and '?' one byte. It never allocates: it runs on every
// staged file event.
func (s PathStyle) globMatch(pattern, raw string) bool {
	p, r := 0, 0
	star, mark := -1, 0
	for r < len(raw) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, r
			p++
		case p < len(pattern) && (pattern[p] == '?' || s.byteEq(pattern[p], raw[r])):
			p++
			r++
		case star >= 0:
			p = star + 1
			mark++
			r = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hasPrefixNorm reports whether raw starts with the normalized prefix.
func (s PathStyle) hasPrefixNorm(raw, prefix string) bool {
	if len(raw) < len(prefix) {
		return false
	}
	if !s.folds() {
		return raw[:len(prefix)] == prefix
	}
	for i := 0; i < len(prefix); i++ {
		if !s.byteEq(prefix[i], raw[i]) {
			return false
		}
	}
	return true
}

// baseName returns the last element of p without allocating.
func (s PathStyle) baseName(p string) string {
	for len(p) > 0 && s.isSep(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	for i := len(p) - 1; i >= 0; i-- {
		if s.isSep(p[i]) {
			return p[i+1:]
		}
	}
	return p
}

// dir is p without its last element (and the separator before it).
func (s PathStyle) dir(p string) string {
	d := p[:len(p)-len(s.baseName(p))]
	for len(d) > 1 && s.isSep(d[len(d)-1]) {
		d = d[:len(d)-1]
	}
	return d
}

// isAbs reports whether p is absolute in style s.
func (s PathStyle) isAbs(p string) bool {
	if s != Windows {
		return strings.HasPrefix(p, "/")
	}
	if len(p) >= 3 && p[1] == ':' && s.isSep(p[2]) {
		return true
	}
	return len(p) >= 2 && s.isSep(p[0]) && s.isSep(p[1])
}

// normalize returns the comparison form of an absolute path: cleaned, lower
// case where the style folds, and on Windows with '\' separators and no \\?\
// prefix. Relative paths come back cleaned but are never under a staging
// root.
func (s PathStyle) normalize(p string) string {
	if s != Windows {
		if needsClean(p) {
			p = path.Clean(p)
		}
		if s == Mac {
			p = lowerASCIIString(p)
		}
		return p
	}
	if strings.HasPrefix(p, `\\?\`) || strings.HasPrefix(p, `\??\`) {
		p = p[4:]
		if strings.HasPrefix(strings.ToLower(p), `unc\`) {
			p = `\\` + p[4:]
		}
	}
	b := []byte(p)
	for i, c := range b {
		if c == '/' {
			c = '\\'
		}
		b[i] = lowerASCII(c)
	}
	return winClean(string(b))
}

// needsClean reports whether a Posix path has empty, "." or ".." elements or
// a trailing slash, in one pass over the bytes.
func needsClean(p string) bool {
	if p == "" {
		return false
	}
	if len(p) > 1 && p[len(p)-1] == '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		if i+1 < len(p) && p[i+1] == '/' {
			return true
		}
		if i+1 < len(p) && p[i+1] == '.' {
			rest := p[i+2:]
			if rest == "" || rest[0] == '/' || (rest[0] == '.' && (len(rest) == 1 || rest[1] == '/')) {
				return true
			}
		}
	}
	return false
}

// winClean resolves "." and ".." and doubled separators in a lower-cased
// Windows path whose separators are already '\'.
func winClean(p string) string {
	prefix := ""
	rest := p
	switch {
	case strings.HasPrefix(p, `\\`):
		// \\server\share is the root of a UNC path.
		parts := strings.SplitN(p[2:], `\`, 3)
		if len(parts) < 2 {
			return p
		}
		prefix = `\\` + parts[0] + `\` + parts[1]
		rest = ""
		if len(parts) == 3 {
			rest = parts[2]
		}
	case len(p) >= 2 && p[1] == ':':
		prefix = p[:2]
		rest = p[2:]
	}
	abs := strings.HasPrefix(rest, `\`) || strings.HasPrefix(prefix, `\\`)
	var out []string
	for _, seg := range strings.Split(rest, `\`) {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 && out[len(out)-1] != ".." {
				out = out[:len(out)-1]
			} else if !abs {
				out = append(out, seg)
			}
		default:
			out = append(out, seg)
		}
	}
	joined := strings.Join(out, `\`)
	if abs {
		if joined == "" {
			return prefix + `\`
		}
		return prefix + `\` + joined
	}
	return prefix + joined
}

// ResolvePath makes p absolute against cwd in style s and returns it in its
// comparison form (see normalize). A relative p with no cwd stays relative.
func ResolvePath(cwd, p string, style PathStyle) string {
	if p == "" {
		return ""
	}
	if style == Windows {
		switch {
		case style.isAbs(p):
		case len(p) >= 2 && p[1] == ':':
			// C:rel is relative to the cwd of that drive; only the
			// process cwd is known, so use it when it is on that drive.
			if len(cwd) >= 2 && lowerASCII(cwd[0]) == lowerASCII(p[0]) {
				p = cwd + `\` + p[2:]
			} else {
				p = p[:2] + `\` + p[2:]
			}
		case style.isSep(p[0]):
			if len(cwd) >= 2 && cwd[1] == ':' {
				p = cwd[:2] + p
			}
		case cwd != "":
			p = cwd + `\` + p
		}
		return style.normalize(p)
	}
	if !strings.HasPrefix(p, "/") && cwd != "" {
		p = path.Join(cwd, p)
	}
	return style.normalize(p)
}

// displayPath is p resolved against cwd as a person reads it: the spelling
// the event gave (its cwd's and its own), where normalize would fold case.
func (s PathStyle) displayPath(cwd, p string) string {
	switch s {
	case Windows:
		if s.isAbs(p) {
			return p
		}
		if cwd == "" || !s.isAbs(cwd) {
			return ResolvePath(cwd, p, s)
		}
		switch {
		case len(p) >= 2 && p[1] == ':':
			if lowerASCII(cwd[0]) != lowerASCII(p[0]) {
				return windowsClean(p[:2] + `\` + p[2:])
			}
			p = p[2:]
		case s.isSep(p[0]):
			if cwd[1] == ':' {
				return windowsClean(cwd[:2] + p)
			}
		}
		return windowsClean(cwd + `\` + p)
	case Mac:
		if !strings.HasPrefix(p, "/") && cwd != "" {
			return path.Join(cwd, p)
		}
		return path.Clean(p)
	}
	return ResolvePath(cwd, p, s)
}

// windowsClean drops . and .. elements and doubled separators from an
// absolute Windows path, keeping its spelling: C:\Users\bob\Documents\..\Desktop
// is C:\Users\bob\Desktop. A .. never climbs above the drive or the share.
func windowsClean(p string) string {
	prefix := ""
	switch {
	case len(p) >= 2 && p[1] == ':':
		prefix, p = p[:2], p[2:]
	case len(p) >= 2 && Windows.isSep(p[0]) && Windows.isSep(p[1]):
		// \\server\share: both kept as they are.
		rest := strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' })
		if len(rest) < 2 {
			return p
		}
		prefix, p = `\\`+rest[0]+`\`+rest[1], `\`+strings.Join(rest[2:], `\`)
	}
	var out []string
	for _, elem := range strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' }) {
		switch elem {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, elem)
		}
	}
	return prefix + `\` + strings.Join(out, `\`)
}

// lowerASCIIString folds ASCII letters, allocating only when there are any
// upper-case ones.
func lowerASCIIString(p string) string {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c >= 'A' && c <= 'Z' {
			b := []byte(p)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return p
}

// under reports whether the normalized path p is dir or lies below it.
func (s PathStyle) under(p, dir string) bool {
	if !strings.HasPrefix(p, dir) {
		return false
	}
	if len(p) == len(dir) {
		return true
	}
	if dir != "" && dir[len(dir)-1] == s.sep() {
		return true
	}
	return p[len(dir)] == s.sep()
}

// stripGlob turns a reference such as /tmp/loot/* (a quoted wildcard handed
// to zip or 7z) into the directory it selects from.
func (s PathStyle) stripGlob(p string) string {
	base := s.baseName(p)
	if !strings.ContainsAny(base, "*?") {
		return p
	}
	dir := p[:len(p)-len(base)]
	for len(dir) > 1 && s.isSep(dir[len(dir)-1]) {
		dir = dir[:len(dir)-1]
	}
	if s == Windows && len(dir) == 2 && dir[1] == ':' {
		dir += `\`
	}
	return dir
}

// joinRaw joins a directory and a relative name in style s without cleaning.
func (s PathStyle) joinRaw(dir, name string) string {
	if dir == "" || s.isAbs(name) {
		return name
	}
	if s == Windows && name != "" && s.isSep(name[0]) {
		return name
	}
	if s.isSep(dir[len(dir)-1]) {
		return dir + name
	}
	return dir + string(s.sep()) + name
}

// splitLast splits p into the directory before its last element (without
// the separators between them) and that element, without allocating.
func (s PathStyle) splitLast(p string) (dir, elem string) {
	for len(p) > 0 && s.isSep(p[len(p)-1]) {
		p = p[:len(p)-1]
	}
	i := len(p) - 1
	for i >= 0 && !s.isSep(p[i]) {
		i--
	}
	elem, dir = p[i+1:], p[:max(i, 0)]
	for len(dir) > 0 && s.isSep(dir[len(dir)-1]) {
		dir = dir[:len(dir)-1]
	}
	return dir, elem
}

// nameIs reports whether the path element elem is name, compared as the
// style compares paths.
func (s PathStyle) nameIs(elem, name string) bool {
	if s.folds() {
		return equalFoldASCII(elem, name)
	}
	return elem == name
}
