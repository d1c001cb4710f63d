package event

import (
	"reflect"
	"strings"
	"testing"
)

// TestSplitWindowsCommandLine: the cases of CommandLineToArgvW's
// documentation and of the rules people trip on (program names with
// backslashes in quotes, escaped quotes, doubled quotes).
func TestSplitWindowsCommandLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		line string
		want []string
	}{
		{``, nil},
		{`cmd.exe`, []string{"cmd.exe"}},
		{`"C:\Program Files\7-Zip\7z.exe" a -tzip "C:\Users\Public\q 3.zip" @C:\Users\Public\l.txt`, []string{`C:\Program Files\7-Zip\7z.exe`, "a", "-tzip", `C:\Users\Public\q 3.zip`, `@C:\Users\Public\l.txt`}},
		{`"a b\" c`, []string{`a b\`, "c"}},
		{`x "abc" d e`, []string{"x", "abc", "d", "e"}},
		{`x a\\\b d"e f"g h`, []string{"x", `a\\\b`, "de fg", "h"}},
		{`x a\\\"b c d`, []string{"x", `a\"b`, "c", "d"}},
		{`x a\\\\"b c" d e`, []string{"x", `a\\b c`, "d", "e"}},
		{`x "a""b c`, []string{"x", `a"b`, "c"}},
		{"robocopy.exe\tC:\\Users\\u\\Documents  C:\\Users\\Public\\s /E ", []string{"robocopy.exe", `C:\Users\u\Documents`, `C:\Users\Public\s`, "/E"}},
		{`cmd.exe /c "copy C:\a.docx C:\Users\Public\"`, []string{"cmd.exe", "/c", `copy C:\a.docx C:\Users\Public"`}},
		{`"unterminated`, []string{"unterminated"}},
	} {
		if got := SplitWindowsCommandLine(tt.line); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitWindowsCommandLine(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

// FuzzWindowsCommandLine: WindowsArgs and SplitWindowsCommandLine are
// each other's inverse for argument vectors whose program name needs no
// escaping (Windows cannot quote a quote in one, and takes its
// backslashes literally).
func FuzzWindowsCommandLine(f *testing.F) {
	f.Add("7z.exe", "a", `C:\Users\Public\q 3.zip`)
	f.Add(`C:\x y\p.exe`, `a\"b`, `c\\`)
	f.Add("p", "", `""`)
	f.Fuzz(func(t *testing.T, prog, a, b string) {
		if prog == "" || strings.ContainsAny(prog, "\"\x00") || strings.HasSuffix(prog, `\`) || strings.ContainsAny(a+b, "\x00") {
			return
		}
		argv := []string{prog, a, b}
		if got := SplitWindowsCommandLine(WindowsArgs(argv)); !reflect.DeepEqual(got, argv) {
			t.Fatalf("%q -> %q -> %q", argv, WindowsArgs(argv), got)
		}
	})
}
