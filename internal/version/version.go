// Package version holds the stagewatch release version, set at link time by
// the Makefile (-X github.com/stagewatch/stagewatch/internal/version.Version).
package version

// Version is the release version of stagewatchd, the extension and the plugins.
var Version = "0.1.0-dev"
