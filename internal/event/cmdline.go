package event

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CommandLineStyle is how a platform writes a command line.
type CommandLineStyle uint8

const (
	// PosixCommandLine joins argv with spaces, Go-quoting the arguments
	// that need it: an exec's record is its argument vector.
	PosixCommandLine CommandLineStyle = iota
	// WindowsCommandLine is the line the process was given, as Windows
	// records it (Sysmon's and 4688's CommandLine), or argv quoted the way
	// CommandLineToArgvW reads it back: backslashes stay single.
	WindowsCommandLine
)

// Render writes p's command line in style s.
func (s CommandLineStyle) Render(p *Process) string {
	if s == WindowsCommandLine {
		if p.CommandLine != "" {
			return p.CommandLine
		}
		return WindowsArgs(p.Argv)
	}
	return PosixArgs(p.Argv)
}

// PosixArgs joins argv with spaces, quoting (Go syntax) every argument that
// is empty or holds whitespace, quotes, backslashes, control characters or
// invalid UTF-8, so the line splits back into the same arguments and a
// newline in an argument cannot forge a second line.
func PosixArgs(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if posixNeedsQuote(a) {
			b.WriteString(strconv.Quote(a))
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func posixNeedsQuote(a string) bool {
	if a == "" {
		return true
	}
	for i := 0; i < len(a); {
		r, size := utf8.DecodeRuneInString(a[i:])
		if r == utf8.RuneError && size == 1 {
			return true
		}
		if r == '"' || r == '\'' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// WindowsArgs joins argv as a Windows command line: an argument with a
// space, a tab or a quote (or an empty one) is quoted, with the quotes
// inside it and the backslashes before them escaped, as
// CommandLineToArgvW and the C runtime read it back.
func WindowsArgs(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(WindowsQuote(a))
	}
	return b.String()
}

// WindowsQuote quotes one argument for a Windows command line.
func WindowsQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; c {
		case '\\':
			slashes++
		case '"':
			// Backslashes before a quote are doubled, and the quote escaped.
			b.WriteString(strings.Repeat(`\`, slashes))
			b.WriteString(`\`)
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(a[i])
	}
	// Backslashes before the closing quote are doubled too.
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// SplitWindowsCommandLine splits a Windows command line into its argument
// vector the way CommandLineToArgvW does: the program name runs to the
// first space or tab, or between quotes with backslashes taken literally;
// then 2n backslashes before a quote are n and the quote opens or closes
// quoting, 2n+1 are n and a literal quote, other backslashes stay as they
// are, and a doubled quote inside quotes is one literal quote that also
// ends the quoting. An argument needing none of that is a substring of
// line.
func SplitWindowsCommandLine(line string) []string {
	var argv []string
	rest := line
	// The program name.
	if rest != "" && rest[0] == '"' {
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return []string{rest[1:]}
		}
		argv = append(argv, rest[1:1+end])
		rest = rest[2+end:]
	} else if rest != "" {
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			return []string{rest}
		}
		argv = append(argv, rest[:end])
		rest = rest[end:]
	}
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return argv
		}
		var arg string
		arg, rest = nextWindowsArg(rest)
		argv = append(argv, arg)
	}
}

// nextWindowsArg reads one argument after the program name from the start
// of s, which is not a space or tab.
func nextWindowsArg(s string) (arg, rest string) {
	end := strings.IndexAny(s, " \t\"")
	if end < 0 {
		return s, ""
	}
	if s[end] != '"' {
		return s[:end], s[end:]
	}
	var b []byte
	inQuote := false
	slashes := 0
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t':
			if !inQuote {
				b = appendSlashes(b, slashes)
				return string(b), s[i:]
			}
		case '\\':
			slashes++
			continue
		case '"':
			b = appendSlashes(b, slashes/2)
			if slashes%2 == 1 {
				b = append(b, '"')
			} else {
				if inQuote && i+1 < len(s) && s[i+1] == '"' {
					b = append(b, '"')
					i++
				}
				inQuote = !inQuote
			}
			slashes = 0
			continue
		}
		b = appendSlashes(b, slashes)
		slashes = 0
		b = append(b, c)
	}
	b = appendSlashes(b, slashes)
	return string(b), ""
}

func appendSlashes(b []byte, n int) []byte {
	for range n {
		b = append(b, '\\')
	}
	return b
}
