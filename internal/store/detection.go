package store

import (
	"strconv"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// NewDetection is d as a staging_detections record, every analytic's
// detections rendered the same way; host fills the host column when d
// names none.
func NewDetection(d *event.Detection, host string) Record {
	rec := &detectionRecord{d: *d, evidence: EvidenceJSON(d.Evidence), host: host}
	rec.d.Evidence = nil
	return rec
}

type detectionRecord struct {
	d event.Detection // Evidence cleared: evidence holds it, rendered
	// evidence is the evidence column, rendered once when the detection
	// is stored: detections change rarely and are read by every query, and
	// marshalling evidence was most of the cost of generating their rows.
	evidence string
	host     string // the host column when the detection names none
}

func (r *detectionRecord) Time() time.Time { return r.d.Time }

func (r *detectionRecord) Row() sdk.Row {
	d := &r.d
	return sdk.Row{
		"time":         UnixSeconds(d.Time),
		"detection_id": Text(d.DetectionID),
		"analytic_id":  Text(d.AnalyticID),
		"technique_id": Text(d.TechniqueID),
		"platform":     Text(d.Platform),
		"host":         Text(hostOr(d.Host, r.host)),
		"actor":        Text(d.Actor),
		"process":      Text(d.Process),
		"staging_path": Text(d.StagingPath),
		"archive_path": Text(d.ArchivePath),
		"file_count":   strconv.FormatInt(d.FileCount, 10),
		"bytes":        strconv.FormatInt(d.Bytes, 10),
		"first_seen":   UnixSeconds(d.FirstSeen),
		"last_seen":    UnixSeconds(d.LastSeen),
		"severity":     Text(d.Severity),
		"score":        strconv.Itoa(d.Score),
		"reason":       Text(d.Reason),
		"evidence":     r.evidence,
		"uid":          Text(d.UID),
		"techniques":   techniquesColumn(d),
	}
}

// techniquesColumn is the techniques column: the detection's techniques,
// its technique_id first; only technique_id for a detection kept before
// the column existed.
func techniquesColumn(d *event.Detection) string {
	if len(d.Techniques) == 0 {
		if d.TechniqueID == "" {
			return "[]"
		}
		return JSONStrings([]string{Text(d.TechniqueID)})
	}
	list := make([]string, len(d.Techniques))
	for i, t := range d.Techniques {
		list[i] = Text(t)
	}
	return JSONStrings(list)
}

func hostOr(h, fallback string) string {
	if h == "" {
		return fallback
	}
	return h
}
