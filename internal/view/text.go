package view

import (
	"bufio"
	"fmt"
	"github.com/stagewatch/stagewatch/internal/staging"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TextOptions say how the terminal forms are drawn.
type TextOptions struct {
	// Color draws with ANSI colours: only on a terminal that has them
	// (the caller checks NO_COLOR and TERM=dumb).
	Color bool
	// Escape makes a value safe to print (control characters and invalid
	// UTF-8 as escapes); nil: Visible.
	Escape func(string) string
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

type painter struct {
	TextOptions
}

func (p painter) esc(s string) string {
	if p.Escape != nil {
		return p.Escape(s)
	}
	return Visible(s)
}

func (p painter) paint(code, s string) string {
	if !p.Color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p painter) severity(sev string) string {
	label := strings.ToUpper(p.esc(sev))
	switch sev {
	case "high":
		return p.paint(ansiBold+ansiRed, label)
	case "medium":
		return p.paint(ansiBold+ansiYellow, label)
	case "low":
		return p.paint(ansiCyan, label)
	}
	return label
}

// WriteTimeline writes each detection as a block (severity and score,
// time, host, actor, staging location → archive, tools, files and bytes,
// techniques, reason) and then its evidence as a timeline: time, step,
// path or object, process.
func WriteTimeline(w io.Writer, dets []Detection, opt TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	p := painter{opt}
	for i := range dets {
		if i > 0 {
			bw.WriteByte('\n')
		}
		p.block(bw, &dets[i])
	}
	return bw.Flush()
}

func (p painter) block(w *bufio.Writer, d *Detection) {
	fmt.Fprintf(w, "%s %s  %s  %s  %s %s  %s\n", p.severity(d.Severity), p.paint(ansiBold, strconv.Itoa(d.Score)),
		formatTime(d.Time), p.paint(ansiBold, p.esc(d.Host)), p.esc(d.AnalyticID), p.esc(d.Platform), p.paint(ansiDim, p.esc(d.UID)))
	field := func(label, value string) {
		if value == "" {
			return
		}
		fmt.Fprintf(w, "  %s %s\n", p.paint(ansiDim, fmt.Sprintf("%-9s", label)), value)
	}
	field("actor", p.esc(d.Actor))
	staging := p.esc(d.StagingPath)
	if d.ArchivePath != "" {
		staging += " → " + p.paint(ansiBold, p.esc(d.ArchivePath))
	}
	field("staging", staging)
	field("tools", p.esc(strings.Join(d.Tools(), ", ")))
	files := fmt.Sprintf("%d %s", d.FileCount, plural(d.FileCount, "file", "files"))
	if d.Bytes > 0 {
		files += ", " + HumanBytes(d.Bytes)
	}
	if !d.FirstSeen.IsZero() && !d.LastSeen.IsZero() {
		files += fmt.Sprintf(" in %s (%s to %s)", d.LastSeen.Sub(d.FirstSeen).Round(time.Second), clock(d.FirstSeen), clock(d.LastSeen))
	}
	field("files", files)
	field("attack", p.esc(techniqueList(d.Techniques)))
	field("reason", p.esc(d.Reason))
	field("process", p.esc(d.Process))
	if len(d.Evidence) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s\n", p.paint(ansiDim, "timeline"))
	kindWidth, pathWidth := 4, 4
	for _, e := range d.Evidence {
		kindWidth = max(kindWidth, utf8.RuneCountInString(e.Kind))
		pathWidth = max(pathWidth, min(60, utf8.RuneCountInString(p.esc(e.Path))))
	}
	for _, e := range d.Evidence {
		path := p.esc(e.Path)
		if path == "" {
			path = "-"
		}
		pad := max(0, pathWidth-utf8.RuneCountInString(path))
		proc := baseName(p.esc(e.Process))
		if proc == "" && e.Cmdline != "" {
			proc = p.esc(firstWord(e.Cmdline))
		}
		if e.PID > 0 {
			proc += " (" + strconv.FormatInt(e.PID, 10) + ")"
		}
		line := fmt.Sprintf("    %s  %-*s  %s%s  %s", clockMillis(e.Time), kindWidth, p.esc(e.Kind), path, strings.Repeat(" ", pad), proc)
		if e.Note != "" {
			line += "  " + p.paint(ansiDim, p.esc(e.Note))
		}
		if strings.HasPrefix(e.Note, "archive step") || strings.HasPrefix(e.Note, "encryption") {
			line = strings.Replace(line, path, p.paint(ansiBold, path), 1)
		}
		w.WriteString(strings.TrimRight(line, " "))
		w.WriteByte('\n')
	}
}

// WriteTable writes one line per detection, aligned: for a quick look at
// many.
func WriteTable(w io.Writer, dets []Detection, opt TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	p := painter{opt}
	headers := []string{"SEVERITY", "SCORE", "TIME", "HOST", "ANALYTIC", "ACTOR", "STAGING → ARCHIVE", "FILES", "BYTES", "TECHNIQUES", "UID"}
	rows := make([][]string, len(dets))
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = utf8.RuneCountInString(h)
	}
	for r := range dets {
		d := &dets[r]
		staging := d.StagingPath
		if d.ArchivePath != "" {
			staging += " → " + d.ArchivePath
		}
		bytes := ""
		if d.Bytes > 0 {
			bytes = HumanBytes(d.Bytes)
		}
		rows[r] = []string{p.esc(d.Severity), strconv.Itoa(d.Score), formatTime(d.Time), cut(p.esc(d.Host), 24), p.esc(d.AnalyticID),
			cut(p.esc(d.Actor), 32), cut(p.esc(staging), 60), strconv.FormatInt(d.FileCount, 10), bytes,
			p.esc(strings.Join(d.Techniques, ",")), p.esc(d.UID)}
		for i, c := range rows[r] {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string, sev string) {
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 && sev != "" {
				c = p.severity(sev)
				c = strings.Replace(c, strings.ToUpper(sev), sev, 1)
			}
			if i > 0 {
				bw.WriteString("  ")
			}
			if i == len(cells)-1 {
				pad = ""
			}
			bw.WriteString(c + pad)
		}
		bw.WriteByte('\n')
	}
	line(headers, "")
	for r, row := range rows {
		line(row, dets[r].Severity)
	}
	return bw.Flush()
}

func techniqueList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id
		if n := TechniqueName(id); n != "" {
			parts[i] += " " + n
		}
	}
	return strings.Join(parts, " · ")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

func clockMillis(t time.Time) string {
	if t.IsZero() {
		return "            "
	}
	return t.UTC().Format("15:04:05.000")
}

func firstWord(s string) string {
	s = strings.TrimLeft(s, `"`)
	if i := strings.IndexAny(s, ` "`); i > 0 {
		s = s[:i]
	}
	return baseName(s)
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func plural(n int64, one, other string) string {
	if n == 1 {
		return one
	}
	return other
}

// HumanBytes is a size as people read it: 1.2 MB, as reasons say it.
func HumanBytes(n int64) string { return staging.HumanBytes(n) }

// Visible shows control characters, and bytes that are not UTF-8, as
// escapes (\x1b, \u009b, \xff) so that a hostile file name cannot move the
// cursor or recolour a terminal; a backslash stays as it is (paths).
func Visible(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError && size == 1 {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
