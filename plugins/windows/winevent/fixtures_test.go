package winevent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
)

// sniff picks the format the way replay does: the first whose Sniff
// matches the head.
func sniff(t testing.TB, data []byte) endpoint.Format {
	t.Helper()
	head := data[:min(len(data), 4096)]
	for _, f := range Formats() {
		if f.Sniff(head) {
			return f
		}
	}
	t.Fatalf("no format recognises %q", head[:min(len(head), 40)])
	return endpoint.Format{}
}

func summary(ev *event.Event) string {
	p := &ev.Process
	return fmt.Sprintf("%s %s %s path=%q user=%q ses=%s elev=%v inter=%v pid=%d ppid=%d exe=%q argv=%q cwd=%q parent=%q guid=%s pguid=%s remote=%s host=%s",
		ev.Time.Format(time.RFC3339Nano), ev.Kind, ev.Source, ev.Path, ev.Actor.User, ev.Actor.Session, ev.Actor.Elevated, ev.Actor.Interactive,
		p.PID, p.PPID, p.Exe, p.Argv, p.Cwd, p.Parent, p.GUID, p.ParentGUID, ev.RemoteAddr, ev.Host)
}

// fixtureWant is the scenario of testdata/gen_fixtures.py as the event
// model holds it, whatever shape it was kept in.
var fixtureWant = []string{
	`2024-05-01T10:00:04.9Z exec sysmon path="" user="CORP\\alice" ses=0x3e7a1 elev=true inter=true pid=6120 ppid=5012 exe="C:\\Windows\\System32\\Robocopy.exe" argv=["robocopy.exe" "C:\\Users\\alice\\Documents\\Q3 Reports" "C:\\Users\\Public\\stage" "/E"] cwd="C:\\Users\\alice\\" parent="C:\\Windows\\System32\\cmd.exe" guid=7a1c2b3d-2222-6650-0000-0010a1b2c3d4 pguid=7a1c2b3d-1111-6650-0000-0010a1b2c3d4 remote= host=WS01.corp.example`,
	`2024-05-01T10:00:05.201Z create sysmon path="C:\\Users\\Public\\stage\\q3 & q4.docx" user="CORP\\alice" ses=0x3e7a1 elev=true inter=true pid=6120 ppid=0 exe="C:\\Windows\\System32\\Robocopy.exe" argv=[] cwd="" parent="" guid=7a1c2b3d-2222-6650-0000-0010a1b2c3d4 pguid= remote= host=WS01.corp.example`,
	`2024-05-01T10:00:05.5Z write sysmon path="C:\\Users\\Public\\stage\\q3 & q4.docx" user="CORP\\alice" ses=0x3e7a1 elev=true inter=true pid=6120 ppid=0 exe="C:\\Windows\\System32\\Robocopy.exe" argv=[] cwd="" parent="" guid=7a1c2b3d-2222-6650-0000-0010a1b2c3d4 pguid= remote= host=WS01.corp.example`,
	`2024-05-01T10:00:06.5Z exec security path="" user="CORP\\alice" ses=0x3e7a1 elev=true inter=true pid=6700 ppid=5012 exe="C:\\Program Files\\7-Zip\\7z.exe" argv=["C:\\Program Files\\7-Zip\\7z.exe" "a" "-p" "C:\\Users\\Public\\q3.7z" "C:\\Users\\Public\\stage\\*"] cwd="" parent="C:\\Windows\\System32\\cmd.exe" guid= pguid= remote= host=WS01.corp.example`,
	`2024-05-01T10:00:07Z write security path="C:\\Users\\Public\\x.docx" user="CORP\\alice" ses=0x9c1f2 elev=false inter=false pid=0 ppid=0 exe="" argv=[] cwd="" parent="" guid= pguid= remote=10.0.0.7 host=WS01.corp.example`,
	`2024-05-01T10:00:09Z delete sysmon path="C:\\Users\\Public\\stage\\q3 & q4.docx" user="CORP\\alice" ses= elev=false inter=false pid=5012 ppid=0 exe="C:\\Windows\\System32\\cmd.exe" argv=[] cwd="" parent="" guid=7a1c2b3d-1111-6650-0000-0010a1b2c3d4 pguid= remote= host=WS01.corp.example`,
}

// TestFixtures: each shape of the same events, channels interleaved and
// out of order, recognised by content, yields the same events.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"wevtutil.xml", "events-per-line.xml", "winlogbeat.jsonl", "flat-export.jsonl", "evtxecmd.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("..", "testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			f := sniff(t, data)
			var got []string
			ds, err := f.Decode(context.Background(), strings.NewReader(string(data)), func(ev *event.Event) { got = append(got, summary(ev)) })
			if err != nil || ds.ParseErrors != 0 || ds.Records != 7 {
				t.Fatalf("%s (%s): %+v, %v", name, f.Name, ds, err)
			}
			slices.Sort(got)
			if !reflect.DeepEqual(got, fixtureWant) {
				t.Errorf("%s (%s):\n got %s\nwant %s", name, f.Name, strings.Join(got, "\n     "), strings.Join(fixtureWant, "\n     "))
			}
		})
	}
}
