//go:build windows

package config

// Where stagewatch keeps its files on Windows: ProgramData, which only
// Administrators and SYSTEM may write below a directory they created. The
// control socket is an AF_UNIX socket (Windows 10 1803 and later).
const (
	DefaultPath     = `C:\ProgramData\stagewatch\stagewatch.yaml`
	DefaultSocket   = `C:\ProgramData\stagewatch\stagewatchd.sock`
	DefaultStateDir = `C:\ProgramData\stagewatch\state`
)
