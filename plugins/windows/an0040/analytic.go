// Package an0040 is the Windows data-staging analytic (DET0014 AN0040):
// sensitive files gathered into temporary, public or drive-root directories
// or onto admin shares, batch copies into them, and compression with 7-Zip,
// WinRAR, zip and kin before exfiltration. Live, it subscribes to Sysmon's
// and the Security log's events through the Windows Event Log API; offline,
// it replays EVTX files, XML and JSON exports. This package is its
// description and its collector's wiring; the readers are in winlog and
// winevent, everything behind them is the shared endpoint layer.
package an0040

import (
	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/windows/winevent"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0040"
	Platform   = "windows"
	// Version is the analytic's own version: it changes when what it
	// detects or how it is configured changes.
	Version = "0.1.0"
)

// Mutable element names (contract: exact DET0014 names).
const (
	StagingDirectoryList   = "StagingDirectoryList"
	CompressionToolList    = "CompressionToolList"
	TimeWindow             = endpoint.TimeWindow
	AllowedParentProcesses = endpoint.AllowedParentProcesses
	AllowedPaths           = endpoint.AllowedPaths
	MinimumFileCount       = endpoint.MinimumFileCount
)

// Definition is AN0040 as the endpoint layer runs it.
func Definition() endpoint.Definition {
	return endpoint.Definition{
		ID:       AnalyticID,
		Platform: Platform,
		Version:  Version,
		Name:     "Windows data staging: files gathered in temp, public or root directories or on admin shares, batch copies, compression",
		Description: "Detects DET0014's three Windows behaviours, each on its own and chained into one detection that rises in severity: " +
			"sensitive files staged into %TEMP%, C:\\Windows\\Temp, C:\\Users\\Public, C:\\ProgramData, C:\\PerfLogs, $Recycle.Bin or a " +
			"directory under the drive root (Sysmon 11, or copy, xcopy, robocopy, Copy-Item command lines), batch copies into them, and " +
			"compression with 7-Zip, WinRAR, zip, makecab or Compress-Archive naming them, matched by image, OriginalFileName and command " +
			"line; copies onto admin shares (5145) are remote staging. From Sysmon and Security events, live or from EVTX, XML and JSON.",
		PathStyle: staging.Windows,
		Names: endpoint.Names{
			StagingDirectories: StagingDirectoryList,
			Archivers:          CompressionToolList,
		},
		Formats:         winevent.Formats(),
		Live:            liveCollection,
		LiveUnavailable: "live collection needs Windows (the Windows Event Log); replay works on any platform",
		CopySteps:       true,
		ArchiveAlone:    true,
	}
}

// New returns an unconfigured AN0040.
func New() *endpoint.Analytic { return endpoint.New(Definition()) }
