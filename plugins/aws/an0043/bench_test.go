package an0043

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
	"github.com/stagewatch/stagewatch/plugins/aws/correlate"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// benchTrail is n CloudTrail records as a gzipped delivery file: the
// shared corpus's real management events and, as a trail with data
// events mostly holds, S3 object calls by instance roles, users and
// services across many buckets, each with its own eventID.
func benchTrail(b testing.TB, n int, salt string) []byte {
	b.Helper()
	root := testenv.Corpus(b, "aws")
	files, _ := filepath.Glob(filepath.Join(root, "invictus-ir-aws_dataset", "CloudTrail", "*.json"))
	var corpus []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var file struct{ Records []map[string]any }
		if json.Unmarshal(data, &file) == nil {
			corpus = append(corpus, file.Records...)
		}
	}
	data := fixtureRecordsB(b, "tp-instance-burst-cross-account.json.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[`))
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range n {
		var r map[string]any
		if i%2 == 0 {
			r = corpus[i/2%len(corpus)]
		} else {
			r = data[i/2%len(data)]
			rp := r["requestParameters"].(map[string]any)
			rp["bucketName"] = fmt.Sprintf("bucket-%d", i%97)
		}
		r["eventID"] = fmt.Sprintf("bench-%s-%09d", salt, i)
		r["eventTime"] = base.Add(time.Duration(i) * 20 * time.Millisecond).Format(time.RFC3339)
		if i > 0 {
			zw.Write([]byte{','})
		}
		line, _ := json.Marshal(r)
		zw.Write(line)
	}
	zw.Write([]byte(`]}`))
	zw.Close()
	return buf.Bytes()
}

func fixtureRecordsB(b testing.TB, name string) []map[string]any {
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, _ := gzip.NewReader(f)
	var file struct{ Records []map[string]any }
	if err := json.NewDecoder(zr).Decode(&file); err != nil {
		b.Fatal(err)
	}
	return file.Records
}

// BenchmarkParseCorrelate: records per second from a gzipped delivery
// file through decompression, parsing, normalizing and the correlator,
// on one core (the pipeline is one goroutine).
func BenchmarkParseCorrelate(b *testing.B) {
	const n = 100000
	gz := benchTrail(b, n, "")
	cfg, err := decode(nil, false)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(gz)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := correlate.New(cfg.corr)
		n := 0
		_, err := cloudtrail.Decode(bytes.NewReader(gz), func(r *cloudtrail.Record) {
			if e, ok := cloudtrail.Normalize(r); ok {
				c.Add(e)
			}
			// The analytic flushes once a batch.
			if n++; n%4096 == 0 {
				c.Flush()
			}
		})
		c.Flush()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIngest: the same through the analytic's whole replay path
// (dedupe by eventID, the tables), its state in memory or on disk.
func BenchmarkIngest(b *testing.B) {
	const n = 100000
	gz := benchTrail(b, n, "")
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(gz)))
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				a := New()
				req := sdk.ConfigureRequest{Mode: sdk.ModeReplay}
				if durable {
					req.StateDir = filepath.Join(b.TempDir(), "s")
				}
				if _, err := a.Configure(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := a.Ingest(context.Background(), "bench.json.gz", "", bytes.NewReader(gz)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				a.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkMemoryBounded: heap in use after reading 2 and 12 files of
// 20,000 records each (distinct eventIDs): what is kept is bounded by the
// windows, the tables' caps and the state's bounds, not by what was read.
// A benchmark, run by make bench without the race detector, under which the
// caps are not reached in any time a test may take.
func BenchmarkMemoryBounded(t *testing.B) {
	for t.Loop() {
		memoryBounded(t)
	}
}

func memoryBounded(t *testing.B) {
	count, size := 12, 20000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	a := configured(t, "", "", sdk.ModeReplay)
	files := make([][]byte, count)
	for i := range files {
		files[i] = benchTrail(t, size, fmt.Sprint(i))
	}
	base := heap()
	var at2 uint64
	for i, gz := range files {
		if _, err := a.Ingest(context.Background(), "f.json.gz", "", bytes.NewReader(gz)); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			at2 = heap() - base
		}
	}
	at12 := heap() - base
	t.ReportMetric(float64(at2)/(1<<20), "MiB-after-2-files")
	t.ReportMetric(float64(at12)/(1<<20), "MiB-after-12-files")
	if at12 > 3*at2 || at12 > 150<<20 {
		t.Errorf("memory grows with what is read: %d then %d bytes", at2, at12)
	}
	runtime.KeepAlive(files)
}
