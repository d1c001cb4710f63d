// Package esxilog reads ESXi's logs as ESXi writes them and as syslog
// delivers them: hostd.log, shell.log, auth.log and vmkernel.log lines in
// the ESXi 6.5, 7 and 8 layouts, bare (a saved log or a support bundle)
// or inside an RFC 3164 or RFC 5424 envelope (a syslog capture or the
// listener's messages), and turns the lines that matter to data staging
// into activity events. It is pure: bytes in, events out.
package esxilog

import (
	"strconv"
	"strings"
	"time"
)

// Line is one log line split into its parts.
type Line struct {
	Time time.Time
	Host string // from the syslog envelope; empty in a saved log
	App  string // hostd, Hostd, shell, sshd, vmkernel, …
	PID  string // decimal, or ESXi 6.5's hex thread id
	// Level is ESXi's own level word (info, verbose) or 7/8 prefix
	// (In(166), Wa(164)).
	Level string
	// Originator holds the [Originator@6876 sub=… opID=… user=…] fields,
	// from the message or from RFC 5424 structured data.
	Sub, OpID, User string
	Msg             string
	// Continuation marks a "-->" line, the rest of the line before it.
	Continuation bool
	// BadPRI marks a PRI outside 0..191: the line is still read.
	BadPRI bool
}

// parseEnvelope splits a raw message: an optional <PRI>, then RFC 5424
// ("1 TIME HOST APP PROCID MSGID SD MSG"), RFC 3164 ("TIME HOST TAG:
// MSG", BSD or ISO time), or a bare ESXi log line ("TIME [level]
// prog[pid]: MSG"). ref gives the year a BSD timestamp lacks.
func parseEnvelope(s string, ref time.Time) (Line, bool) {
	var l Line
	s = strings.TrimRight(s, "\r\n\x00")
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 2 || end > 5 {
			return l, false
		}
		pri, err := strconv.Atoi(s[1:end])
		if err != nil {
			return l, false
		}
		l.BadPRI = pri < 0 || pri > 191
		s = s[end+1:]
		if rest, ok := strings.CutPrefix(s, "1 "); ok {
			return parse5424(rest, l)
		}
		return parse3164(s, l, ref)
	}
	if strings.HasPrefix(s, "-->") {
		l.Continuation, l.Msg = true, strings.TrimSpace(s[3:])
		return l, true
	}
	return parse3164(s, l, ref)
}

// parse5424 reads "TIME HOST APP PROCID MSGID SD MSG".
func parse5424(s string, l Line) (Line, bool) {
	var f [5]string
	for i := range f {
		var ok bool
		f[i], s, ok = strings.Cut(s, " ")
		if !ok && i < 4 {
			return l, false
		}
	}
	t, err := parseISO(f[0])
	if err != nil && f[0] != "-" {
		return l, false
	}
	l.Time = t
	l.Host, l.App, l.PID = nilValue(f[1]), nilValue(f[2]), nilValue(f[3])
	// Structured data: "-" or one or more [ID k="v" …] elements.
	switch {
	case strings.HasPrefix(s, "-"):
		s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), " ")
	case strings.HasPrefix(s, "["):
		for strings.HasPrefix(s, "[") {
			end := sdEnd(s)
			if end < 0 {
				return l, false
			}
			originator(&l, s[1:end])
			s = strings.TrimPrefix(s[end+1:], " ")
		}
	}
	s = strings.TrimPrefix(s, "\ufeff") // RFC 5424's BOM before UTF-8 text
	body(&l, s)
	return l, true
}

// sdEnd finds the ] closing an SD element, past quoted values and
// their \] escapes.
func sdEnd(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ']':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

func nilValue(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parse3164 reads "TIME HOST TAG[PID]: MSG", and the bare ESXi lines:
// "TIME level prog[pid] [Originator…] MSG" (6.5 to 7), "TIME In(166)
// Prog[pid]: MSG" (8), "TIME prog[pid]: MSG" (shell.log, auth.log) and
// "TIME cpuN:TID)MSG" (vmkernel.log).
func parse3164(s string, l Line, ref time.Time) (Line, bool) {
	t, rest, ok := leadingTime(s, ref)
	if !ok {
		return l, false
	}
	l.Time = t
	s = rest
	first, after, _ := strings.Cut(s, " ")
	if isLevel(first) {
		l.Level, s = first, after
	} else if !isTag(first) && !isCPU(first) && first != "-->" {
		// A host before the tag (a syslog envelope or a relay's file).
		if next, _, _ := strings.Cut(after, " "); isTag(next) || isCPU(next) || isLevel(next) {
			l.Host, s = first, after
			if f, a, _ := strings.Cut(s, " "); isLevel(f) {
				l.Level, s = f, a
			}
		}
	}
	if rest, ok := strings.CutPrefix(s, "-->"); ok {
		l.Continuation, l.Msg = true, strings.TrimSpace(rest)
		return l, true
	}
	if isCPU(firstWord(s)) {
		l.App, l.Msg = "vmkernel", s
		return l, true
	}
	tag, msg, _ := strings.Cut(s, " ")
	if !isTag(tag) {
		// No tag: keep the line as a message of no known program.
		l.Msg = s
		return l, true
	}
	tag = strings.TrimSuffix(tag, ":")
	if i := strings.IndexByte(tag, '['); i > 0 && strings.HasSuffix(tag, "]") {
		l.App, l.PID = tag[:i], tag[i+1:len(tag)-1]
	} else {
		l.App = tag
	}
	body(&l, msg)
	return l, true
}

// body takes the [Originator@6876 …] block, or the message's own
// "-->" continuation, off the front of a message.
func body(l *Line, s string) {
	if isCPU(firstWord(s)) && l.App != "" && !strings.EqualFold(l.App, "vmkernel") {
		l.Msg = s
		return
	}
	if strings.HasPrefix(s, "[Originator@") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			originator(l, s[1:end])
			s = strings.TrimPrefix(s[end+1:], " ")
		}
	}
	if rest, ok := strings.CutPrefix(s, "-->"); ok {
		l.Continuation, s = true, strings.TrimSpace(rest)
	}
	l.Msg = s
}

