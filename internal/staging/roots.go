package staging

import (
	"fmt"
	"strings"
)

// root is one configured staging directory, split into normalized path
// elements so that matching a raw event path costs a few byte compares and no
// allocation.
type root struct {
	spec  string   // as configured
	unc   bool     // \\server\share\… (Windows)
	segs  []string // normalized elements; "*" matches any one element
	globs []bool   // segs[i] holds a wildcard
}

func parseRoot(spec string, style PathStyle) (root, error) {
	r := root{spec: spec}
	if strings.TrimSpace(spec) == "" {
		return r, fmt.Errorf("empty path")
	}
	if !style.isAbs(spec) {
		return r, fmt.Errorf("%q is not an absolute path", spec)
	}
	n := spec
	if style == Windows {
		b := []byte(spec)
		for i, c := range b {
			if c == '/' {
				c = '\\'
			}
			b[i] = lowerASCII(c)
		}
		n = string(b)
		if strings.HasPrefix(n, `\\`) {
			r.unc = true
			n = n[2:]
		}
	}
	for _, seg := range strings.FieldsFunc(n, func(c rune) bool { return c < 128 && style.isSep(byte(c)) }) {
		if seg == "." || seg == ".." {
			return r, fmt.Errorf("%q: %q elements are not allowed", spec, seg)
		}
		r.segs = append(r.segs, seg)
		r.globs = append(r.globs, strings.ContainsAny(seg, "*?"))
	}
	if len(r.segs) == 0 || (style == Windows && len(r.segs) == 1 && !r.unc) {
		return r, fmt.Errorf("%q: a whole file system is not a staging directory", spec)
	}
	return r, nil
}

// match reports where the root ends in raw (the index just past its last
// element) when raw lies under the root.
func (r *root) match(style PathStyle, raw string) (end int, ok bool) {
	i := 0
	switch {
	case r.unc:
		if len(raw) < 2 || !style.isSep(raw[0]) || !style.isSep(raw[1]) {
			return 0, false
		}
		i = 2
	case style != Windows:
		if len(raw) == 0 || raw[0] != '/' {
			return 0, false
		}
	}
	for k, seg := range r.segs {
		for i < len(raw) && style.isSep(raw[i]) {
			i++
		}
		j := i
		for j < len(raw) && !style.isSep(raw[j]) {
			j++
		}
		if j == i {
			return 0, false
		}
		elem := raw[i:j]
		if r.globs[k] {
			if !style.globMatch(seg, elem) {
				return 0, false
			}
		} else if len(elem) != len(seg) || !style.hasPrefixNorm(elem, seg) {
			return 0, false
		}
		i = j
	}
	return i, true
}

// place is where a path sits among the staging roots.
type place struct {
	root     int    // index into the correlator's roots
	rootPath string // the matched root, e.g. /tmp or c:\users\bob\appdata\local\temp
	group    string // the first directory below the root, or rootPath for files directly in it
	inRoot   bool   // the path is directly in the root (its group is the root group)
	isRoot   bool   // the path is the root directory itself
}

// locate places raw (an absolute path, raw or normalized) among roots.
// Substrings of raw are returned, so nothing is allocated.
func locate(roots []root, style PathStyle, raw string) (place, bool) {
	if style == Windows && (strings.HasPrefix(raw, `\\?\`) || strings.HasPrefix(raw, `\??\`)) {
		raw = raw[4:]
	}
	for idx := range roots {
		end, ok := roots[idx].match(style, raw)
		if !ok {
			continue
		}
		pl := place{root: idx, rootPath: raw[:end]}
		i := end
		for i < len(raw) && style.isSep(raw[i]) {
			i++
		}
		if i == len(raw) {
			pl.group, pl.isRoot = pl.rootPath, true
			return pl, true
		}
		j := i
		for j < len(raw) && !style.isSep(raw[j]) {
			j++
		}
		k := j
		for k < len(raw) && style.isSep(raw[k]) {
			k++
		}
		if k == len(raw) {
			pl.group, pl.inRoot = pl.rootPath, true
		} else {
			pl.group = raw[:j]
		}
		return pl, true
	}
	return place{}, false
}
