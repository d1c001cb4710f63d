// Package event is stagewatch's normalized event model. Every collector and
// log parser, on every platform, turns what it reads into these types; the
// staging correlator and the table code consume nothing else.
package event

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is what happened.
type Kind uint8

const (
	KindExec        Kind = iota + 1 // a process started (exec)
	KindFileCreate                  // a file was created
	KindFileWrite                   // a file was closed after being written
	KindFileMoveIn                  // a file was moved or renamed into place
	KindFileCopy                    // a copy whose source is known (EVTX 5145, cloud copy…)
	KindFileDelete                  // a file was removed
	KindFileMoveOut                 // a file was moved or renamed out of the place watched
)

func (k Kind) String() string {
	switch k {
	case KindExec:
		return "exec"
	case KindFileCreate:
		return "create"
	case KindFileWrite:
		return "write"
	case KindFileMoveIn:
		return "move_in"
	case KindFileCopy:
		return "copy"
	case KindFileDelete:
		return "delete"
	case KindFileMoveOut:
		return "move_out"
	}
	return "unknown"
}

// IsFile reports whether k is a file event.
func (k Kind) IsFile() bool { return k >= KindFileCreate && k <= KindFileMoveOut }

// Removes reports whether k takes the file at Path away from where it was:
// a delete or a move out.
func (k Kind) Removes() bool { return k == KindFileDelete || k == KindFileMoveOut }

// Unknown marks an id that the source did not report.
const Unknown = -1

// Actor is who did it.
type Actor struct {
	UID     int64  // real uid, Unknown if not reported
	EUID    int64  // effective uid
	AUID    int64  // login uid (audit), Unknown when unset (4294967295)
	User    string // name, when the source gives one (Windows DOMAIN\user, AWS ARN…)
	Session string // login session (audit ses, Windows logon id, …)
	TTY     string // controlling terminal, empty if none
	// Interactive and Elevated are set by the collector or parser that
	// knows what they mean on its platform: a terminal on Linux, the logon
	// type on Windows (interactive, remote interactive), a tty or login
	// session on macOS; root rights a login user does not have on Linux
	// and macOS, a high or system integrity level of a user's token on
	// Windows. The model never infers them from uids.
	Interactive bool // a person at a terminal or an interactive logon
	Elevated    bool // rights the login identity does not have
	// Scope is, for an actor with no login session (a service, a cron
	// job, a package manager), the process subtree it acts in, as the
	// endpoint's process table names it ("812": the pid at the top of the
	// subtree); empty for login sessions and where no table knows it.
	// Two processes with no login are one actor only in one subtree.
	Scope string
}

// HasTerminal reports whether TTY names a controlling terminal.
func (a *Actor) HasTerminal() bool {
	return a.TTY != "" && a.TTY != "(none)" && a.TTY != "?"
}

// Process is the process that did it.
type Process struct {
	PID  int64
	PPID int64
	Exe  string   // executable path
	Argv []string // full argument vector, argv[0] first
	// CommandLine is the line as the platform recorded it, where the
	// platform records a line rather than a vector (Windows); empty
	// elsewhere.
	CommandLine string
	Cwd         string
	Parent      string   // parent executable
	Ancestors   []string // parent chain executables, nearest first
	// Listed are the names in the files an archiver was told to read its
	// inputs from (tar -T list, 7z @list), read when it ran, live; empty
	// when it was given none or they could not be read (replay).
	Listed []string
	// GUID is the process's id where the platform gives one that pid
	// reuse cannot confuse (Sysmon's ProcessGuid), lower case, without
	// braces; ParentGUID is its parent's. The endpoint layer keys the
	// process tree on them where set. Empty elsewhere.
	GUID       string
	ParentGUID string
	// OriginalName is the file name the executable was built with, from
	// its version resource (Sysmon's OriginalFileName: "7z.exe" for a 7-Zip
	// renamed svchost.exe); empty where the platform does not say. The
	// correlator classifies a renamed tool by it.
	OriginalName string
	// What macOS's Endpoint Security says of a process: its code signing
	// identifier and team, whether it is an Apple platform binary, the pid
	// macOS holds responsible for it (the app that launched a helper), and
	// the pid version of its audit token, which with the pid names one
	// process that pid reuse cannot confuse. Empty or zero elsewhere.
	SigningID      string
	TeamID         string
	PlatformBinary bool
	ResponsiblePID int64
	PIDVersion     int64
}