// originator reads "Originator@6876 sub=X opID=Y user=Z", values bare
// or quoted as RFC 5424 wants them.
func originator(l *Line, s string) {
	id, s, _ := strings.Cut(s, " ")
	if !strings.HasPrefix(id, "Originator@") {
		return
	}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			v = strings.ReplaceAll(rest[1:min(end, len(rest))], `\"`, `"`)
			s = rest[min(end+1, len(rest)):]
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		switch k {
		case "sub":
			l.Sub = v
		case "opID":
			l.OpID = v
		case "user":
			l.User = v
		}
	}
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// isLevel: ESXi 6.5–7's level words and ESXi 8's "In(166)" prefixes.
func isLevel(s string) bool {
	switch s {
	case "info", "verbose", "warning", "error", "trivia", "panic", "debug", "critical":
		return true
	}
	if len(s) >= 5 && s[2] == '(' && s[len(s)-1] == ')' {
		_, err := strconv.Atoi(s[3 : len(s)-1])
		return err == nil
	}
	return false
}

// isTag: "prog[pid]:", "prog[pid]", "prog:".
func isTag(s string) bool {
	if s == "" || s[0] == '[' {
		return false
	}
	if strings.HasSuffix(s, ":") {
		return len(s) > 1 && !strings.ContainsAny(s[:len(s)-1], ": ")
	}
	i := strings.IndexByte(s, '[')
	return i > 0 && strings.HasSuffix(s, "]")
}

// isCPU: vmkernel's "cpu5:2099680)" prefix.
func isCPU(s string) bool {
	if !strings.HasPrefix(s, "cpu") {
		return false
	}
	c, _, ok := strings.Cut(s[3:], ":")
	if !ok || c == "" {
		return false
	}
	_, err := strconv.Atoi(c)
	return err == nil && strings.Contains(s, ")")
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// leadingTime reads an ISO time ("2021-03-10T14:45:33.123Z", offsets,
// no fraction) or a BSD one ("Mar 10 14:45:33", "Mar  1 …"), whose
// year is the latest that does not put it more than a day after ref.
func leadingTime(s string, ref time.Time) (time.Time, string, bool) {
	if len(s) >= 15 && s[3] == ' ' {
		if m, ok := months[s[:3]]; ok {
			day, err1 := strconv.Atoi(strings.TrimSpace(s[4:6]))
			hh, err2 := strconv.Atoi(s[7:9])
			mm, err3 := strconv.Atoi(s[10:12])
			ss, err4 := strconv.Atoi(s[13:15])
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil || s[9] != ':' || s[12] != ':' {
				return time.Time{}, s, false
			}
			if ref.IsZero() {
				ref = time.Now()
			}
			ref = ref.UTC()
			t := time.Date(ref.Year(), m, day, hh, mm, ss, 0, time.UTC)
			if t.After(ref.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
			return t, strings.TrimPrefix(s[15:], " "), true
		}
	}
	w, rest, _ := strings.Cut(s, " ")
	t, err := parseISO(w)
	if err != nil {
		return time.Time{}, s, false
	}
	return t, rest, true
}

// parseISO reads RFC 3339 with or without a fraction or zone (ESXi
// writes Z; relays write offsets; some bundles drop the zone: UTC).
func parseISO(s string) (time.Time, error) {
	if len(s) < 19 || s[4] != '-' || s[10] != 'T' {
		return time.Time{}, errBadTime
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	if err != nil {
		return time.Time{}, errBadTime
	}
	return t, nil
}

type timeError struct{}

func (timeError) Error() string { return "no timestamp" }

var errBadTime error = timeError{}
