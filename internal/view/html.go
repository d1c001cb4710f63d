package view

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ReportOptions describe a report.
type ReportOptions struct {
	Title     string
	Generated time.Time
	Sources   []string // the inputs it was made from, as named
	Product   Product
}

// WriteHTML writes the report: one self-contained page (its style and
// script inline, nothing fetched) with a summary by severity, platform and
// analytic, filters by severity and platform that run in the page, and per
// detection its block, its timeline drawn as SVG, its evidence table and
// its ATT&CK techniques.
func WriteHTML(w io.Writer, dets []Detection, opt ReportOptions) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if opt.Title == "" {
		opt.Title = "stagewatch report"
	}
	bySev, byPlat, byAn := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range dets {
		bySev[dets[i].Severity]++
		byPlat[dets[i].Platform]++
		byAn[dets[i].AnalyticID]++
	}
	e := html.EscapeString
	bw.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
	bw.WriteString("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
	bw.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	fmt.Fprintf(bw, "<title>%s</title>\n<style>%s</style>\n</head><body>\n", e(opt.Title), reportCSS)
	fmt.Fprintf(bw, "<header><h1>%s</h1><p class=\"meta\">%s %s · generated %s · DET0014 data staging (ATT&amp;CK T1074)",
		e(opt.Title), e(opt.Product.Name), e(opt.Product.Version), e(formatTime(opt.Generated)))
	if len(opt.Sources) > 0 {
		bw.WriteString(" · from " + e(strings.Join(opt.Sources, ", ")))
	}
	bw.WriteString("</p></header>\n<main>\n<section id=\"summary\">\n")
	fmt.Fprintf(bw, "<div class=\"total\"><span id=\"total\">%d</span> detections, <span id=\"shown\">%d</span> shown</div>\n", len(dets), len(dets))
	summary := func(title, key string, counts map[string]int, order []string) {
		fmt.Fprintf(bw, "<table class=\"sum\" id=\"by-%s\"><caption>%s</caption>", key, title)
		for _, k := range order {
			n, ok := counts[k]
			if !ok {
				continue
			}
			label := k
			if label == "" {
				label = "(none)"
			}
			fmt.Fprintf(bw, "<tr><th class=\"%s-%s\">%s</th><td data-count=\"%s:%s\">%d</td></tr>", key, e(k), e(label), key, e(k), n)
		}
		bw.WriteString("</table>\n")
	}
	summary("By severity", "severity", bySev, sortedKeys(bySev, []string{"high", "medium", "low"}))
	summary("By platform", "platform", byPlat, sortedKeys(byPlat, []string{"windows", "linux", "darwin", "aws", "esxi"}))
	summary("By analytic", "analytic", byAn, sortedKeys(byAn, nil))
	bw.WriteString("</section>\n<form id=\"filters\" onsubmit=\"return false\"><fieldset><legend>Severity</legend>")
	for _, s := range sortedKeys(bySev, []string{"high", "medium", "low"}) {
		fmt.Fprintf(bw, "<label><input type=\"checkbox\" name=\"severity\" value=\"%s\" checked> %s</label>", e(s), e(s))
	}
	bw.WriteString("</fieldset><fieldset><legend>Platform</legend>")
	for _, p := range sortedKeys(byPlat, []string{"windows", "linux", "darwin", "aws", "esxi"}) {
		fmt.Fprintf(bw, "<label><input type=\"checkbox\" name=\"platform\" value=\"%s\" checked> %s</label>", e(p), e(p))
	}
	bw.WriteString("</fieldset></form>\n<section id=\"detections\">\n")
	for i := range dets {
		writeDetectionHTML(bw, &dets[i], i)
	}
	// Each detection's timeline and evidence table are drawn by the page
	// from this data as they come into view: a browser parses a script's
	// text far faster than it builds the same tables, so 10,000
	// detections open in about a second instead of four.
	bw.WriteString("</section>\n</main>\n<script type=\"application/json\" id=\"evidence\">[")
	enc := json.NewEncoder(bw) // escapes <, > and & : nothing in it can end the script
	for i := range dets {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(timelineOf(&dets[i])); err != nil {
			return err
		}
	}
	bw.WriteString("]</script>\n<script>")
	bw.WriteString(reportJS)
	bw.WriteString("</script>\n</body></html>\n")
	return bw.Flush()
}

