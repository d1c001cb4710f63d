package an0044

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/correlate"
	"github.com/stagewatch/stagewatch/plugins/esxi/esxilog"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// BenchmarkSyslogParseCorrelate: syslog lines per second per core
// through parse and correlate, a mix as a busy host sends it (most hostd
// lines are not staging; one in ten is a task, a shell command or a
// login).
func BenchmarkSyslogParseCorrelate(b *testing.B) {
	st, _ := decode(nil, false)
	c := correlate.New(st.corr)
	p := esxilog.NewParser("")
	t0 := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	var lines [][]byte
	const n = 200000
	for i := range n {
		ts := t0.Add(time.Duration(i) * 100 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		var l string
		switch i % 10 {
		case 0:
			l = fmt.Sprintf(`<166>1 %s esx%02d Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="lro-%d" user="vpxuser"] Task Created : haTask-%d-vim.VirtualMachine.createSnapshot-%d`, ts, i%7, i, i%5000, i)
		case 1:
			l = fmt.Sprintf(`<86>1 %s esx%02d shell 2101234 - - [root]: esxcli network ip interface list`, ts, i%7)
		case 2:
			l = fmt.Sprintf(`<38>%s esx%02d sshd[2101000]: Accepted password for root from 10.0.0.%d port 53211 ssh2`, ts, i%7, i%250)
		default:
			l = fmt.Sprintf(`<166>1 %s esx%02d Hostd 2099570 - [Originator@6876 sub="Vimsvc.ha-eventmgr" opID="op-%d"] Event %d : Powered on virtual machine on host`, ts, i%7, i, i)
		}
		lines = append(lines, []byte(l))
	}
	emit := func(e activity.Event) { c.Add(&e) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%n == 0 {
			// Past the lines made: start a new day so time moves on.
			p, c = esxilog.NewParser(""), correlate.New(st.corr)
		}
		p.Line(lines[i%n], time.Time{}, emit)
	}
	p.Flush(emit)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReplay: bytes per second of a saved hostd log through Ingest.
func BenchmarkReplay(b *testing.B) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	for i := range 20000 {
		ts := t0.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(&buf, "%s info hostd[2099570] [Originator@6876 sub=Vimsvc.ha-eventmgr opID=op-%d] Event %d : Powered on virtual machine\n", ts, i, i)
	}
	b.SetBytes(int64(buf.Len()))
	for range b.N {
		a := New()
		a.Configure(context.Background(), sdkReplay())
		a.Ingest(context.Background(), "x", "", bytes.NewReader(buf.Bytes()))
	}
}

func sdkReplay() sdk.ConfigureRequest { return sdk.ConfigureRequest{Mode: sdk.ModeReplay} }
