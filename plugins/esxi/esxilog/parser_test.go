package esxilog

import (
	"bytes"
	"compress/gzip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

func parseAll(t *testing.T, host string, lines ...string) ([]activity.Event, Stats) {
	t.Helper()
	var out []activity.Event
	st, err := Decode(strings.NewReader(strings.Join(lines, "\n")+"\n"), host, func(b []activity.Event) { out = append(out, b...) })
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// TestLayouts: the same actions as ESXi 6.5, 7 and 8 write them, bare and
// in syslog envelopes, read into the same events.
func TestLayouts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line                       string
		action                           activity.Action
		source, host, vm, user, op, tool string
	}{
		{"hostd 7 file", "2021-03-10T14:45:33.123Z info hostd[2099570] [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-47-7e2f user=root] Task Created : haTask-1-vim.VirtualMachine.createSnapshot-123456",
			activity.SnapshotCreate, "hostd", "", "1", "root", "vim-cmd-47-7e2f", "vim-cmd"},
		{"hostd 6.5 hex thread", "2018-04-02T10:21:30.481Z info hostd[3B180B70] [Originator@6876 sub=Vimsvc.TaskManager opID=5a2c1f3e-01-7e user=vpxuser] Task Created : haTask-12-vim.VirtualMachine.createSnapshot-245",
			activity.SnapshotCreate, "hostd", "", "12", "vpxuser", "5a2c1f3e-01-7e", ""},
		{"hostd 8 file", "2023-05-10T12:00:01.234Z In(166) Hostd[2099570]: [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-9a-11 user=root] Task Created : haTask--vim.VirtualDiskManager.copyVirtualDisk-88",
			activity.DiskCopy, "hostd", "", "", "root", "vim-cmd-9a-11", "vim-cmd"},
		{"hostd 5424 structured data", `<166>1 2023-05-10T12:00:01.234Z esx02.lab Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="vim-cmd-9a-12" user="root"] Task Created : haTask-3-vim.VirtualMachine.createSnapshot-89`,
			activity.SnapshotCreate, "hostd", "esx02.lab", "3", "root", "vim-cmd-9a-12", "vim-cmd"},
		{"hostd 3164 ISO", "<166>2021-03-10T14:45:33.123Z esx01.lab Hostd[2099570]: [Originator@6876 sub=Vimsvc.TaskManager opID=abc user=vpxuser] Task Created : haTask-4-vim.VirtualMachine.removeAllSnapshots-7",
			activity.SnapshotRemove, "hostd", "esx01.lab", "4", "vpxuser", "abc", ""},
		{"PRI out of range", "<999>2021-03-10T14:45:33.123Z esx01.lab Hostd[2099570]: [Originator@6876 sub=Vimsvc.TaskManager opID=abc user=vpxuser] Task Created : haTask-4-vim.VirtualMachine.createSnapshot-8",
			activity.SnapshotCreate, "hostd", "esx01.lab", "4", "vpxuser", "abc", ""},
		{"shell 7", "2021-03-10T14:45:30.000Z shell[2101234]: [root]: vim-cmd vmsvc/snapshot.create 1 snap1",
			activity.SnapshotCreate, "shell", "", "1", "root", "", "vim-cmd"},
		{"shell 8", "2023-05-10T12:00:00.000Z In(14) shell[2101234]: [root]: vmkfstools -i /vmfs/volumes/ds1/db01/db01.vmdk -d thin /vmfs/volumes/ds2/x/db01.vmdk",
			activity.DiskCopy, "shell", "", "", "root", "", "vmkfstools"},
		{"shell BSD syslog", "<13>Mar 10 14:45:33 esx01 shell[2101234]: [root]: cp /vmfs/volumes/ds1/db01/db01-flat.vmdk /vmfs/volumes/nfs-share/",
			activity.DiskCopy, "shell", "esx01", "", "root", "", "cp"},
		{"ssh command", "2021-03-10T14:40:01Z sshd[2101000]: User 'root' running command 'vim-cmd vmsvc/snapshot.create 7 x'",
			activity.SnapshotCreate, "ssh", "", "7", "root", "", "vim-cmd"},
		{"ssh 8 login", "2023-05-10T11:59:00.000Z In(38) sshd[2101000]: Accepted password for root from 10.0.0.5 port 53211 ssh2",
			activity.Login, "ssh", "", "", "root", "", ""},
		{"hostd API login", "2021-03-10T14:44:00.100Z info hostd[2099571] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 112 : User root@10.0.0.9 logged in as pyvmomi Python/3.8.10 (Linux; 5.4.0; x86_64)",
			activity.Login, "hostd", "", "", "root", "", ""},
		{"relay file with host", "2021-03-10T14:45:33.123+00:00 esx01.lab shell[1]: [root]: tar czf /vmfs/volumes/ds1/.x/db.tgz /vmfs/volumes/ds1/db01",
			activity.FileCopy, "shell", "esx01.lab", "", "root", "", "tar"},
	} {
		evs, st := parseAll(t, "", tc.line)
		if len(evs) != 1 || st.ParseErrors != 0 {
			t.Errorf("%s: %d events %+v", tc.name, len(evs), st)
			continue
		}
		e := evs[0]
		if e.Action != tc.action || e.Source != tc.source || e.Host != tc.host || e.VM != tc.vm || e.User != tc.user || e.OpID != tc.op || e.Tool != tc.tool || e.Time.IsZero() || e.Key == "" {
			t.Errorf("%s: %+v", tc.name, e)
		}
		if strings.HasPrefix(tc.line, "<999>") && st.BadPRI != 1 {
			t.Errorf("%s: bad PRI not counted", tc.name)
		}
	}
}

