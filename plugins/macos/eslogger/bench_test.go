package eslogger

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
)

// BenchmarkDecode and BenchmarkDecodeStdlib read the fixtures' lines with
// the scanner and with encoding/json into structs of the same members:
// the measurement that chose the scanner (docs/macos.md).
func BenchmarkDecode(b *testing.B) {
	lines := fixtureLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	var d Decoder
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkDecodeStdlib(b *testing.B) {
	lines := fixtureLines(b)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r reference
		if err := json.Unmarshal(lines[i%len(lines)], &r); err != nil {
			b.Fatal(err)
		}
		for k, v := range r.Event {
			var x refExec
			if k == "exec" {
				if err := json.Unmarshal(v, &x); err != nil {
					b.Fatal(err)
				}
			} else {
				var m map[string]json.RawMessage
				_ = json.Unmarshal(v, &m)
			}
			if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// stream is a Mac's Endpoint Security traffic as AN0042 subscribes to it:
// per job, a fork, an exec with a real environment, file writes in and
// out of the staging directories, a rename, an unlink and an exit. Each
// line starts with its time at a fixed place, which the benchmark moves
// forward.
func stream(jobs int) [][]byte {
	env := make([]string, 40)
	for i := range env {
		env[i] = fmt.Sprintf(`"VAR_%d=%s"`, i, strings.Repeat("x", 60))
	}
	envs := strings.Join(env, ",")
	proc := func(pid, pv int, exe string) string {
		return fmt.Sprintf(`{"audit_token":{"asid":100004,"auid":501,"egid":20,"euid":501,"pid":%d,"pidversion":%d,"rgid":20,"ruid":501},`+
			`"ppid":1200,"original_ppid":1200,"group_id":1200,"session_id":1200,"codesigning_flags":570522385,"is_platform_binary":true,`+
			`"is_es_client":false,"cdhash":"2ff7c0fcbbe8f88da415c4c839a44721de85eb90","signing_id":"com.apple.%s","team_id":null,`+
			`"executable":{"path":"%s","path_truncated":false,"stat":{"st_dev":16777233,"st_ino":1234567,"st_mode":33261,"st_size":150000,"st_blocks":293}},`+
			`"tty":{"path":"\/dev\/ttys001","path_truncated":false},"start_time":"2026-03-02T08:59:00.000000Z",`+
			`"responsible_audit_token":{"pid":611,"pidversion":77},"parent_audit_token":{"pid":1200,"pidversion":40017}}`, pid, pv, exe[strings.LastIndexByte(exe, '/')+1:], exe)
	}
	file := func(path string, size int) string {
		return fmt.Sprintf(`{"path":"%s","path_truncated":false,"stat":{"st_dev":16777233,"st_ino":7654321,"st_mode":33188,"st_nlink":1,"st_uid":501,"st_gid":20,"st_size":%d,"st_atimespec":"2026-03-02T08:00:00.000000000Z","st_mtimespec":"2026-03-02T08:00:00.000000000Z"}}`, path, size)
	}
	var out [][]byte
	seq := 0
	line := func(p, ev string) {
		seq++
		out = append(out, fmt.Appendf(nil, `{"time":"2026-03-02T09:00:00.000000000Z","schema_version":1,"version":7,"mach_time":1,"global_seq_num":%d,"seq_num":%d,"event_type":1,"action_type":1,"process":%s,"event":%s}`, seq, seq, p, ev))
	}
	for j := 0; j < jobs; j++ {
		pid := 2000 + j%5000
		shell, child := proc(1200, 40017, "/bin/zsh"), proc(pid, 50000+j, "/bin/zsh")
		line(shell, `{"fork":{"child":`+child+`}}`)
		exe := []string{"/bin/cp", "/usr/bin/git", "/usr/bin/zip", "/bin/ls"}[j%4]
		target := proc(pid, 60000+j, exe)
		line(child, fmt.Sprintf(`{"exec":{"target":%s,"args":["%s","-r","/Users/carol/Documents/p%d","\/private\/tmp\/job%d"],"env":[%s],"cwd":%s,"script":null,"dyld_exec_path":"%s","fds":[{"fd":0,"fdtype":1}],"last_fd":2,"image_cputype":16777228,"image_cpusubtype":2}}`,
			target, exe, j, j%50, envs, file("/Users/carol", 0), exe))
		for k := 0; k < 3; k++ {
			p := fmt.Sprintf("/private/tmp/job%d/f%d-%d.docx", j%50, j, k)
			line(target, fmt.Sprintf(`{"create":{"destination_type":1,"destination":{"new_path":{"dir":%s,"filename":"f%d-%d.docx","mode":420}}}}`,
				file(fmt.Sprintf("/private/tmp/job%d", j%50), 0), j, k))
			line(target, `{"close":{"modified":true,"target":`+file(p, 4096*(k+1))+`,"was_mapped_writable":false}}`)
		}
		line(target, `{"close":{"modified":true,"target":`+file(fmt.Sprintf("/Users/carol/src/o%d.o", j), 9000)+`}}`)
		line(target, fmt.Sprintf(`{"rename":{"source":%s,"destination_type":1,"destination":{"new_path":{"dir":%s,"filename":"r%d"}}}}`,
			file(fmt.Sprintf("/private/tmp/job%d/.r%d", j%50, j), 10), file(fmt.Sprintf("/private/tmp/job%d", j%50), 0), j))
		line(target, fmt.Sprintf(`{"unlink":{"target":%s,"parent_dir":%s}}`, file(fmt.Sprintf("/private/tmp/job%d/r%d", j%50, j), 10), file("/private/tmp", 0)))
		line(target, `{"exit":{"stat":0}}`)
	}
	return out
}

// stamp writes t into line's leading "time" member.
func stamp(line []byte, t time.Time) {
	b := line[9:39]
	put := func(at, width, v int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(11, 2, t.Hour())
	put(14, 2, t.Minute())
	put(17, 2, t.Second())
	put(20, 9, t.Nanosecond())
	put(8, 2, t.Day())
}

// BenchmarkParseCorrelate is eslogger lines through the normalizer and the
// staging correlator with AN0042's defaults, as replay and live run them:
// at least 150,000 lines a second on one core, memory bounded.
func BenchmarkParseCorrelate(b *testing.B) {
	lines := stream(2000)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	corr, err := staging.New(staging.Config{AnalyticID: "AN0042", Platform: "darwin", Host: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	var detections int
	n := New(func(ev *event.Event) { detections += len(corr.Observe(ev)) })
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		stamp(l, start.Add(time.Duration(i)*200*time.Microsecond))
		if err := n.Line(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(corr.Stats().Groups), "groups")
	// What stays after b.N lines: flat whatever b.N is, the correlator's
	// bounds holding.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
}
