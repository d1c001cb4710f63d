// Package an0042 is the macOS data-staging analytic (DET0014 AN0042): files
// collected into user temp or shared directories (/tmp, /private/var/tmp,
// a user's $TMPDIR under /private/var/folders, /Users/Shared, mounted
// volumes) followed by compression with ditto, zip, tar, Apple Archive,
// hdiutil or a script, and sensitive files collected there by osascript or
// scripts. Live, it runs Apple's eslogger as a supervised child and reads
// its Endpoint Security messages; offline, it replays eslogger's JSON
// lines. This package is its description and its collector's wiring; the
// reader is eslogger, the child's supervision esclient, everything behind
// them the shared endpoint layer.
package an0042

import (
	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/staging"
	"github.com/stagewatch/stagewatch/plugins/macos/eslogger"
)

// Identity of the analytic.
const (
	AnalyticID = "AN0042"
	Platform   = "darwin"
	// Version is the analytic's own version: it changes when what it
	// detects or how it is configured changes.
	Version = "0.1.0"
)

// Mutable element names (contract: exact DET0014 names).
const (
	CompressionUtilityList    = "CompressionUtilityList"
	SharedDirectoryIndicators = "SharedDirectoryIndicators"
	ScriptInvocationContext   = "ScriptInvocationContext"
	TimeWindow                = endpoint.TimeWindow
	AllowedParentProcesses    = endpoint.AllowedParentProcesses
	AllowedPaths              = endpoint.AllowedPaths
	MinimumFileCount          = endpoint.MinimumFileCount
)

// Definition is AN0042 as the endpoint layer runs it.
func Definition() endpoint.Definition {
	return endpoint.Definition{
		ID:       AnalyticID,
		Platform: Platform,
		Version:  Version,
		Name:     "macOS data staging: files collected into temp or shared directories, then compressed with ditto, zip or scripts",
		Description: "Detects files created, copied, cloned or renamed into /tmp, /private/tmp, /private/var/tmp, a user's $TMPDIR, " +
			"/Users/Shared or a mounted volume followed within TimeWindow by ditto -c, zip, tar, gzip, bzip2, xz, 7z, aa, " +
			"hdiutil create -srcfolder or a script using an archive library over them; sensitive files (keychains, Notes, Messages, " +
			"browser profiles, Documents, ~/.ssh) collected there by osascript (a Finder duplicate it asks for counts as its own) or by " +
			"scripts launched by launchd agents, cron or ssh sessions; and archives written there by script interpreters. From " +
			"Endpoint Security events through eslogger, live or replayed; software updates, Xcode, Homebrew, installers and Spotlight stay quiet.",
		PathStyle: staging.Mac,
		Names: endpoint.Names{
			StagingDirectories: SharedDirectoryIndicators,
			Archivers:          CompressionUtilityList,
			ScriptContext:      ScriptInvocationContext,
		},
		Formats:         eslogger.Formats(),
		Live:            liveCollection,
		LiveUnavailable: "live collection needs macOS (Endpoint Security through /usr/bin/eslogger); replay works on any platform",
	}
}

// New returns an unconfigured AN0042.
func New() *endpoint.Analytic { return endpoint.New(Definition()) }
