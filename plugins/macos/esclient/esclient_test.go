//go:build unix

package esclient

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// esLine is one eslogger create message, global_seq_num seq.
func esLine(seq int, name string) string {
	return fmt.Sprintf(`{"schema_version":1,"version":7,"time":"2026-03-02T10:00:%02d.000000000Z","global_seq_num":%d,"seq_num":%d,`+
		`"event_type":13,"process":{"audit_token":{"pid":700,"pidversion":9001,"ruid":501,"euid":501,"auid":501,"asid":100004},`+
		`"ppid":1,"executable":{"path":"\/bin\/cp","path_truncated":false}},"event":{"create":{"destination_type":1,`+
		`"destination":{"new_path":{"dir":{"path":"\/private\/tmp\/x","path_truncated":false},"filename":"%s","mode":420}}}}}`,
		seq%60, seq, seq, name)
}

// standIn writes a stand-in eslogger: each run does what the next
// numbered script in dir says, the last one repeating.
func standIn(t *testing.T, runs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i, body := range runs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("run%d.sh", i+1)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`#!/bin/sh
# A stand-in for /usr/bin/eslogger: the arguments it was given, then run N.
dir=%q
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n+1))
echo $n > "$dir/count"
echo "$@" > "$dir/argv"
[ -f "$dir/run$n.sh" ] || n=%d
. "$dir/run$n.sh"
`, dir, len(runs))
	path := filepath.Join(dir, "eslogger")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func printLines(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "printf '%%s\\n' '%s'\n", l)
	}
	return b.String()
}

// TestSupervision runs a stand-in that streams, drops messages, dies in
// the middle of a line, emits a malformed and an oversized line, stalls,
// and finally streams on: every good line arrives, the rest is counted.
func TestSupervision(t *testing.T) {
	t.Parallel()
	path := standIn(t,
		// 1: three lines, a gap of two in global_seq_num, then death in mid-line.
		printLines(esLine(1, "a.docx"), esLine(2, "b.docx"), esLine(5, "c.docx"))+
			"printf '%s' '{\"time\":\"2026-03-02T10:00:06Z\",\"event\":{\"crea'\nexit 3\n",
		// 2: a malformed line, an oversized one, a good one, then a stall.
		printLines(`{"event": nope}`)+
			"head -c 1100000 /dev/zero | tr '\\0' 'x'; echo\n"+
			printLines(esLine(1, "d.docx"))+"sleep 30\n",
		// 3: two lines, then quiet but alive until stopped.
		printLines(esLine(1, "e.docx"), esLine(2, "f.docx"))+"exec sleep 30\n",
	)
	c, err := Open(Config{Path: path, Backoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Stall: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got []string
	)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(context.Background(), func(b []*event.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range b {
				got = append(got, filepath.Base(ev.Path))
				if ev.Process.GUID != "700:9001" || ev.Actor.Session != "100004" {
					t.Errorf("event %+v", ev)
				}
			}
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "a.docx,b.docx,c.docx,d.docx,e.docx,f.docx" {
		t.Errorf("events %v", got)
	}
	st := c.Stats()
	cn := st.Counters
	if cn["eslogger_restarts"] < 2 || cn["eslogger_stalls"] != 1 || cn["eslogger_oversized"] != 1 ||
		cn["eslogger_seq_gaps"] != 2 || cn["eslogger_seq_resets"] < 2 || st.ParseErrors < 2 || st.Dropped != 2 {
		t.Errorf("stats %+v", st)
	}
	argv, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "argv"))
	if strings.TrimSpace(string(argv)) != "exec fork exit create rename close clone copyfile unlink" {
		t.Errorf("eslogger ran with %q", argv)
	}
}

// open is subscribed only when asked for.
func TestOpenOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	path := standIn(t, "exit 0\n")
	c, err := Open(Config{Path: path, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if argv := c.Argv(); argv[len(argv)-1] != "open" {
		t.Errorf("argv %v", argv)
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing eslogger opened")
	}
}
