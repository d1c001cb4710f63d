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
	// except are the names the wildcard of a drive-root root (C:\*\ or
	// \\*\C$\*\, any
	// directory directly under the drive) does not match: Windows' own
	// directories, where programs are installed and users keep their
	// profiles, are no staging directories for being at the top.
	except []string
}

// windowsTopDirs are the directories directly under a Windows drive that a
// C:\*\ root excludes (lower case).
var windowsTopDirs = []string{"windows", "windows.old", "program files", "program files (x86)", "users",
	"documents and settings", "system volume information", "recovery", "boot", "config.msi", "msocache",
	"$winreagent", "$sysreset", "$windows.~bt", "$windows.~ws", "$getcurrent", "esd", "onedrivetemp"}

func parseRoot(spec string, style PathStyle) (root, error) {
	r := root{spec: spec}
	if strings.TrimSpace(spec) == "" {
		return r, &RootError{Dir: spec, Kind: RootEmpty, Problem: "empty path"}
	}
	if !style.isAbs(spec) {
		return r, &RootError{Dir: spec, Kind: RootNotAbsolute, Problem: fmt.Sprintf("%q is not an absolute path", spec)}
	}
	n := spec
	if style == Mac {
		n = lowerASCIIString(spec)
	}
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
			return r, &RootError{Dir: spec, Kind: RootDotElement, Problem: fmt.Sprintf("%q: %q elements are not allowed", spec, seg)}
		}
		r.segs = append(r.segs, seg)
		r.globs = append(r.globs, strings.ContainsAny(seg, "*?"))
	}
	if len(r.segs) == 0 || (style == Windows && len(r.segs) == 1 && !r.unc) {
		return r, &RootError{Dir: spec, Kind: RootWholeFileSystem, Problem: fmt.Sprintf("%q: a whole file system is not a staging directory", spec)}
	}
	if style == Windows && (!r.unc && len(r.segs) == 2 && r.segs[1] == "*" ||
		r.unc && len(r.segs) == 3 && strings.HasSuffix(r.segs[1], "$") && r.segs[2] == "*") {
		// C:\*\, or \\host\C$\*\ on an admin share.
		r.except = windowsTopDirs
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
			for _, x := range r.except {
				if len(elem) == len(x) && style.hasPrefixNorm(elem, x) {
					return 0, false
				}
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

// Roots are staging directories as one matcher. It is the one place that
// decides whether a path lies under a staging directory ("*" elements
// included): the correlator, the endpoint tables and the live file
// watchers all ask it.
type Roots struct {
	style PathStyle
	roots []root // most specific first
}

// Place is where a path sits among the staging roots.
type Place struct {
	Dir      string // the staging directory as configured
	RootPath string // the part of the path the directory matched
	Group    string // the first directory below the root, or RootPath for files directly in it
	InRoot   bool   // the path is directly in the root
	IsRoot   bool   // the path is the root directory itself
}

// NewRoots checks dirs (absolute in style, no "." or ".." elements, not a
// whole file system) and returns their matcher. An error names the
// directory at fault.
func NewRoots(dirs []string, style PathStyle) (*Roots, error) {
	if style == PathAuto {
		style = Posix
	}
	r := &Roots{style: style}
	for i, d := range dirs {
		rt, err := parseRoot(d, style)
		if err != nil {
			re := err.(*RootError)
			re.Index = i
			return nil, re
		}
		r.roots = append(r.roots, rt)
	}
	sortRoots(r.roots)
	return r, nil
}

// RootError is a staging directory that cannot be one.
type RootError struct {
	Index   int // in the list given to NewRoots
	Dir     string
	Kind    RootProblem
	Problem string
}

// RootProblem is what is wrong with a staging directory.
type RootProblem uint8

const (
	RootEmpty           RootProblem = iota + 1 // an empty string
	RootNotAbsolute                            // relative in the platform's path style
	RootDotElement                             // holds "." or ".."
	RootWholeFileSystem                        // "/", "C:": every file would be staged
)

func (e *RootError) Error() string { return e.Problem }

// Locate places path (absolute, raw or normalized) among the roots: the
// most specific root it is or lies under.
func (r *Roots) Locate(path string) (Place, bool) {
	pl, ok := locate(r.roots, r.style, path)
	if !ok {
		return Place{}, false
	}
	return Place{Dir: r.roots[pl.root].spec, RootPath: pl.rootPath, Group: pl.group, InRoot: pl.inRoot, IsRoot: pl.isRoot}, true
}

// Contains reports whether path is a staging directory or lies below one.
func (r *Roots) Contains(path string) bool {
	_, ok := locate(r.roots, r.style, path)
	return ok
}

// Within returns the most specific staging directory, as configured, that
// path lies strictly below.
func (r *Roots) Within(path string) (string, bool) {
	if r.style == Windows && (strings.HasPrefix(path, `\\?\`) || strings.HasPrefix(path, `\??\`)) {
		path = path[4:]
	}
	for i := range r.roots {
		end, ok := r.roots[i].match(r.style, path)
		if !ok {
			continue
		}
		for end < len(path) && r.style.isSep(path[end]) {
			end++
		}
		if end < len(path) {
			return r.roots[i].spec, true
		}
	}
	return "", false
}

// Dirs lists the directories as configured, most specific first.
func (r *Roots) Dirs() []string {
	out := make([]string, len(r.roots))
	for i := range r.roots {
		out[i] = r.roots[i].spec
	}
	return out
}

// StaticPrefix is the part of a configured directory before its first
// wildcard element (the whole directory when it has none): the directory a
// watcher has to watch to see everything the entry can match.
func StaticPrefix(dir string, style PathStyle) string {
	if style == PathAuto {
		style = Posix
	}
	for i := 0; i < len(dir); i++ {
		if dir[i] != '*' && dir[i] != '?' {
			continue
		}
		j := i
		for j > 0 && !style.isSep(dir[j-1]) {
			j--
		}
		prefix := dir[:j]
		for len(prefix) > 1 && style.isSep(prefix[len(prefix)-1]) {
			prefix = prefix[:len(prefix)-1]
		}
		return prefix
	}
	return dir
}
