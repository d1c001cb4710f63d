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
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = utf8.RuneCountInString(c)
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
	line(columns)
	rule()
	for _, r := range cells {
		line(r)
	}
	if len(cells) > 0 {
		rule()
	}
}

func cellText(v string) string {
	v = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r == '\r' {
			return ' '
		}
		return r
	}, v)
	if utf8.RuneCountInString(v) > maxCellWidth {
		runes := []rune(v)
		v = string(runes[:maxCellWidth-1]) + "…"
	}
	return v
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
		fmt.Fprintf(bw, "%s\n", t.Name)
		if t.Description != "" {
			fmt.Fprintf(bw, "  %s\n", t.Description)
		}
		nameWidth, typeWidth := 0, 0
		for _, c := range t.Columns {
			nameWidth = max(nameWidth, len(c.Name))
			typeWidth = max(typeWidth, len(c.Type))
		}
		for _, c := range t.Columns {
			fmt.Fprintf(bw, "    %-*s  %-*s  %s\n", nameWidth, c.Name, typeWidth, c.Type, c.Description)
		}
	}
	return bw.Flush()
}
