// Package schema holds the definitions of stagewatch's shared tables. The
// plugins, the host, the osquery extension and docs/tables.md all read these
// definitions, so a column exists in exactly one place.
package schema

import "github.com/stagewatch/stagewatch/plugins/sdk"

// Table names and the ATT&CK ids every analytic reports (contract), each
// defined here only.
const (
	Detections       = "staging_detections"
	FileEvents       = "staging_file_events"
	ProcessEvents    = "staging_process_events"
	Analytics        = "staging_analytics"
	DetectionID      = "DET0014"
	TechniqueLocal   = "T1074.001"
	TechniqueRemote  = "T1074.002"
	TechniqueStaging = "T1074"
)

func text(name, desc string) sdk.ColumnSpec {
	return sdk.ColumnSpec{Name: name, Type: sdk.ColumnText, Description: desc}
}

func bigint(name, desc string) sdk.ColumnSpec {
	return sdk.ColumnSpec{Name: name, Type: sdk.ColumnBigInt, Description: desc}
}

func integer(name, desc string) sdk.ColumnSpec {
	return sdk.ColumnSpec{Name: name, Type: sdk.ColumnInteger, Description: desc}
}

// DetectionsTable is staging_detections: one row per detection.
var DetectionsTable = sdk.TableSpec{
	Name:        Detections,
	Description: "Data staging detections (DET0014): files gathered into a staging location, then archived or compressed, within the analytic's TimeWindow.",
	Columns: []sdk.ColumnSpec{
		bigint("time", "When the detection was raised (the archive step), unix seconds"),
		text("detection_id", "ATT&CK detection strategy, DET0014"),
		text("analytic_id", "Analytic that raised it: AN0040 Windows, AN0041 Linux, AN0042 macOS, AN0043 AWS, AN0044 ESXi"),
		text("technique_id", "T1074.001 (local data staging) or T1074.002 (remote data staging)"),
		text("platform", "Platform of the analytic: windows, linux, darwin, aws, esxi"),
		text("host", "Host, account or vCenter the activity was seen on"),
		text("actor", "Who staged the data: user, login user and session or tty"),
		text("process", "The archiving or staging process, with its arguments"),
		text("staging_path", "The staging location the files were gathered in"),
		text("archive_path", "The archive written, when known"),
		bigint("file_count", "Files staged in the location before the archive step"),
		bigint("bytes", "Bytes staged, when known"),
		bigint("first_seen", "First staging event in the window, unix seconds"),
		bigint("last_seen", "Last event in the window (the archive step), unix seconds"),
		text("severity", "low, medium or high"),
		integer("score", "0-100, rising with file count, bytes, sensitive file types, encryption and elevated or interactive context"),
		text("reason", "One sentence an analyst can act on"),
		text("evidence", "JSON array of the events behind the detection"),
		text("uid", "Stable identifier of the detection"),
		text("techniques", "JSON array of the ATT&CK techniques the evidence shows, technique_id first: T1560.001 archive via utility, T1560.002 via library, T1119 automated collection, T1005 local data, T1039 network shared drive, T1530/T1537/T1578 (cloud)"),
	},
}

// FileEventsTable is staging_file_events.
var FileEventsTable = sdk.TableSpec{
	Name:        FileEvents,
	Description: "Files created, moved in or written in staging locations, as the analytics saw them.",
	Columns: []sdk.ColumnSpec{
		bigint("time", "Event time, unix seconds"),
		bigint("time_ns", "Nanoseconds within the second"),
		text("analytic_id", "Analytic that collected the event"),
		text("platform", "windows, linux, darwin, aws, esxi"),
		text("host", "Host the event was seen on"),
		text("action", "create, write (closed after writing), move_in, delete, copy"),
		text("path", "The file's path"),
		text("staging_path", "The configured staging location the path falls under"),
		bigint("size", "File size in bytes when known, else -1"),
		bigint("pid", "Process that wrote the file (-1 when unknown)"),
		text("process", "Executable of that process, when known"),
		text("actor", "User (and session or tty) of that process, when known"),
		text("source", "Sensor or log that reported it: fanotify, audit, sysmon, eslogger, cloudtrail, …"),
		text("guid", "Writer's process GUID where the platform gives one (Windows), or empty"),
		text("remote_addr", "Network peer that wrote the file over a share (Windows 5145), or empty"),
	},
}

// ProcessEventsTable is staging_process_events.
var ProcessEventsTable = sdk.TableSpec{
	Name:        ProcessEvents,
	Description: "Executions of archivers, copy tools and scripts of interest to data staging.",
	Columns: []sdk.ColumnSpec{
		bigint("time", "Exec time, unix seconds"),
		bigint("time_ns", "Nanoseconds within the second"),
		text("analytic_id", "Analytic that collected the event"),
		text("platform", "windows, linux, darwin, aws, esxi"),
		text("host", "Host the event was seen on"),
		bigint("pid", "Process id"),
		bigint("ppid", "Parent process id"),
		text("path", "Executable path"),
		text("cmdline", "Full command line, arguments space-joined (arguments with spaces quoted)"),
		text("cwd", "Working directory"),
		bigint("uid", "Real user id (-1 when unknown)"),
		bigint("euid", "Effective user id (-1 when unknown)"),
		bigint("auid", "Login (audit) user id (-1 when unset)"),
		text("user", "User name when known"),
		text("tty", "Controlling terminal, or empty"),
		text("session", "Login session id, or empty"),
		text("parent", "Parent executable"),
		text("ancestry", "Parent chain, nearest first, as a JSON array of executables"),
		text("category", "archiver, extractor, copy, script or other"),
		text("source", "Sensor or log that reported it"),
		text("guid", "Process GUID where the platform gives one (Windows: Sysmon's ProcessGuid), or empty"),
		text("parent_guid", "Parent's process GUID, or empty"),
		text("original_name", "Name the executable was built with (Windows: OriginalFileName), or empty"),
		bigint("elevated", "1 when the process ran with rights its login does not have (root, High or System integrity), else 0"),
		text("signing_id", "Code signing identifier (macOS), or empty"),
		text("team_id", "Code signing team (macOS), or empty"),
		bigint("platform_binary", "1 for an Apple platform binary (macOS), else 0"),
		bigint("responsible_pid", "Pid macOS holds responsible for the process (-1 when unknown)"),
	},
}

// AnalyticsTable is staging_analytics, served by the host itself.
var AnalyticsTable = sdk.TableSpec{
	Name:        Analytics,
	Description: "The analytics loaded, their versions, mutable elements in effect, health and counters.",
	Columns: []sdk.ColumnSpec{
		text("analytic_id", "AN0040…AN0044"),
		text("detection_id", "DET0014"),
		text("technique_id", "Main technique the analytic detects"),
		text("platform", "Platform the analytic covers"),
		text("name", "What the analytic detects"),
		text("version", "Plugin version"),
		text("plugin", "Plugin binary path"),
		text("sha256", "SHA-256 of the plugin binary"),
		text("state", "configured, running, degraded, failed, restarting"),
		text("message", "Why the state is what it is"),
		text("mode", "live, replay or query"),
		text("config", "Mutable elements in effect, JSON"),
		bigint("started", "When the plugin (last) started, unix seconds"),
		bigint("restarts", "Times the host restarted the plugin"),
		bigint("events_seen", "Events the analytic collected"),
		bigint("events_dropped", "Events lost or dropped (kernel queue overflow, caps)"),
		bigint("parse_errors", "Malformed records skipped"),
		bigint("detections", "Detections raised"),
		bigint("collector_errors", "Collector failures"),
		text("counters", "Per-collector detail counters, JSON"),
	},
}
