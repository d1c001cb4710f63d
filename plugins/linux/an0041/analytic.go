// Package an0041 is the Linux data-staging analytic (DET0014 AN0041): files
// copied into a central temp or /mnt directory, followed by archive or
// compression utilities. Live, it reads execs from the kernel audit
// subsystem (the proc connector when audit is unavailable) and file events
// from fanotify under StagingDirectoryList; offline, it replays auditd
// logs. This package is its description, its collectors and its parser;
// everything behind them is the shared endpoint layer.
package an0041

import (
	"bytes"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/linux/auditlog"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0041"
	Platform   = "linux"
	// Version is the analytic's own version: it changes when what it
	// detects or how it is configured changes.
	Version = "0.1.0"
)

// Mutable element names (contract: exact DET0014 names).
const (
	StagingDirectoryList     = "StagingDirectoryList"
	ArchivingCommandPatterns = "ArchivingCommandPatterns"
	UserContext              = "UserContext"
	TimeWindow               = endpoint.TimeWindow
	AllowedParentProcesses   = endpoint.AllowedParentProcesses
	AllowedPaths             = endpoint.AllowedPaths
	MinimumFileCount         = endpoint.MinimumFileCount
)

// Definition is AN0041 as the endpoint layer runs it.
func Definition() endpoint.Definition {
	return endpoint.Definition{
		ID:       AnalyticID,
		Platform: Platform,
		Version:  Version,
		Name:     "Linux data staging: files gathered in temp or /mnt, then archived",
		Description: "Detects files created, copied or moved into a central staging directory (/tmp, /var/tmp, /mnt, /dev/shm by default) " +
			"followed within TimeWindow by an archive or compression utility (tar, zip, gzip, 7z…) over them, from auditd exec " +
			"records and fanotify file events; extraction, package managers, builds and log rotation stay quiet.",
		PathStyle: staging.Posix,
		Names: endpoint.Names{
			StagingDirectories: StagingDirectoryList,
			Archivers:          ArchivingCommandPatterns,
			UserContext:        UserContext,
		},
		Formats: []endpoint.Format{
			endpoint.LineFormat("auditd", []string{"audit", "audit.log"}, looksLikeAudit, func(emit func(*event.Event)) endpoint.LineParser {
				return assembler{auditlog.NewAssembler(emit)}
			}),
		},
		Live:            liveCollection,
		LiveUnavailable: "live collection needs Linux (audit, fanotify); replay works on any platform",
	}
}

// New returns an unconfigured AN0041.
func New() *endpoint.Analytic { return endpoint.New(Definition()) }

// assembler reads audit.log lines (raw or enriched) into events.
type assembler struct{ *auditlog.Assembler }

func (a assembler) ParseErrors() uint64 { return a.Stats().ParseErrors }

// looksLikeAudit recognises audit.log text: its records start with type=.
func looksLikeAudit(head []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("type="))
}
