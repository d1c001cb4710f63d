//go:build !linux

package main

// needLiveCollectionPrivileges leaves the check to the plugins elsewhere:
// what they need (Administrator for ETW and Sysmon logs, Full Disk Access
// for eslogger) is not a capability this process can inspect.
func needLiveCollectionPrivileges() error { return nil }
