package winevent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/testenv"
	"github.com/stagewatch/stagewatch/plugins/windows/winlog"
)

// corpusDir is ../shared/corpus/windows beside the repository (under CI
// its absence fails the test).
func corpusDir(t testing.TB) string {
	t.Helper()
	return testenv.Corpus(t, "windows")
}

// corpusWant is what each real EVTX file yields: records, records lost
// to damage, events made. A damaged file names its chunk and offset.
var corpusWant = map[string]struct {
	records, errors, events uint64
	firstError              string
}{
	"evtx-attack-samples/LM_5145_Remote_FileCopy.evtx":                           {869, 0, 4, ""},
	"evtx-attack-samples/bits_openvpn.evtx":                                      {1537, 0, 0, ""},
	"evtx-attack-samples/remote_file_copy_system_proc_file_write_sysmon_11.evtx": {2, 0, 2, ""},
	"evtx-attack-samples/sysmon_zipexec.evtx":                                    {8, 0, 8, ""},
	"evtx-rs-samples/2-vss_7-System.evtx":                                        {1160, 0, 0, ""},
	"evtx-rs-samples/Application_no_crc32.evtx":                                  {17, 0, 0, ""},
	"evtx-rs-samples/Security_short_selected.evtx":                               {7, 0, 0, ""},
	"evtx-rs-samples/sample-with-irregular-bool-values.evtx":                     {3028, 0, 0, ""},
	"evtx-rs-samples/sample-with-zero-data-size-event.evtx":                      {450, 1, 0, "chunk 0 (byte 4096) record at chunk offset 2080"},
	"evtx-rs-samples/sample_with_a_bad_chunk_magic.evtx":                         {301, 3, 0, "chunk 0 (byte 4096) record at chunk offset 8128"},
	"evtx-rs-samples/security.evtx":                                              {2261, 0, 0, ""},
	"evtx-rs-samples/security_bad_string_cache.evtx":                             {2261, 0, 0, ""},
}

// TestCorpus: every EVTX file of the shared corpus is read whole or fails
// per chunk or record with an error saying where, never a panic; and
// truncating any of them anywhere costs only what was cut.
func TestCorpus(t *testing.T) {
	t.Parallel()
	root := corpusDir(t)
	seen := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".evtx") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		seen++
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var events uint64
			ds, err := DecodeEVTX(context.Background(), strings.NewReader(string(data)), func(*event.Event) { events++ })
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			want, ok := corpusWant[rel]
			if !ok {
				t.Fatalf("%s: not in corpusWant: %d records, %d errors, %d events, %q", rel, ds.Records, ds.ParseErrors, events, ds.FirstError)
			}
			if ds.Records != want.records || ds.ParseErrors != want.errors || events != want.events || !strings.HasPrefix(ds.FirstError, want.firstError) {
				t.Errorf("%s: %d records, %d errors, %d events, %q; want %+v", rel, ds.Records, ds.ParseErrors, events, ds.FirstError, want)
			}
			// Truncated anywhere: an error naming the chunk, never a panic.
			for _, cut := range []int{4096 + 700, 4096 + 65536/2, len(data) - 1000} {
				if cut <= 4096 || cut >= len(data) {
					continue
				}
				var r winlog.EVTXReader
				st, err := r.Read(context.Background(), strings.NewReader(string(data[:cut])), func(*winlog.Record) {})
				if err != nil || st.Errors == 0 || !strings.Contains(st.FirstError, "chunk") {
					t.Errorf("%s cut at %d: %+v, %v", rel, cut, st, err)
				}
			}
		})
		return nil
	})
	if seen == 0 {
		t.Fatal("no EVTX file in the corpus")
	}
}
