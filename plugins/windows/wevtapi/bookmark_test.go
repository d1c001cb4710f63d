package wevtapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bookmark as EvtRender(EvtRenderBookmark) writes it.
const sysmonBookmark = `<BookmarkList>
  <Bookmark Channel='Microsoft-Windows-Sysmon/Operational' RecordId='48213' IsCurrent='true'/>
</BookmarkList>`

func TestBookmarksRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bm, err := OpenBookmarks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bm.Load("Microsoft-Windows-Sysmon/Operational"); err != nil || got != "" {
		t.Fatalf("before any save: %q, %v", got, err)
	}
	if err := bm.Save("Microsoft-Windows-Sysmon/Operational", sysmonBookmark); err != nil {
		t.Fatal(err)
	}
	if err := bm.Save("Security", strings.Replace(sysmonBookmark, "Microsoft-Windows-Sysmon/Operational", "Security", 1)); err != nil {
		t.Fatal(err)
	}
	// A restart opens the same directory and reads each channel's own.
	again, err := OpenBookmarks(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Load("microsoft-windows-sysmon/operational") // channel names ignore case
	if err != nil || got != sysmonBookmark {
		t.Fatalf("reloaded: %q, %v", got, err)
	}
	sec, err := again.Load("Security")
	if err != nil || !strings.Contains(sec, "Channel='Security'") {
		t.Fatalf("Security: %q, %v", sec, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "wevtapi"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".bookmark-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestBookmarkDamageIsSaidNotFatal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bm, err := OpenBookmarks(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "wevtapi", fileName("Security"))
	for name, content := range map[string]string{
		"not a bookmark": "hello",
		"not text":       "<BookmarkList>\xff\xfe</BookmarkList>",
		"too large":      "<BookmarkList>" + strings.Repeat(" ", maxBookmark) + "</BookmarkList>",
	} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := bm.Load("Security")
		if err == nil || got != "" {
			t.Errorf("%s: %q, %v; want an error and no bookmark", name, got, err)
		} else if !strings.Contains(err.Error(), "Security") {
			t.Errorf("%s: error %q does not name the channel", name, err)
		}
	}
	if err := bm.Save("Security", strings.Repeat("x", maxBookmark+1)); err == nil {
		t.Error("saving an oversized bookmark: no error")
	}
}

func TestNoStateDirKeepsNothing(t *testing.T) {
	t.Parallel()
	bm, err := OpenBookmarks("")
	if err != nil {
		t.Fatal(err)
	}
	if err := bm.Save("Security", sysmonBookmark); err != nil {
		t.Fatal(err)
	}
	if got, err := bm.Load("Security"); got != "" || err != nil {
		t.Errorf("%q, %v", got, err)
	}
}

func TestFileNamesAreDistinctAndPlain(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, ch := range []string{"Security", "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon_2fOperational",
		"Microsoft-Windows-PowerShell/Operational", "..", "a\\b", "a:b"} {
		n := fileName(ch)
		if strings.ContainsAny(n[:len(n)-len(".xml")], "/\\:. ") && !strings.Contains(ch, ".") {
			t.Errorf("%q → %q: not one plain file name", ch, n)
		}
		if n == "..xml" || strings.HasPrefix(n, ".") {
			t.Errorf("%q → %q: a hidden or relative name", ch, n)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("%q and %q share %q", prev, ch, n)
		}
		seen[n] = ch
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ch   Channel
		want string
	}{
		{Channel{Path: "Microsoft-Windows-Sysmon/Operational", EventIDs: []int{1, 11, 2, 23, 26}},
			"*[System[(EventID=1 or EventID=11 or EventID=2 or EventID=23 or EventID=26)]]"},
		{Channel{Path: "Security", EventIDs: []int{4688}}, "*[System[(EventID=4688)]]"},
		{Channel{Path: "Security"}, "*"},
	} {
		if got := tc.ch.Query(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.ch.Path, got, tc.want)
		}
	}
	for _, bad := range [][]Channel{nil, {{Path: " "}}, {{Path: "Security"}, {Path: "security"}}, {{Path: "Security", EventIDs: []int{70000}}}} {
		if err := check(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
