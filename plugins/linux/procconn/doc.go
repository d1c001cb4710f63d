// Package procconn is stagewatch's fallback exec collector on the Linux
// kernel proc connector (NETLINK_CONNECTOR, PROC_EVENT_EXEC/FORK/EXIT). The
// kernel only says which pid exec'd; argv, cwd, exe and ids are read from
// /proc afterwards, so a process that has already exited is reported
// without them (counted in Stats.Vanished). It serves when the audit
// subsystem is unavailable and as the comparison point for the audit
// collector. Linux only; this file lets the package build on every GOOS.
package procconn
