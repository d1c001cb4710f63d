//go:build !windows

package config

// Where stagewatch keeps its files on Linux and macOS.
const (
	DefaultPath     = "/etc/stagewatch/stagewatch.yaml"
	DefaultSocket   = "/var/run/stagewatch/stagewatchd.sock"
	DefaultStateDir = "/var/lib/stagewatch"
)
