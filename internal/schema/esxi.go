package schema

import "github.com/stagewatch/stagewatch/plugins/sdk"

// ESXiEvents is the table of the ESXi analytic's normalized actions.
const ESXiEvents = "staging_esxi_events"

// ESXiEventsTable is staging_esxi_events: snapshot, disk, datastore file
// and login actions an analytic read from the vSphere API or ESXi logs.
var ESXiEventsTable = sdk.TableSpec{
	Name:        ESXiEvents,
	Description: "ESXi and vSphere actions of interest to data staging (snapshots, disk clones and copies, datastore file transfers, VM clones and exports, shell and SSH logins and commands), from the vSphere API and ESXi logs, normalized.",
	Columns: []sdk.ColumnSpec{
		bigint("time", "When the action happened (task queue time, event time or log time), unix seconds"),
		text("analytic_id", "Analytic that collected the event (AN0044)"),
		text("platform", "esxi"),
		text("host", "ESXi host or vCenter that reported it (the syslog sender, the API endpoint)"),
		text("vm", "VM name (API), or the host's vmid (vim-cmd, hostd haTask), or empty"),
		text("datastore", "Datastore acted on or written, or empty"),
		text("path", "File acted on ([datastore] dir/file.vmdk or /vmfs/volumes/…), or empty"),
		text("dest", "Where a copy, move or upload went, or empty"),
		text("user", "User who acted (vSphere user, hostd user=, shell or SSH login)"),
		text("source", "api, inventory (a snapshot or disk file the vSphere inventory read found and no task or event reported), shell, ssh (auth.log), hostd, vmkernel or syslog"),
		text("action", "snapshot_create, snapshot_remove, snapshot_revert, disk_copy, disk_create, file_copy, file_move, file_upload, file_download, vm_clone, vm_export, vm_migrate, login, command"),
		text("task_id", "vSphere task key (task-123, haTask-1-vim.VirtualMachine.createSnapshot-245), or empty"),
		text("op_id", "Operation id (hostd opID=, vim-cmd-…), or empty"),
		text("tool", "CLI program behind the action (vim-cmd, vmkfstools, cp, scp), or empty"),
		text("user_agent", "API client's user agent, when known"),
		text("peer", "Client address (SSH, API login, datastore browser), or empty"),
		bigint("failed", "1 when the task or transfer failed, else 0"),
		text("details", "The command line, task name or log message"),
		text("key", "Dedupe key: task or event key, or a hash of the log line"),
	},
}
