package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/stagewatch/stagewatch/host/control"
	"github.com/stagewatch/stagewatch/internal/rowjson"
)

// maxCellWidth keeps one long value (an evidence array) from pushing every
// other column off a terminal; JSON output is never shortened.
const maxCellWidth = 60

// writeRows prints query results: an aligned table for a person, or a JSON
// array of objects (keys in column order, values as strings, as osqueryi
// --json prints them) for a program.
func writeRows(w io.Writer, columns []string, rows []map[string]string, human bool) error {
	bw := bufio.NewWriter(w)
	if human {
		writeGrid(bw, columns, rows)
		return bw.Flush()
	}
	bw.WriteString("[")
	for i, row := range rows {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  ")
		rowjson.WriteObject(bw, columns, func(col string) any { return row[col] })
	}
	if len(rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// writeGrid draws rows as osqueryi does: a boxed, aligned table.
func writeGrid(w *bufio.Writer, columns []string, rows []map[string]string) {
	if len(columns) == 0 {
		return
	}
	headers := make([]string, len(columns))
	widths := make([]int, len(columns))
	for i, c := range columns {
		headers[i] = cellText(c)
		widths[i] = utf8.RuneCountInString(headers[i])
	}
	cells := make([][]string, len(rows))
	for r, row := range rows {
		cells[r] = make([]string, len(columns))
		for i, c := range columns {
			v := cellText(row[c])
			cells[r][i] = v
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
		}
	}
	rule := func() {
		w.WriteString("+")
		for _, n := range widths {
			w.WriteString(strings.Repeat("-", n+2) + "+")
		}
		w.WriteString("\n")
	}
	line := func(vals []string) {
		w.WriteString("|")
		for i, v := range vals {
			fmt.Fprintf(w, " %s%s |", v, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)))
		}
		w.WriteString("\n")
	}
	rule()
	line(headers)
	rule()
	for _, r := range cells {
		line(r)
	}
	if len(cells) > 0 {
		rule()
	}
}

// cellText is a value as a terminal table shows it: made visible (see
// visible; a newline shows as \n), and cut to maxCellWidth between escapes,
// never inside one.
func cellText(v string) string {
	shown := visible(v)
	if utf8.RuneCountInString(shown) <= maxCellWidth {
		return shown
	}
	var b strings.Builder
	width := 0
	for i := 0; i < len(v); {
		tok, size := escapeAt(v[i:], false)
		n := utf8.RuneCountInString(tok)
		if width+n > maxCellWidth-1 {
			break
		}
		b.WriteString(tok)
		width += n
		i += size
	}
	return b.String() + "…"
}

// writeTables prints the table catalogue: names, columns, types and
// descriptions for a person, or the control API's JSON form for a program.
func writeTables(w io.Writer, tables []control.Table, human bool) error {
	bw := bufio.NewWriter(w)
	if !human {
		out, err := json.MarshalIndent(tables, "", "  ")
		if err != nil {
			return err
		}
		bw.Write(out)
		bw.WriteString("\n")
		return bw.Flush()
	}
	for i, t := range tables {
		if i > 0 {
			bw.WriteString("\n")
		}
		// Names and descriptions come from the plugins: made visible.
		fmt.Fprintf(bw, "%s\n", visible(t.Name))
		if t.Description != "" {
			fmt.Fprintf(bw, "  %s\n", visible(t.Description))
		}
		nameWidth, typeWidth := 0, 0
		for _, c := range t.Columns {
			nameWidth = max(nameWidth, utf8.RuneCountInString(visible(c.Name)))
			typeWidth = max(typeWidth, utf8.RuneCountInString(visible(c.Type)))
		}
		for _, c := range t.Columns {
			name, typ := visible(c.Name), visible(c.Type)
			fmt.Fprintf(bw, "    %s%s  %s%s  %s\n", name, strings.Repeat(" ", nameWidth-utf8.RuneCountInString(name)),
				typ, strings.Repeat(" ", typeWidth-utf8.RuneCountInString(typ)), visible(c.Description))
		}
	}
	return bw.Flush()
}