// sortedKeys lists counts' keys: those in first in its order, the rest by
// name.
func sortedKeys(counts map[string]int, first []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range first {
		if _, ok := counts[k]; ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range counts {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func writeDetectionHTML(w *bufio.Writer, d *Detection, i int) {
	e := html.EscapeString
	fmt.Fprintf(w, "<article class=\"det\" id=\"d-%s\" data-i=\"%d\" data-severity=\"%s\" data-platform=\"%s\">\n", e(d.UID), i, e(d.Severity), e(d.Platform))
	fmt.Fprintf(w, "<h2><span class=\"sev %s\">%s %d</span> %s · %s · %s %s</h2>\n", e(d.Severity), e(strings.ToUpper(d.Severity)), d.Score,
		e(formatTime(d.Time)), e(d.Host), e(d.AnalyticID), e(d.Platform))
	w.WriteString("<dl>")
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "<dt>%s</dt><dd>%s</dd>", k, e(v))
		}
	}
	field("reason", d.Reason)
	field("actor", d.Actor)
	staging := d.StagingPath
	if d.ArchivePath != "" {
		staging += " → " + d.ArchivePath
	}
	field("staging", staging)
	field("tools", strings.Join(d.Tools(), ", "))
	files := strconv.FormatInt(d.FileCount, 10) + " " + plural(d.FileCount, "file", "files")
	if d.Bytes > 0 {
		files += ", " + HumanBytes(d.Bytes)
	}
	field("files", files)
	field("process", d.Process)
	w.WriteString("<dt>ATT&amp;CK</dt><dd class=\"tech\">")
	for _, t := range d.Techniques {
		fmt.Fprintf(w, "<a href=\"%s\" title=\"%s\">%s</a> ", e(techniqueURL(t)), e(TechniqueName(t)), e(t))
	}
	fmt.Fprintf(w, "</dd><dt>uid</dt><dd><code>%s</code></dd></dl>\n", e(d.UID))
	if len(d.Evidence) > 0 {
		fmt.Fprintf(w, "<div class=\"more\" data-events=\"%d\"></div>\n", len(d.Evidence))
	}
	w.WriteString("</article>\n")
}

// timeline is one detection's evidence as the page draws it: the axis's
// two labels, then per event its place on the axis (0 to 1), its time,
// step, path, process, note, command line and mark (0 a file event, 1 a
// process, 2 the archive step or its encryption).
type timeline struct {
	From   string  `json:"a"`
	To     string  `json:"b"`
	Events [][]any `json:"e"`
}

