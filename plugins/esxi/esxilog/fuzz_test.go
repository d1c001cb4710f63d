package esxilog

import (
	"bytes"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// FuzzLine: no input panics the parser, and what it reports is bounded
// by what it read.
func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"2021-03-10T14:45:33.123Z info hostd[2099570] [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-47-7e2f user=root] Task Created : haTask-1-vim.VirtualMachine.createSnapshot-123456",
		`<166>1 2023-05-10T12:00:01.234Z esx02.lab Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="vim-cmd-9a-12" user="root"] Task Created : haTask-3-vim.VirtualMachine.createSnapshot-89`,
		"<13>Mar 10 14:45:33 esx01 shell[2101234]: [root]: sh -c 'cp /vmfs/volumes/a/a.vmdk /vmfs/volumes/b/; tar czf /vmfs/volumes/b/x.tgz y'",
		"2021-03-10T14:40:01Z sshd[2101000]: User 'root' running command 'scp -f /vmfs/volumes/ds1/db/db-flat.vmdk'",
		"--> continued",
		"2023-05-10T12:00:00.000Z In(182) vmkernel: cpu5:2099680)FS3: 123",
		"<99999>1 - - - - - [",
		"[Originator@6876 sub=\"x\\\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser("h")
		n := 0
		emit := func(e activity.Event) {
			n++
			if e.Key == "" || e.Action == "" {
				t.Fatalf("event without key or action: %+v", e)
			}
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			p.Line(line, time.Time{}, emit)
		}
		p.Flush(emit)
		if uint64(n) != p.Stats.Events {
			t.Fatalf("emitted %d, counted %d", n, p.Stats.Events)
		}
		_, _ = Decode(bytes.NewReader(data), "h", func([]activity.Event) {})
		_ = Command(string(data))
	})
}
