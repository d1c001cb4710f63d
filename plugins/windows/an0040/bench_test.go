package an0040

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// ingestBench replays data through a fresh AN0040 (readers, normalizer,
// process table, correlator; no gRPC) per iteration and reports MB/s and
// events/s. Run with -cpu 1 for one core.
func ingestBench(b *testing.B, data []byte) {
	b.Helper()
	ctx := context.Background()
	var events uint64
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a := New()
		if _, err := a.Configure(ctx, sdk.ConfigureRequest{Mode: sdk.ModeReplay, HostIdentifier: "bench"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		st, err := a.Ingest(ctx, "bench", "", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		events = st.Events
		b.StopTimer()
		a.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplayEVTX: the corpus's real EVTX files through the whole analytic.
func BenchmarkReplayEVTX(b *testing.B) {
	root := corpusDir(b)
	for _, name := range []string{"evtx-rs-samples/security.evtx", "evtx-attack-samples/LM_5145_Remote_FileCopy.evtx", "evtx-rs-samples/sample-with-irregular-bool-values.evtx"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(name), func(b *testing.B) { ingestBench(b, data) })
	}
}

// BenchmarkReplayJSON: a large Winlogbeat file generated here (not
// committed): a busy workstation's day of Sysmon 1 and 11, a process
// creation and nine file creations in turn, one in fifty into %TEMP% and
// one in five hundred a 7z over it, as in the stories.
func BenchmarkReplayJSON(b *testing.B) {
	data := busyDay(200_000)
	b.Run(fmt.Sprintf("winlogbeat-%dk-events", 200), func(b *testing.B) { ingestBench(b, data) })
}

func busyDay(n int) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	const base = int64(1717405200) // 2024-06-03T09:00:00Z
	guid := func(i int) string { return fmt.Sprintf("{5E0F0000-%04X-6650-0000-0010%08X}", i%0xFFFF, i) }
	for i := 0; i < n; i++ {
		sec := base + int64(i/20)
		ts := fmt.Sprintf("%s.%03dZ", unixUTC(sec), i%1000)
		utc := ts[:10] + " " + ts[11:23]
		proc := i / 10
		var id int
		var data map[string]string
		switch {
		case i%10 == 0:
			id = 1
			image, cmd := `C:\Windows\System32\svchost.exe`, `C:\Windows\system32\svchost.exe -k netsvcs -p`
			if proc%50 == 49 {
				image = `C:\Program Files\7-Zip\7z.exe`
				cmd = fmt.Sprintf(`7z a -pX C:\Users\bob\AppData\Local\Temp\s%d.7z C:\Users\bob\AppData\Local\Temp\s%d`, proc-1, proc-1)
			}
			data = map[string]string{"UtcTime": utc, "ProcessGuid": guid(proc), "ProcessId": fmt.Sprint(1000 + proc%30000),
				"Image": image, "CommandLine": cmd, "CurrentDirectory": `C:\Users\bob\`, "User": `CORP\bob`, "LogonId": "0x5a1f0",
				"TerminalSessionId": "1", "IntegrityLevel": "Medium", "ParentProcessGuid": guid(0), "ParentProcessId": "700",
				"ParentImage": `C:\Windows\explorer.exe`, "OriginalFileName": "-"}
		default:
			id = 11
			path := fmt.Sprintf(`C:\Users\bob\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\f_%06x`, i%5000)
			if proc%50 == 48 {
				path = fmt.Sprintf(`C:\Users\bob\AppData\Local\Temp\s%d\doc%d.docx`, proc, i%10)
			}
			data = map[string]string{"UtcTime": utc, "ProcessGuid": guid(proc), "ProcessId": fmt.Sprint(1000 + proc%30000),
				"Image": `C:\Windows\System32\svchost.exe`, "TargetFilename": path, "CreationUtcTime": utc, "User": `CORP\bob`}
		}
		enc.Encode(map[string]any{"@timestamp": ts, "winlog": map[string]any{"channel": "Microsoft-Windows-Sysmon/Operational",
			"event_id": fmt.Sprint(id), "provider_name": "Microsoft-Windows-Sysmon", "computer_name": "WS07.corp.example",
			"record_id": i + 1, "event_data": data}})
	}
	return buf.Bytes()
}

func unixUTC(sec int64) string { return time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05") }