func timelineOf(d *Detection) timeline {
	if len(d.Evidence) == 0 {
		return timeline{Events: [][]any{}}
	}
	first, last := d.Evidence[0].Time, d.Evidence[0].Time
	for _, ev := range d.Evidence {
		if ev.Time.IsZero() {
			continue
		}
		if first.IsZero() || ev.Time.Before(first) {
			first = ev.Time
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
	}
	span := last.Sub(first).Seconds()
	tl := timeline{From: clock(first), To: clock(last) + " (+" + last.Sub(first).Round(time.Second).String() + ")"}
	for _, ev := range d.Evidence {
		x := 0.0
		if span > 0 && !ev.Time.IsZero() {
			x = float64(int(ev.Time.Sub(first).Seconds()/span*10000)) / 10000
		}
		proc := baseName(ev.Process)
		if ev.PID > 0 {
			proc += " (" + strconv.FormatInt(ev.PID, 10) + ")"
		}
		mark := 0
		switch {
		case strings.HasPrefix(ev.Note, "archive step") || strings.HasPrefix(ev.Note, "encryption"):
			mark = 2
		case ev.Kind == "exec":
			mark = 1
		}
		tl.Events = append(tl.Events, []any{x, clockMillis(ev.Time), ev.Kind, ev.Path, proc, ev.Note, ev.Cmdline, mark})
	}
	return tl
}

const reportCSS = `
:root{--fg:#1d2330;--muted:#5b6476;--bg:#fff;--line:#d5d9e0;--high:#b3261e;--medium:#a15c00;--low:#1e6b8a}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:#f6f7f9}h1{margin:0;font-size:20px}.meta{margin:4px 0 0;color:var(--muted)}
main{padding:16px 24px}#summary{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}.total{font-size:18px;width:100%}
table.sum{border-collapse:collapse;min-width:160px}table.sum caption{text-align:left;font-weight:600;padding-bottom:4px}
table.sum th,table.sum td{border-top:1px solid var(--line);padding:3px 8px;text-align:left}table.sum td{text-align:right;font-variant-numeric:tabular-nums}
#filters{display:flex;gap:16px;margin:16px 0}fieldset{border:1px solid var(--line);border-radius:6px}label{margin-right:10px}
article.det{border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:12px 0;content-visibility:auto;contain-intrinsic-size:auto 320px}
article.det[hidden]{display:none}h2{font-size:15px;margin:0 0 6px}.sev{padding:1px 6px;border-radius:4px;color:#fff}
.sev.high{background:var(--high)}.sev.medium{background:var(--medium)}.sev.low{background:var(--low)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dt{color:var(--muted)}dd{margin:0;word-break:break-all}
.tech a{font-family:ui-monospace,monospace;color:#3a4fb0;margin-right:4px}
svg.tl{display:block;max-width:100%;height:auto;margin:6px 0}svg .axis{stroke:#9aa3b2;stroke-width:2}svg .f{fill:#3a7bd5}svg .p{fill:#6b4fbb}svg .k{fill:var(--high)}
svg text{font-size:11px;fill:var(--muted)}
table.ev{border-collapse:collapse;width:100%;font-size:12.5px}table.ev th,table.ev td{border-top:1px solid var(--line);padding:2px 6px;text-align:left;vertical-align:top}
table.ev td:nth-child(3){font-family:ui-monospace,monospace;word-break:break-all}table.ev tr.key td{font-weight:600}
`

const reportJS = `
(function(){
  "use strict";
  var data = null;
  function esc(s){ return String(s).replace(/[&<>"']/g, function(c){ return {"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]; }); }
  // The timeline (SVG: a dot per file event, a square per process, the
  // archive step and its encryption red) and the evidence table of one
  // detection, drawn from the evidence data once.
  function draw(a){
    var more = a.querySelector("div.more");
    if (!more || more.dataset.drawn) return;
    more.dataset.drawn = "1";
    if (!data) data = JSON.parse(document.getElementById("evidence").textContent);
    var tl = data[+a.dataset.i], L = 10, R = 710, svg = [], rows = [];
    svg.push('<svg class="tl" viewBox="0 0 720 46" width="720" height="46" role="img" aria-label="timeline of ' + tl.e.length + ' events">');
    svg.push('<line x1="10" y1="20" x2="710" y2="20" class="axis"/>');
    tl.e.forEach(function(ev){
      var x = L + (R - L) * ev[0], title = '<title>' + esc(ev[1] + " " + ev[2] + " " + ev[3] + " " + ev[5]) + '</title>';
      if (ev[7] === 2) svg.push('<rect x="' + (x - 7).toFixed(1) + '" y="13" width="14" height="14" class="k" transform="rotate(45 ' + x.toFixed(1) + ' 20)">' + title + '</rect>');
      else if (ev[7] === 1) svg.push('<rect x="' + (x - 5).toFixed(1) + '" y="15" width="10" height="10" class="p">' + title + '</rect>');
      else svg.push('<circle cx="' + x.toFixed(1) + '" cy="20" r="5" class="f">' + title + '</circle>');
      rows.push('<tr' + (ev[7] === 2 ? ' class="key"' : '') + '><td>' + esc(ev[1]) + '</td><td>' + esc(ev[2]) + '</td><td>' + esc(ev[3]) +
        '</td><td title="' + esc(ev[6]) + '">' + esc(ev[4]) + '</td><td>' + esc(ev[5]) + '</td></tr>');
    });
    svg.push('<text x="10" y="42">' + esc(tl.a) + '</text><text x="710" y="42" text-anchor="end">' + esc(tl.b) + '</text></svg>');
    more.innerHTML = svg.join("") + '<table class="ev"><thead><tr><th>time</th><th>step</th><th>path or object</th><th>process</th><th>note</th></tr></thead><tbody>' + rows.join("") + '</tbody></table>';
  }
  var all = document.querySelectorAll("article.det");
  if (all.length <= 500 || !("IntersectionObserver" in window)) {
    for (var k = 0; k < all.length; k++) draw(all[k]);
  } else {
    var io = new IntersectionObserver(function(entries){
      entries.forEach(function(en){ if (en.isIntersecting) { draw(en.target); io.unobserve(en.target); } });
    }, {rootMargin: "1500px 0px"});
    all.forEach(function(a){ io.observe(a); });
  }
  document.body.dataset.rendered = "1";
  var form = document.getElementById("filters");
  var dets = document.querySelectorAll("article.det");
  function apply(){
    var want = {severity:{}, platform:{}};
    form.querySelectorAll("input[type=checkbox]").forEach(function(c){ if (c.checked) want[c.name][c.value] = true; });
    var shown = 0;
    for (var i = 0; i < dets.length; i++) {
      var d = dets[i];
      var ok = want.severity[d.dataset.severity] === true && want.platform[d.dataset.platform] === true;
      d.hidden = !ok;
      if (ok) shown++;
    }
    document.getElementById("shown").textContent = String(shown);
  }
  form.addEventListener("change", apply);
})();
`
