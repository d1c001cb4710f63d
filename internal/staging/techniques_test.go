package staging

import (
	"slices"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
)

// TestTechniques: what the evidence shows beside staging, per detection.
// The platform goldens (an0040, an0041, an0042) carry the rest: a share
// write (5145) is T1039, .NET's ZipFile T1560.002, Compress-Archive
// T1560.001.
func TestTechniques(t *testing.T) {
	t.Parallel()
	cronAlice := aliceCron
	cronAlice.Scope = "812"
	tests := []struct {
		name   string
		events []*event.Event
		want   []string
	}{
		{"tar at a prompt", seq(copyInto(0, 500, "/usr/bin/cp", alice, lootFiles...),
			one(execEv(time.Minute, 600, 400, "/tmp", alice, []string{"/usr/bin/bash"}, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			[]string{"T1074.001", "T1005", "T1560.001"}},
		{"tar from cron", seq(copyInto(0, 500, "/usr/bin/cp", alice, lootFiles...),
			one(execEv(time.Minute, 600, 400, "/tmp", alice, []string{"/usr/bin/bash", "/usr/sbin/cron"}, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			[]string{"T1074.001", "T1005", "T1119", "T1560.001"}},
		{"tar with no login", seq(copyInto(0, 500, "/usr/bin/cp", cronAlice, lootFiles...),
			one(execEv(time.Minute, 600, 400, "/tmp", cronAlice, nil, "/usr/bin/tar", "czf", "/tmp/loot.tgz", "loot"))),
			[]string{"T1074.001", "T1005", "T1119", "T1560.001"}},
		{"python -m zipfile", seq(copyInto(0, 500, "/usr/bin/cp", alice, lootFiles...),
			one(execEv(time.Minute, 600, 400, "/tmp", alice, []string{"/usr/bin/bash"}, "/usr/bin/python3", "-m", "zipfile", "-c", "/tmp/loot.zip", "/tmp/loot"))),
			[]string{"T1074.001", "T1005", "T1560.002"}},
		{"a script writing the archive", seq(copyInto(0, 500, "/usr/bin/cp", alice, lootFiles...),
			one(scriptWrite(time.Minute, 700, "/tmp/loot", "/tmp/loot/../loot.zip", "/usr/bin/python3", "/home/alice/pack.py"))),
			[]string{"T1074.001", "T1005", "T1119", "T1560.002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, dets := run(t, linuxCfg, tt.events)
			if len(dets) != 1 {
				t.Fatalf("%d detections, want 1: %+v", len(dets), dets)
			}
			if got := dets[0].Techniques; !slices.Equal(got, tt.want) {
				t.Errorf("techniques %q, want %q (%s)", got, tt.want, dets[0].Reason)
			}
		})
	}
}

func TestOnShare(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{`\\fs01\finance\q3.xlsx`: true, "//nas/share/a": true, `\\?\C:\x`: false,
		`\\.\PhysicalDrive0`: false, `C:\Users\bob`: false, "/tmp/x": false, `\\`: false} {
		if got := onShare(p); got != want {
			t.Errorf("onShare(%q) = %v, want %v", p, got, want)
		}
	}
}