// Event is one normalized event.
type Event struct {
	Time    time.Time
	Kind    Kind
	Actor   Actor
	Process Process
	// Path is the file for file events; for KindFileMoveIn and KindFileCopy
	// SourcePath is where it came from, when known.
	Path       string
	SourcePath string
	Size       int64 // bytes, Unknown when not known
	Host       string
	Source     string // sensor or log: fanotify, audit, sysmon, eslogger…
	// Recovered marks an event reported again by a collector after it lost
	// events (a rescan after a kernel queue overflow): it adds a file not
	// seen, but never replaces what an event read from the sensor said of
	// one.
	Recovered bool
	// Dir is set when Path is a directory: a whole tree deleted or moved
	// out at once.
	Dir bool
	// ArchiveFormat is the archive or compression format the written
	// file's first bytes show (gzip, zip…), set by collectors that can read
	// them; empty when not known or none.
	ArchiveFormat string
	// Secret is the secret the written file's first bytes show it holds:
	// "private key", "PuTTY private key", "PGP private key" or "KeePass
	// database" (staging.SecretFormat), set by collectors that can read
	// them; empty when not known or none. The correlator counts such a
	// file as a key or secret whatever its name.
	Secret string
	// RemoteAddr is the network address of the peer that did it when it
	// came over the network (an SMB client writing to a share: 5145's
	// IpAddress); empty for local events.
	RemoteAddr string
}

// Detection is one staging detection: a row of staging_detections.
type Detection struct {
	Time        time.Time
	DetectionID string
	AnalyticID  string
	TechniqueID string
	Platform    string
	Host        string
	Actor       string
	Process     string
	StagingPath string
	ArchivePath string
	FileCount   int64
	Bytes       int64
	FirstSeen   time.Time
	LastSeen    time.Time
	Severity    string // low, medium, high
	Score       int
	Reason      string
	Evidence    []Evidence
	UID         string
	// Techniques are the ATT&CK techniques the detection shows, TechniqueID
	// first, then the others by id (T1005, T1119, T1560.001…): what the
	// evidence itself says was done besides staging. The correlator sets
	// the endpoint ones; a cloud or ESXi analytic sets its own (T1530,
	// T1537, T1578). Empty in a detection kept by a build before them.
	Techniques []string
}

// Evidence is one event behind a detection, as serialized in the evidence
// column.
type Evidence struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Path    string    `json:"path,omitempty"`
	Size    int64     `json:"size,omitempty"`
	PID     int64     `json:"pid,omitempty"`
	Process string    `json:"process,omitempty"`
	Cmdline string    `json:"cmdline,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// Name is the actor as a person reads it: the user name, else root or the
// uid, else "an unknown user".
func (a *Actor) Name() string {
	switch {
	case a.User != "":
		return a.User
	case a.UID == 0:
		return "root"
	case a.UID > 0:
		return "uid " + strconv.FormatInt(a.UID, 10)
	}
	return "an unknown user"
}

// String renders the actor for actor columns and evidence:
// "alice (uid 1000, auid 1000, tty pts/0, ses 3)".
func (a *Actor) String() string {
	var parts []string
	if a.UID >= 0 && (a.User != "" || a.UID == 0) {
		parts = append(parts, "uid "+strconv.FormatInt(a.UID, 10))
	}
	if a.EUID >= 0 && a.EUID != a.UID {
		parts = append(parts, "euid "+strconv.FormatInt(a.EUID, 10))
	}
	if a.AUID >= 0 {
		parts = append(parts, "auid "+strconv.FormatInt(a.AUID, 10))
	}
	if a.HasTerminal() {
		parts = append(parts, "tty "+a.TTY)
	}
	if a.Session != "" {
		parts = append(parts, "ses "+a.Session)
	}
	if len(parts) == 0 {
		return a.Name()
	}
	return a.Name() + " (" + strings.Join(parts, ", ") + ")"
}

// AddTechnique adds an ATT&CK technique the evidence shows to
// d.Techniques, which keeps d.TechniqueID first and the others once each,
// by id.
func (d *Detection) AddTechnique(id string) {
	if id == "" {
		return
	}
	if len(d.Techniques) == 0 && d.TechniqueID != "" {
		d.Techniques = []string{d.TechniqueID}
	}
	for _, t := range d.Techniques {
		if t == id {
			return
		}
	}
	d.Techniques = append(d.Techniques, id)
	if len(d.Techniques) > 2 {
		rest := d.Techniques[1:]
		sort.Strings(rest)
	}
}
