package event

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCmdlineRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want string
	}{
		{nil, ""},
		{[]string{"tar", "czf", "x.tgz", "dir"}, "tar czf x.tgz dir"},
		{[]string{"zip", "-r", "my docs.zip", "."}, `zip -r "my docs.zip" .`},
		{[]string{"echo", ""}, `echo ""`},
		{[]string{"sh", "-c", "a\nb"}, `sh -c "a\nb"`},
		{[]string{"x", "\xff"}, `x "\xff"`},
		{[]string{"x", `C:\dir`}, `x "C:\\dir"`},
		{[]string{"x", "ünïcode"}, "x ünïcode"},
	}
	for _, tt := range tests {
		got := PosixArgs(tt.argv)
		if got != tt.want {
			t.Errorf("PosixArgs(%q) = %q, want %q", tt.argv, got, tt.want)
		}
		// Every quoted argument unquotes back to the original.
		if len(tt.argv) > 0 {
			if back := splitCmdline(t, got); !slices.Equal(back, tt.argv) {
				t.Errorf("round trip of %q gave %q", tt.argv, back)
			}
		}
	}
}

// splitCmdline undoes PosixArgs for the test: plain words and Go-quoted words.
func splitCmdline(t *testing.T, s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				t.Fatalf("bad quoting in %q: %v", s, err)
			}
			u, _ := strconv.Unquote(q)
			out = append(out, u)
			s = s[len(q):]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func TestFormatActor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    Actor
		want string
	}{
		{Actor{UID: 1000, EUID: 1000, AUID: 1000, TTY: "pts/0", Session: "3"}, "uid 1000 (auid 1000, tty pts/0, ses 3)"},
		{Actor{UID: 1000, EUID: 0, AUID: 1000, User: "alice", TTY: "(none)"}, "alice (uid 1000, euid 0, auid 1000)"},
		{Actor{UID: 0, EUID: 0, AUID: Unknown}, "root (uid 0)"},
		{Actor{UID: Unknown, EUID: Unknown, AUID: Unknown}, "an unknown user"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("Actor(%+v).String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestWindowsCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{`C:\Program Files\7-Zip\7z.exe`, "a", `C:\Users\Public\x.7z`, `C:\loot\*`},
			`"C:\Program Files\7-Zip\7z.exe" a C:\Users\Public\x.7z C:\loot\*`},
		{[]string{"robocopy", `C:\Users\bob\Documents`, `C:\Users\Public\stage`, "/E", "/R:1"},
			`robocopy C:\Users\bob\Documents C:\Users\Public\stage /E /R:1`},
		{[]string{"x", `C:\dir with space\`}, `x "C:\dir with space\\"`},
		{[]string{"x", `say "hi"`}, `x "say \"hi\""`},
		{[]string{"x", `a\"b`}, `x "a\\\"b"`},
		{[]string{"x", ""}, `x ""`},
	}
	for _, tt := range tests {
		got := WindowsArgs(tt.argv)
		if got != tt.want {
			t.Errorf("WindowsArgs(%q) = %s, want %s", tt.argv, got, tt.want)
		}
		if back := splitWindows(got); !slices.Equal(back, tt.argv) {
			t.Errorf("CommandLineToArgvW(%s) = %q, want %q", got, back, tt.argv)
		}
	}
	// The line Windows recorded is what a Windows row shows.
	p := &Process{Argv: []string{`C:\Windows\System32\cmd.exe`, "/c", "dir"}, CommandLine: `cmd.exe /c  dir`}
	if got := WindowsCommandLine.Render(p); got != `cmd.exe /c  dir` {
		t.Errorf("Render with a recorded line = %q", got)
	}
	p.CommandLine = ""
	if got := WindowsCommandLine.Render(p); got != `C:\Windows\System32\cmd.exe /c dir` {
		t.Errorf("Render from argv = %q", got)
	}
	if got := PosixCommandLine.Render(p); got != `"C:\\Windows\\System32\\cmd.exe" /c dir` {
		t.Errorf("posix Render = %q", got)
	}
}

// splitWindows parses a command line as the Microsoft C runtime does
// (CommandLineToArgvW's rules for arguments after the first).
func splitWindows(s string) []string {
	var (
		out     []string
		cur     strings.Builder
		inQuote bool
		have    bool
	)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
					i++
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
			}
			have = true
			continue
		case c == '"':
			inQuote = !inQuote
			have = true
		case (c == ' ' || c == '\t') && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
		i++
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
