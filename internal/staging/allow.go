package staging

import (
	"strings"

	"github.com/stagewatch/stagewatch/internal/event"
)

// Allowlists are not name-only. A program allowed by name is the program
// only where it really lives: an executable named make that lies in a
// staging directory (a copy of bash put in /tmp) is not make. An entry that
// is an absolute path glob allows exactly the executables it matches. An
// allowed path may be bound to the tools it is for ("/tmp/pip-* by pip"):
// it then applies only to writes by those tools, the writer itself or its
// parent, so a user cannot stage into /tmp/pip-x with cp and be ignored.

// programs is an allowlist of executables: name globs and absolute path
// globs.
type programs struct {
	names patternSet
	paths []string // normalized absolute path globs ('*' crosses separators)
}

func newPrograms(field string, entries []string, style PathStyle) (programs, error) {
	var pr programs
	var names []string
	for _, e := range entries {
		t := strings.TrimSpace(e)
		if style.isAbs(t) {
			pr.paths = append(pr.paths, normalizeGlob(t, style))
			continue
		}
		names = append(names, e)
	}
	var err error
	pr.names, err = newPatternSet(field, names)
	return pr, err
}

func (pr *programs) empty() bool { return pr.names.empty() && len(pr.paths) == 0 }

// normalizeGlob gives a path glob the comparison form of paths in style.
func normalizeGlob(p string, style PathStyle) string {
	switch style {
	case Windows:
		return strings.ToLower(strings.ReplaceAll(p, "/", `\`))
	case Mac:
		return lowerASCIIString(p)
	}
	return p
}

// isProgram reports whether exe, an executable's path as the sensor
// reported it, is one of pr's programs.
func (c *Correlator) isProgram(pr *programs, exe string) bool {
	if exe == "" || !c.style.isAbs(exe) {
		return false
	}
	for _, g := range pr.paths {
		if c.style.globMatch(g, exe) {
			return true
		}
	}
	if !pr.names.match(c.style.baseName(exe)) {
		return false
	}
	// A renamed copy in a staging directory is not the tool it is named
	// after.
	_, inStaging := locate(c.roots, c.style, c.style.normalize(exe))
	return !inStaging
}

// allowedProcess reports whether p, its parent or its grandparent is an
// allowed parent. The chain is not followed further: package managers,
// compilers and logrotate start their archivers and temp-file writers
// directly or through one shell, while a whole interactive session may
// descend from a build tool or a terminal that happens to be listed, and
// an attacker working there must still be seen.
func (c *Correlator) allowedProcess(p *event.Process) bool {
	if c.allowedParents.empty() {
		return false
	}
	if c.isProgram(&c.allowedParents, p.Exe) || c.isProgram(&c.allowedParents, p.Parent) {
		return true
	}
	for i, a := range p.Ancestors {
		if i >= AllowedParentDepth {
			break
		}
		if c.isProgram(&c.allowedParents, a) {
			return true
		}
	}
	return false
}

// AllowedParentDepth is how many ancestors (parent first) AllowedParents
// is matched against.
const AllowedParentDepth = 2

// allowedPath is one AllowedPaths entry: a path glob, and the tools whose
// writes it allows (none: any writer's).
type allowedPath struct {
	glob  string
	tools programs
	bound bool
}

// pathBinding separates an AllowedPaths glob from the tools it is for.
const pathBinding = " by "

func newAllowedPaths(entries []string, style PathStyle) ([]allowedPath, error) {
	var out []allowedPath
	for _, e := range entries {
		glob, tools, bound := strings.Cut(e, pathBinding)
		glob = strings.TrimSpace(glob)
		if glob == "" {
			return nil, fieldErr("AllowedPaths", "empty pattern")
		}
		ap := allowedPath{glob: normalizeGlob(glob, style), bound: bound}
		if bound {
			var list []string
			for _, t := range strings.Split(tools, ",") {
				if t = strings.TrimSpace(t); t != "" {
					list = append(list, t)
				}
			}
			if len(list) == 0 {
				return nil, fieldErr("AllowedPaths", "%q: no tool after %q", e, strings.TrimSpace(pathBinding))
			}
			var err error
			if ap.tools, err = newPrograms("AllowedPaths", list, style); err != nil {
				return nil, err
			}
		}
		out = append(out, ap)
	}
	return out, nil
}

// allowedPath reports whether a write to the normalized path norm by p is
// allowlisted.
func (c *Correlator) allowedPath(norm string, p *event.Process) bool {
	for i := range c.allowedPaths {
		ap := &c.allowedPaths[i]
		if !c.style.globMatch(ap.glob, norm) {
			continue
		}
		if !ap.bound || c.writtenBy(&ap.tools, p) {
			return true
		}
	}
	return false
}

// writtenBy reports whether the writer p, or its parent, is one of the
// tools: by its executable, or for an interpreter by the script it runs
// (pip is python running /usr/bin/pip).
func (c *Correlator) writtenBy(tools *programs, p *event.Process) bool {
	if c.isProgram(tools, p.Exe) || c.isProgram(tools, p.Parent) {
		return true
	}
	if script := scriptOf(p, c.style); script != "" {
		return c.isProgram(tools, script)
	}
	return false
}

// scriptOf is the script an interpreter process runs: its first operand,
// resolved against its cwd; empty for other programs.
func scriptOf(p *event.Process, style PathStyle) string {
	t, ok := lookupTool(style.baseName(p.Exe))
	if !ok || (t.family != famPython && t.family != famScript) || len(p.Argv) < 2 {
		return ""
	}
	for _, a := range p.Argv[1:] {
		if a == "--" || a == "" {
			continue
		}
		if a[0] == '-' {
			// -c and -m run code, not a script.
			if a == "-c" || a == "-m" || a == "-e" {
				return ""
			}
			continue
		}
		if style.isAbs(a) {
			return a
		}
		if p.Cwd == "" {
			return ""
		}
		return ResolvePath(p.Cwd, a, style)
	}
	return ""
}
