// Package toproto converts the contract's Go types (package sdk) into the
// generated stagewatch.v1 messages. The enums share their numeric values
// with stagewatch.v1 on purpose, so converting is a cast; a value one side
// does not know yet passes through unchanged and its String method says
// "unspecified".
package toproto

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

// Descriptor converts an analytic's self-description.
func Descriptor(d sdk.Descriptor) *stagewatchv1.DescribeResponse {
	resp := &stagewatchv1.DescribeResponse{
		AnalyticId:   d.AnalyticID,
		DetectionId:  d.DetectionID,
		TechniqueId:  d.TechniqueID,
		Platform:     d.Platform,
		Version:      d.Version,
		Name:         d.Name,
		Description:  d.Description,
		Remote:       d.Remote,
		InputFormats: d.InputFormats,
	}
	for _, e := range d.MutableElements {
		resp.MutableElements = append(resp.MutableElements, &stagewatchv1.MutableElement{
			Name:        e.Name,
			Type:        stagewatchv1.ElementType(e.Type),
			DefaultJson: string(e.Default),
			Description: e.Description,
			Allowed:     e.Allowed,
		})
	}
	for _, t := range d.Tables {
		resp.Tables = append(resp.Tables, Table(t))
	}
	return resp
}

// Table converts one table's spec.
func Table(t sdk.TableSpec) *stagewatchv1.TableSpec {
	spec := &stagewatchv1.TableSpec{Name: t.Name, Description: t.Description}
	for _, c := range t.Columns {
		spec.Columns = append(spec.Columns, &stagewatchv1.ColumnSpec{
			Name:        c.Name,
			Type:        stagewatchv1.ColumnType(c.Type),
			Description: c.Description,
		})
	}
	return spec
}

// ConfigureRequest converts a configuration request.
func ConfigureRequest(req sdk.ConfigureRequest) *stagewatchv1.ConfigureRequest {
	return &stagewatchv1.ConfigureRequest{
		ConfigJson:     req.Config,
		Mode:           stagewatchv1.Mode(req.Mode),
		HostIdentifier: req.HostIdentifier,
		StateDir:       req.StateDir,
		State: &stagewatchv1.StateLimits{
			EventsExpirySeconds:     int64(req.State.EventsExpiry / time.Second),
			EventsMax:               int64(req.State.EventsMax),
			DetectionsExpirySeconds: int64(req.State.DetectionsExpiry / time.Second),
			DetectionsMax:           int64(req.State.DetectionsMax),
		},
	}
}

// Constraints converts pushed-down WHERE terms.
func Constraints(constraints []sdk.Constraint) []*stagewatchv1.Constraint {
	out := make([]*stagewatchv1.Constraint, len(constraints))
	for i, c := range constraints {
		out[i] = &stagewatchv1.Constraint{Column: c.Column, Op: stagewatchv1.Operator(c.Op), Expr: c.Expr}
	}
	return out
}

// AppendPackedRow appends row to buf in the packed layout (see
// RowBatch.packed_rows in the proto): its values in columns' order, each a
// varint byte length followed by its bytes. A value for a column the table
// does not have is an error: it would silently vanish on the host.
func AppendPackedRow(buf []byte, row sdk.Row, columns []string, table string) ([]byte, error) {
	matched := 0
	for _, name := range columns {
		v, ok := row[name]
		if ok {
			matched++
		}
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	if matched != len(row) {
		known := make(map[string]bool, len(columns))
		for _, name := range columns {
			known[name] = true
		}
		for name := range row {
			if !known[name] {
				return buf, fmt.Errorf("row has column %q, which table %s does not have", name, table)
			}
		}
	}
	return buf, nil
}

// IngestStats converts what one Ingest read.
func IngestStats(s sdk.IngestStats) *stagewatchv1.IngestStats {
	return &stagewatchv1.IngestStats{
		Bytes:       s.Bytes,
		Records:     s.Records,
		Events:      s.Events,
		ParseErrors: s.ParseErrors,
		Detections:  s.Detections,
		FirstError:  s.FirstError,
	}
}

// Health converts an analytic's state and counters.
func Health(h sdk.Health) *stagewatchv1.HealthResponse {
	resp := &stagewatchv1.HealthResponse{
		State:   stagewatchv1.State(h.State),
		Message: h.Message,
		Counters: &stagewatchv1.Counters{
			EventsSeen:      h.EventsSeen,
			EventsDropped:   h.EventsDropped,
			ParseErrors:     h.ParseErrors,
			Detections:      h.Detections,
			CollectorErrors: h.CollectorErrors,
			Extra:           h.Extra,
		},
	}
	if !h.Started.IsZero() {
		resp.StartedUnix = h.Started.Unix()
	}
	return resp
}