func TestContinuationsJoin(t *testing.T) {
	t.Parallel()
	evs, st := parseAll(t, "esx65",
		"2018-04-02T10:21:30.481Z info hostd[3B180B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 7 : File download from path '[datastore1] db01/db01-flat.vmdk' was initiated from 'root@10.9.9.9'",
		"--> and completed with status 'Success'",
		"2018-04-02T10:21:31.000Z info hostd[3B180B70] [Originator@6876 sub=Default] unrelated")
	if len(evs) != 1 || st.Continuations != 1 || evs[0].Action != activity.FileDownload || evs[0].Peer != "10.9.9.9" || evs[0].Host != "esx65" || !strings.Contains(evs[0].Details, "Success") {
		t.Fatalf("%+v %+v", evs, st)
	}
}

func TestBSDYear(t *testing.T) {
	t.Parallel()
	ref := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	got, _, ok := leadingTime("Dec 31 23:59:59 x", ref)
	if !ok || got.Year() != 2025 {
		t.Errorf("%v", got)
	}
}

func TestOversizedAndMalformed(t *testing.T) {
	t.Parallel()
	big := "2021-03-10T14:45:30.000Z shell[1]: [root]: " + strings.Repeat("x", MaxLine+10)
	evs, st := parseAll(t, "", "garbage without a time", big, "2021-03-10T14:45:30.000Z shell[1]: [root]: vim-cmd vmsvc/snapshot.create 2")
	if len(evs) != 1 || st.Oversized != 1 || st.ParseErrors != 1 || st.FirstError == "" {
		t.Fatalf("%d %+v", len(evs), st)
	}
}

func TestGzipAndOctetCounted(t *testing.T) {
	t.Parallel()
	m1 := `<166>1 2023-05-10T12:00:01.234Z esx02 Hostd 1 - [Originator@6876 sub="Vimsvc.TaskManager" opID="o1" user="svc"] Task Created : haTask-3-vim.VirtualMachine.createSnapshot-1`
	m2 := `<13>1 2023-05-10T12:00:02Z esx02 shell 9 - - [root]: vim-cmd vmsvc/snapshot.create 3`
	stream := []byte(strings.Join([]string{strconv.Itoa(len(m1)) + " " + m1, strconv.Itoa(len(m2)) + " " + m2}, ""))
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(stream)
	w.Close()
	var evs []activity.Event
	st, err := Decode(&gz, "", func(b []activity.Event) { evs = append(evs, b...) })
	if err != nil || len(evs) != 2 || st.Lines != 2 || evs[1].Source != "shell" || evs[0].User != "svc" {
		t.Fatalf("%v %+v %+v", err, st, evs)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line   string
		action activity.Action
		path   string
		dest   string
	}{
		{"vmkfstools -i /vmfs/volumes/ds1/a/a.vmdk /vmfs/volumes/ds2/b.vmdk -d thin", activity.DiskCopy, "/vmfs/volumes/ds1/a/a.vmdk", "/vmfs/volumes/ds2/b.vmdk"},
		{"vmkfstools -c 500G -d thin /vmfs/volumes/ds1/stage/big.vmdk", activity.DiskCreate, "/vmfs/volumes/ds1/stage/big.vmdk", ""},
		{"sh -c 'cd /tmp; cp /vmfs/volumes/ds1/a/a-flat.vmdk /vmfs/volumes/ds2/'", activity.DiskCopy, "/vmfs/volumes/ds1/a/a-flat.vmdk", "/vmfs/volumes/ds2/"},
		{"scp -t /vmfs/volumes/datastore1/", activity.FileUpload, "", "/vmfs/volumes/datastore1/"},
		{"scp -f /vmfs/volumes/ds1/db/db-flat.vmdk", activity.FileDownload, "/vmfs/volumes/ds1/db/db-flat.vmdk", ""},
		{"dd if=/dev/zero of=/vmfs/volumes/ds1/x bs=1M", activity.FileCopy, "/dev/zero", "/vmfs/volumes/ds1/x"},
		{"mv /vmfs/volumes/ds1/a.vmdk /vmfs/volumes/ds1/b.vmdk", activity.FileMove, "/vmfs/volumes/ds1/a.vmdk", "/vmfs/volumes/ds1/b.vmdk"},
		{"esxcli software vib update -d /vmfs/volumes/ds1/depot.zip", activity.Command, "", ""},
	} {
		evs := Command(tc.line)
		if len(evs) != 1 || evs[0].Action != tc.action || evs[0].Path != tc.path || evs[0].Dest != tc.dest {
			t.Errorf("%q: %+v", tc.line, evs)
		}
	}
}
