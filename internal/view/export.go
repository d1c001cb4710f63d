package view

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Export formats, each one JSON object a line.
const (
	FormatTimesketch = "timesketch"
	FormatECS        = "ecs"
	FormatOCSF       = "ocsf"
)

// IsExport reports whether name is an export format.
func IsExport(name string) bool {
	return name == FormatTimesketch || name == FormatECS || name == FormatOCSF
}

// Product names stagewatch in the exports' metadata.
type Product struct {
	Name, Vendor, Version string
}

// WriteExport writes dets in the export format.
func WriteExport(w io.Writer, format string, dets []Detection, product Product) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range dets {
		var docs []any
		switch format {
		case FormatTimesketch:
			docs = Timesketch(&dets[i])
		case FormatECS:
			docs = []any{ECS(&dets[i], product)}
		case FormatOCSF:
			docs = []any{OCSF(&dets[i], product)}
		default:
			return fmt.Errorf("unknown export format %q", format)
		}
		for _, doc := range docs {
			if err := enc.Encode(doc); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// obj is a JSON object whose keys keep the order they were set in, so
// exported lines read the same every time.
type obj struct {
	keys []string
	vals map[string]any
}

func newObj() *obj { return &obj{vals: map[string]any{}} }

func (o *obj) set(k string, v any) *obj {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// opt sets k only when v is not empty.
func (o *obj) opt(k string, v any) *obj {
	switch x := v.(type) {
	case string:
		if x == "" {
			return o
		}
	case int64:
		if x == 0 {
			return o
		}
	case []string:
		if len(x) == 0 {
			return o
		}
	case nil:
		return o
	}
	return o.set(k, v)
}

func (o *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		var vb bytes.Buffer
		enc := json.NewEncoder(&vb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(o.vals[k]); err != nil {
			return nil, err
		}
		b.Write(bytes.TrimRight(vb.Bytes(), "\n"))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// Timesketch is a detection as Timesketch timeline events: the detection
// itself ("Detection raised" at its time), then each event of its evidence
// at its own time, all carrying the detection's uid so one query
// (detection_uid:…) brings the story back together.
func Timesketch(d *Detection) []any {
	common := func(o *obj) *obj {
		return o.set("detection_uid", d.UID).set("detection_id", d.DetectionID).set("analytic_id", d.AnalyticID).
			set("technique_id", d.TechniqueID).set("techniques", nonNil(d.Techniques)).set("platform", d.Platform).
			set("hostname", d.Host).set("severity", d.Severity).set("score", d.Score).
			set("tag", []string{"stagewatch", d.Severity})
	}
	out := make([]any, 0, 1+len(d.Evidence))
	head := newObj().
		set("message", "["+strings.ToUpper(d.Severity)+" "+fmt.Sprint(d.Score)+"] "+d.Reason).
		set("datetime", rfc3339(d.Time)).set("timestamp", d.Time.UnixMicro()).
		set("timestamp_desc", "Detection raised").set("data_type", "stagewatch:detection")
	common(head).set("actor", d.Actor).set("process", d.Process).set("staging_path", d.StagingPath).
		set("archive_path", d.ArchivePath).set("file_count", d.FileCount).set("bytes", d.Bytes).
		set("first_seen", rfc3339(d.FirstSeen)).set("last_seen", rfc3339(d.LastSeen)).set("reason", d.Reason)
	out = append(out, head)
	for i, e := range d.Evidence {
		t := e.Time
		if t.IsZero() {
			t = d.Time
		}
		msg := e.Kind
		if e.Path != "" {
			msg += " " + e.Path
		}
		if proc := baseName(e.Process); proc != "" {
			msg += " by " + proc
		}
		if e.Note != "" {
			msg += " (" + e.Note + ")"
		}
		o := newObj().set("message", msg).set("datetime", rfc3339(t)).set("timestamp", t.UnixMicro()).
			set("timestamp_desc", evidenceDesc(e.Kind)).set("data_type", "stagewatch:evidence")
		common(o).set("evidence_index", i).set("kind", e.Kind).opt("path", e.Path).opt("size", e.Size).
			opt("pid", e.PID).opt("process", e.Process).opt("cmdline", e.Cmdline).opt("actor", e.Actor).opt("note", e.Note)
		out = append(out, o)
	}
	return out
}

func evidenceDesc(kind string) string {
	switch kind {
	case "exec":
		return "Process started"
	case "create":
		return "File created"
	case "write":
		return "File written"
	case "move_in":
		return "File moved in"
	case "copy":
		return "File copied"
	case "delete":
		return "File deleted"
	case "move_out":
		return "File moved out"
	}
	return "Event time"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ecsSeverity maps severity to ECS's numeric event.severity (the
// Elastic Security rule scale: low 21, medium 47, high 73).
func ecsSeverity(sev string) int {
	switch sev {
	case "high":
		return 73
	case "medium":
		return 47
	case "low":
		return 21
	}
	return 0
}

// hostOSType is ECS's host.os.type for a platform; cloud and ESXi
// platforms have none.
func hostOSType(platform string) string {
	switch platform {
	case "linux", "windows":
		return platform
	case "darwin":
		return "macos"
	}
	return ""
}

// splitPath splits at the last separator of either kind.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexAny(p, `/\`)
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// ECS is a detection as an Elastic Common Schema alert document, nested
// objects as Elasticsearch stores them. file.* is the archive (the staging
// location when no archive is known), process.* the archiving process as
// the evidence's archive step names it, threat.* the ATT&CK techniques;
// what ECS has no field for (file count, evidence) is under stagewatch.*.
func ECS(d *Detection, product Product) any {
	var techIDs, techNames, techRefs, subIDs, subNames []string
	seenTech := map[string]bool{}
	for _, t := range d.Techniques {
		parent := parentTechnique(t)
		if !seenTech[parent] {
			seenTech[parent] = true
			techIDs = append(techIDs, parent)
			techNames = append(techNames, techniqueNames[parent])
			techRefs = append(techRefs, techniqueURL(parent))
		}
		if parent != t {
			subIDs = append(subIDs, t)
			subNames = append(subNames, techniqueNames[t])
		}
	}
	var tacIDs, tacNames, tacRefs []string
	for _, ta := range tactics(d.Techniques) {
		tacIDs = append(tacIDs, ta)
		tacNames = append(tacNames, tacticNames[ta])
		tacRefs = append(tacRefs, "https://attack.mitre.org/tactics/"+ta+"/")
	}
	technique := newObj().set("id", techIDs).set("name", techNames).set("reference", techRefs)
	if len(subIDs) > 0 {
		technique.set("subtechnique", newObj().set("id", subIDs).set("name", subNames))
	}
	target := d.ArchivePath
	if target == "" {
		target = d.StagingPath
	}
	dir, name := splitPath(target)
	file := newObj().set("path", target).opt("directory", dir).opt("name", name)
	if d.ArchivePath == "" {
		file = newObj().set("path", d.StagingPath)
	}
	step := archiveStep(d)
	process := newObj()
	if step != nil {
		process.opt("executable", step.Process).opt("name", baseName(step.Process)).opt("pid", step.PID)
	}
	doc := newObj().
		set("@timestamp", rfc3339(d.Time)).
		set("message", d.Reason).
		set("tags", []string{"stagewatch", d.DetectionID, d.AnalyticID}).
		set("event", newObj().set("kind", "alert").set("category", []string{"file", "process"}).
			set("type", []string{"info"}).set("action", "data-staging").set("dataset", "stagewatch.detections").
			set("module", "stagewatch").set("id", d.UID).set("severity", ecsSeverity(d.Severity)).
			set("risk_score", d.Score).set("reason", d.Reason).
			opt("start", rfc3339(d.FirstSeen)).opt("end", rfc3339(d.LastSeen))).
		set("threat", newObj().
			set("tactic", newObj().set("id", tacIDs).set("name", tacNames).set("reference", tacRefs)).
			set("technique", technique)).
		set("host", hostObj(d)).
		set("user", newObj().set("name", actorName(d.Actor))).
		set("file", file)
	if len(process.keys) > 0 {
		doc.set("process", process)
	}
	doc.set("stagewatch", newObj().set("detection_id", d.DetectionID).set("analytic_id", d.AnalyticID).
		set("platform", d.Platform).set("actor", d.Actor).set("process", d.Process).set("staging_path", d.StagingPath).
		set("archive_path", d.ArchivePath).set("file_count", d.FileCount).set("bytes", d.Bytes).
		set("techniques", nonNil(d.Techniques)).set("evidence", d.Evidence).set("version", product.Version))
	return doc
}

func hostObj(d *Detection) *obj {
	h := newObj().set("name", d.Host)
	if t := hostOSType(d.Platform); t != "" {
		h.set("os", newObj().set("type", t))
	}
	return h
}

// archiveStep is the evidence's archive step (the last exec or write the
// correlator notes as one), else its last event.
func archiveStep(d *Detection) *evidenceRef {
	for i := len(d.Evidence) - 1; i >= 0; i-- {
		if strings.HasPrefix(d.Evidence[i].Note, "archive step") {
			e := d.Evidence[i]
			return &evidenceRef{Process: e.Process, PID: e.PID, Cmdline: e.Cmdline}
		}
	}
	if n := len(d.Evidence); n > 0 {
		e := d.Evidence[n-1]
		return &evidenceRef{Process: e.Process, PID: e.PID, Cmdline: e.Cmdline}
	}
	return nil
}

type evidenceRef struct {
	Process string
	PID     int64
	Cmdline string
}

// actorName is the user name at the head of an actor column: "root" of
// "root (uid 0, auid 1000, tty pts/0)".
func actorName(actor string) string {
	if i := strings.Index(actor, " ("); i > 0 {
		return actor[:i]
	}
	return actor
}

// ocsfSeverity maps severity to OCSF's severity_id (2 Low, 3 Medium, 4
// High; 0 Unknown).
func ocsfSeverity(sev string) (int, string) {
	switch sev {
	case "high":
		return 4, "High"
	case "medium":
		return 3, "Medium"
	case "low":
		return 2, "Low"
	}
	return 0, "Unknown"
}

// OCSF is a detection as an OCSF Detection Finding (class 2004): the
// finding's uid is the detection's, its attacks the ATT&CK techniques,
// its evidences the events behind it, times in milliseconds since the
// epoch as OCSF's timestamp_t is.
func OCSF(d *Detection, product Product) any {
	sevID, sevName := ocsfSeverity(d.Severity)
	var attacks []any
	for _, t := range d.Techniques {
		a := newObj().set("technique", newObj().set("uid", t).set("name", techniqueNames[t]))
		if tas := tactics([]string{t}); len(tas) > 0 {
			a.set("tactic", newObj().set("uid", tas[0]).set("name", tacticNames[tas[0]]))
		}
		a.set("version", "17")
		attacks = append(attacks, a)
	}
	evidences := make([]any, 0, len(d.Evidence))
	for _, e := range d.Evidence {
		ev := newObj()
		if e.Path != "" {
			dir, name := splitPath(e.Path)
			ev.set("file", newObj().set("path", e.Path).set("name", name).opt("parent_folder", dir).set("type_id", 1).opt("size", e.Size))
		}
		if e.Process != "" || e.PID != 0 || e.Cmdline != "" {
			p := newObj().opt("name", baseName(e.Process)).opt("pid", e.PID).opt("cmd_line", e.Cmdline)
			if e.Process != "" {
				p.set("file", newObj().set("path", e.Process).set("name", baseName(e.Process)).set("type_id", 1))
			}
			ev.set("process", p)
		}
		if e.Actor != "" {
			ev.set("actor", newObj().set("user", newObj().set("name", actorName(e.Actor))))
		}
		ev.set("data", newObj().set("kind", e.Kind).opt("note", e.Note).opt("time", rfc3339(e.Time)))
		evidences = append(evidences, ev)
	}
	info := newObj().set("uid", d.UID).set("title", "Data staged before exfiltration ("+d.DetectionID+", "+d.AnalyticID+")").
		set("desc", d.Reason).set("types", []string{"Data Staging"}).
		set("analytic", newObj().set("uid", d.AnalyticID).set("name", d.DetectionID+" "+d.AnalyticID).set("type_id", 1).set("type", "Rule")).
		opt("first_seen_time", millis(d.FirstSeen)).opt("last_seen_time", millis(d.LastSeen))
	if len(attacks) > 0 {
		info.set("attacks", attacks)
	}
	doc := newObj().
		set("activity_id", 1).set("activity_name", "Create").
		set("category_uid", 2).set("category_name", "Findings").
		set("class_uid", 2004).set("class_name", "Detection Finding").
		set("type_uid", 200401).set("type_name", "Detection Finding: Create").
		set("severity_id", sevID).set("severity", sevName).
		set("time", millis(d.Time)).
		set("message", d.Reason).
		set("status_id", 1).set("status", "New").
		set("is_alert", true).
		set("risk_score", d.Score).
		opt("start_time", millis(d.FirstSeen)).opt("end_time", millis(d.LastSeen)).
		set("metadata", newObj().set("version", "1.5.0").
			set("product", newObj().set("name", product.Name).set("vendor_name", product.Vendor).set("version", product.Version)).
			set("uid", d.UID)).
		set("finding_info", info).
		set("device", newObj().set("hostname", d.Host).set("type_id", 0)).
		set("actor", newObj().set("user", newObj().set("name", actorName(d.Actor)))).
		set("evidences", evidences).
		set("resources", []any{newObj().set("name", d.StagingPath).set("type", "staging location")}).
		set("unmapped", newObj().set("platform", d.Platform).set("process", d.Process).set("archive_path", d.ArchivePath).
			set("file_count", d.FileCount).set("bytes", d.Bytes).set("techniques", nonNil(d.Techniques)))
	return doc
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
