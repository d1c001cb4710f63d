//go:build darwin

package esclient

// Path is Apple's eslogger (macOS 13 and later). It needs root and Full
// Disk Access for the process that starts it (docs/macos.md).
const Path = "/usr/bin/eslogger"
