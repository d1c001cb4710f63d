// Package correlate is AN0044's pure logic: activity events in, data
// staging detections out. It counts snapshots per VM and per host within
// TimeWindow (SnapshotFrequency), weighs who acted (AccessUserList, the
// backup accounts), how (CLIContext: the ESXi Shell, SSH, vim-cmd,
// vmkfstools, API clients by user agent), on what (VMs marked sensitive)
// and after what (a shell or SSH login within TimeWindow), and keeps the
// detections still open, all bounded by TimeWindow and lateness behind
// the newest event seen. It never calls vSphere itself.
package correlate

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Config is what the correlator runs with.
type Config struct {
	AnalyticID, Platform, DetectionID, TechniqueID string
	Window                                         time.Duration
	// PerVM and PerHost snapshots within Window are a burst (0: off).
	PerVM, PerHost int
	// AccessUsers are user globs that should not snapshot or write VM
	// data (AccessUserList).
	AccessUsers []string
	// BackupUsers are user globs of backup software: one snapshot per VM
	// on their schedule, and its removal, are quiet.
	BackupUsers []string
	CLI         CLIContext
	// Sensitive marks VMs that hold sensitive data.
	Sensitive []VMRule
	// Lateness is how far behind the newest event one may arrive and
	// still be correlated (syslog relays and API polls lag).
	Lateness time.Duration
}

// DefaultLateness is the default Config.Lateness.
const DefaultLateness = 30 * time.Minute

// CLIContext is which ways of acting count as the command line.
type CLIContext struct {
	Shell, SSH bool            // shell.log commands; auth.log commands
	Tools      map[string]bool // vim-cmd, vmkfstools, esxcli, govc, cp …
	Agents     []string        // API user agent globs (govc/*, pyvmomi*)
}

// ParseCLIContext reads CLIContext entries: "shell", "ssh", a tool name,
// or "ua:GLOB" for an API client's user agent.
func ParseCLIContext(entries []string) (CLIContext, error) {
	c := CLIContext{Tools: map[string]bool{}}
	for _, e := range entries {
		switch {
		case e == "shell":
			c.Shell = true
		case e == "ssh":
			c.SSH = true
		case strings.HasPrefix(e, "ua:"):
			g := strings.TrimPrefix(e, "ua:")
			if g == "" {
				return c, fmt.Errorf("%q names no user agent (want ua:GLOB, e.g. ua:govc/*)", e)
			}
			c.Agents = append(c.Agents, g)
		case e == "" || strings.ContainsAny(e, " /"):
			return c, fmt.Errorf("%q is not shell, ssh, a tool name (vim-cmd) or ua:GLOB", e)
		default:
			c.Tools[e] = true
		}
	}
	return c, nil
}

// VMRule is one SensitiveVMList entry: a VM name glob, folder:GLOB on
// the VM's inventory folder, or tag:GLOB on its tags (category:name).
type VMRule struct{ Kind, Glob string }

// ParseVMRule reads "NAME-GLOB", "folder:GLOB" or "tag:GLOB".
func ParseVMRule(s string) (VMRule, error) {
	for _, k := range []string{"folder", "tag"} {
		if g, ok := strings.CutPrefix(s, k+":"); ok {
			if g == "" {
				return VMRule{}, fmt.Errorf("%q has an empty pattern", s)
			}
			return VMRule{Kind: k, Glob: g}, nil
		}
	}
	if s == "" {
		return VMRule{}, fmt.Errorf("an empty VM name pattern")
	}
	if _, err := path.Match(strings.ToLower(s), ""); err != nil {
		return VMRule{}, fmt.Errorf("%q: %v", s, err)
	}
	return VMRule{Kind: "name", Glob: s}, nil
}

// Glob matches s against pattern, case-insensitively (vSphere user and
// VM names are), where * matches any run of characters (\ and / too,
// as DOMAIN\user and folder paths need) and ? one.
func Glob(pattern, s string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(s))
}

func globMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

func anyGlob(patterns []string, s string) bool {
	if s == "" {
		return false
	}
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}
