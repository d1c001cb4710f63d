// Package activity is AN0044's event model: one normalized ESXi or
// vSphere action (a snapshot taken, a disk cloned, a file copied onto a
// datastore, a shell or SSH login), whatever reported it: the vSphere
// API's tasks and events, hostd, shell.log, auth.log or vmkernel lines.
// The log parser (plugins/esxi/esxilog) and the vSphere collector
// (plugins/esxi/vsphere) produce these; the correlator consumes them.
package activity

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Action is what an event did, as staging_esxi_events' action column says.
type Action string

// Actions.
const (
	SnapshotCreate Action = "snapshot_create"
	SnapshotRemove Action = "snapshot_remove"
	SnapshotRevert Action = "snapshot_revert"
	DiskCopy       Action = "disk_copy"     // vmkfstools -i, CopyVirtualDisk_Task, cp of a .vmdk
	DiskCreate     Action = "disk_create"   // vmkfstools -c, CreateVirtualDisk_Task: room made on a datastore
	FileCopy       Action = "file_copy"     // CopyDatastoreFile_Task, cp/dd/tar onto /vmfs/volumes
	FileMove       Action = "file_move"     // MoveDatastoreFile_Task, mv on a datastore
	FileUpload     Action = "file_upload"   // datastore browser or /folder HTTP PUT, scp -t
	FileDownload   Action = "file_download" // datastore browser or /folder HTTP GET, scp -f
	VMClone        Action = "vm_clone"      // CloneVM_Task
	VMExport       Action = "vm_export"     // ExportVm (OVF/NFC lease)
	VMMigrate      Action = "vm_migrate"    // vMotion, Storage vMotion
	Login          Action = "login"         // API, SSH or shell session opened
	Command        Action = "command"       // a shell or SSH command of no other action
	Other          Action = "other"         // read and kept for context
)

// Sources, as staging_esxi_events' source column says.
const (
	SourceAPI      = "api"      // vSphere API tasks and events
	SourceShell    = "shell"    // shell.log: the ESXi Shell (local or over SSH)
	SourceSSH      = "ssh"      // auth.log: sshd logins and non-interactive commands
	SourceHostd    = "hostd"    // hostd.log
	SourceVmkernel = "vmkernel" // vmkernel.log
	SourceSyslog   = "syslog"   // another program's syslog line
	// SourceInventory: a snapshot or disk file the vSphere inventory
	// read found that no task or event reported.
	SourceInventory = "inventory"
)

// Event is one normalized action.
type Event struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host,omitempty"` // ESXi host or vCenter that reported it
	VM        string    `json:"vm,omitempty"`   // VM name, or the host's vmid (vim-cmd, haTask)
	Datastore string    `json:"datastore,omitempty"`
	Path      string    `json:"path,omitempty"` // file acted on ([ds] dir/f.vmdk or /vmfs/volumes/…)
	Dest      string    `json:"dest,omitempty"` // where a copy or move went
	User      string    `json:"user,omitempty"`
	Source    string    `json:"source"`
	Action    Action    `json:"action"`
	TaskID    string    `json:"task_id,omitempty"`
	OpID      string    `json:"op_id,omitempty"`
	// Tool is the CLI program behind the action (vim-cmd, vmkfstools,
	// cp, esxcli), empty for API calls and hostd's own work.
	Tool      string   `json:"tool,omitempty"`
	UserAgent string   `json:"user_agent,omitempty"`
	Peer      string   `json:"peer,omitempty"` // client address (SSH, API)
	Snapshot  string   `json:"snapshot,omitempty"`
	Folder    string   `json:"folder,omitempty"` // VM's inventory folder path, when the API said
	Tags      []string `json:"tags,omitempty"`   // VM's tags (category:name), when the API said
	Failed    bool     `json:"failed,omitempty"`
	Details   string   `json:"details,omitempty"` // the command line, task or message
	// Key identifies the event for dedupe across polls, reconnects and
	// restarts: a task key, an event key, or a hash of the log line.
	Key string `json:"key"`
}

// Staging reports whether the action gathers or copies VM data: the
// actions AN0044's rules weigh.
func (a Action) Staging() bool {
	switch a {
	case SnapshotCreate, DiskCopy, DiskCreate, FileCopy, FileUpload, FileDownload, VMClone, VMExport:
		return true
	}
	return false
}

// CopyLike reports whether the action moves VM data to another file.
func (a Action) CopyLike() bool {
	switch a {
	case DiskCopy, FileCopy, FileDownload, FileUpload, VMClone, VMExport:
		return true
	}
	return false
}

// LineKey is the dedupe key of an event read from a log line: the same
// line read twice (a resent syslog message, a replay) is one event.
func LineKey(host, line string) string {
	sum := sha256.Sum256([]byte(host + "\x00" + line))
	return "l:" + hex.EncodeToString(sum[:12])
}

// VMDiskFile reports whether a path is a VM's disk, memory or snapshot
// state file: copies of these copy the VM's data.
func VMDiskFile(path string) bool {
	p := strings.ToLower(strings.TrimRight(path, "\"' "))
	for _, ext := range []string{".vmdk", ".vmsn", ".vmem", ".vmss", ".vswp", ".nvram", ".vmsd"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// OnDatastore reports whether a path is on a datastore: /vmfs/volumes/…
// or the API's "[datastore] path".
func OnDatastore(path string) bool {
	return strings.HasPrefix(path, "/vmfs/volumes/") || strings.HasPrefix(path, "[")
}

// DatastoreOf names the datastore of a path: "[ds1] x" is ds1, and
// /vmfs/volumes/ds1/x is ds1 (a name or a volume UUID).
func DatastoreOf(path string) string {
	if rest, ok := strings.CutPrefix(path, "["); ok {
		ds, _, _ := strings.Cut(rest, "]")
		return ds
	}
	if rest, ok := strings.CutPrefix(path, "/vmfs/volumes/"); ok {
		ds, _, _ := strings.Cut(rest, "/")
		return ds
	}
	return ""
}
