package an0040

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testenv"
)

// corpusDir is ../shared/corpus/windows beside the repository (under CI
// its absence fails the test).
func corpusDir(t testing.TB) string {
	t.Helper()
	return testenv.Corpus(t, "windows")
}

// corpusFiles are the real EVTX files of the shared corpus, relative to it.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	root := corpusDir(t)
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".evtx") {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if len(out) == 0 {
		t.Fatal("no EVTX file in the corpus")
	}
	return out
}

// corpusYields is what AN0040 makes of each real EVTX file: its
// detections, explained, and the chunks or records lost to damage. They are
// noise and edge cases, not staging stories, and none is a detection:
//
//   - LM_5145_Remote_FileCopy: Security 5145 of a remote Administrator
//     writing malwr.exe onto \\*\C$ (the drive root, no staging place)
//     and setup.bat into \\*\C$\Windows\Temp, each logged twice: one
//     file, not sensitive, no copy command line, no archive step.
//   - remote_file_copy_system_proc_file_write_sysmon_11: the System process
//     writing PSEXESVC.exe into C:\Windows and the PsExec service starting:
//     no staging directory, no archive step.
//   - sysmon_zipexec: cscript dropping lync.zip into %TEMP% (an archive
//     written by a process that staged nothing and whose cwd and command
//     line name no staging place) and running i.exe from Explorer's
//     Temp3_lync.zip folder: extraction, never a step.
//   - the others hold no Sysmon or Security event AN0040 reads (System,
//     Application, VSS) or only logons and privilege use.
var corpusYields = map[string]struct {
	detections  int
	parseErrors bool // damaged: each bad chunk or record counted, with an error naming where
}{
	"evtx-attack-samples/LM_5145_Remote_FileCopy.evtx":                           {},
	"evtx-attack-samples/bits_openvpn.evtx":                                      {},
	"evtx-attack-samples/remote_file_copy_system_proc_file_write_sysmon_11.evtx": {},
	"evtx-attack-samples/sysmon_zipexec.evtx":                                    {},
	"evtx-rs-samples/2-vss_7-System.evtx":                                        {},
	"evtx-rs-samples/Application_no_crc32.evtx":                                  {},
	"evtx-rs-samples/Security_short_selected.evtx":                               {},
	"evtx-rs-samples/sample-with-irregular-bool-values.evtx":                     {},
	"evtx-rs-samples/sample-with-zero-data-size-event.evtx":                      {parseErrors: true},
	"evtx-rs-samples/sample_with_a_bad_chunk_magic.evtx":                         {parseErrors: true},
	"evtx-rs-samples/security.evtx":                                              {},
	"evtx-rs-samples/security_bad_string_cache.evtx":                             {},
}

// TestCorpus replays every real EVTX file of the shared corpus through the
// whole analytic: read whole, or the damaged ones chunk by chunk with an
// error saying which chunk, and exactly the detections explained above.
func TestCorpus(t *testing.T) {
	t.Parallel()
	root := corpusDir(t)
	for _, rel := range corpusFiles(t) {
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			want, ok := corpusYields[rel]
			a, stats := replay(t, filepath.Join(root, filepath.FromSlash(rel)))
			st := stats[0]
			rows := rowsOf(t, a, schema.Detections)
			t.Logf("%s: %d records, %d events, %d parse errors, %d detections", rel, st.Records, st.Events, st.ParseErrors, len(rows))
			for _, r := range rows {
				t.Logf("detection: %s %s | %s | %s | %s", r["technique_id"], r["severity"], r["staging_path"], r["archive_path"], r["reason"])
			}
			if !ok {
				t.Fatalf("%s is not in corpusYields: explain what it yields", rel)
			}
			if st.Records == 0 {
				t.Errorf("no records read: %+v", st)
			}
			if len(rows) != want.detections {
				t.Errorf("%d detections, want %d", len(rows), want.detections)
			}
			switch {
			case want.parseErrors && (st.ParseErrors == 0 || !strings.Contains(st.FirstError, "chunk")):
				t.Errorf("damaged file: %d parse errors, first %q; want each bad chunk counted, naming it", st.ParseErrors, st.FirstError)
			case !want.parseErrors && st.ParseErrors != 0:
				t.Errorf("%d parse errors (first %q)", st.ParseErrors, st.FirstError)
			}
		})
	}
}
