package sdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

// The enums below share their numeric values with stagewatch.v1 on purpose,
// so converting is a cast; a value one side does not know yet passes through
// unchanged and its String method says "unspecified".

func descriptorToProto(d Descriptor) *stagewatchv1.DescribeResponse {
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
		resp.Tables = append(resp.Tables, tableToProto(t))
	}
	return resp
}

func descriptorFromProto(resp *stagewatchv1.DescribeResponse) Descriptor {
	d := Descriptor{
		AnalyticID:   resp.GetAnalyticId(),
		DetectionID:  resp.GetDetectionId(),
		TechniqueID:  resp.GetTechniqueId(),
		Platform:     resp.GetPlatform(),
		Version:      resp.GetVersion(),
		Name:         resp.GetName(),
		Description:  resp.GetDescription(),
		Remote:       resp.GetRemote(),
		InputFormats: resp.GetInputFormats(),
	}
	for _, e := range resp.GetMutableElements() {
		element := MutableElement{
			Name:        e.GetName(),
			Type:        ElementType(e.GetType()),
			Description: e.GetDescription(),
			Allowed:     e.GetAllowed(),
		}
		if e.GetDefaultJson() != "" {
			element.Default = []byte(e.GetDefaultJson())
		}
		d.MutableElements = append(d.MutableElements, element)
	}
	for _, t := range resp.GetTables() {
		d.Tables = append(d.Tables, tableFromProto(t))
	}
	return d
}

func tableToProto(t TableSpec) *stagewatchv1.TableSpec {
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

func tableFromProto(spec *stagewatchv1.TableSpec) TableSpec {
	t := TableSpec{Name: spec.GetName(), Description: spec.GetDescription()}
	for _, c := range spec.GetColumns() {
		t.Columns = append(t.Columns, ColumnSpec{
			Name:        c.GetName(),
			Type:        ColumnType(c.GetType()),
			Description: c.GetDescription(),
		})
	}
	return t
}

func configureRequestToProto(req ConfigureRequest) *stagewatchv1.ConfigureRequest {
	return &stagewatchv1.ConfigureRequest{
		ConfigJson:     req.Config,
		Mode:           stagewatchv1.Mode(req.Mode),
		HostIdentifier: req.HostIdentifier,
	}
}

func configureRequestFromProto(req *stagewatchv1.ConfigureRequest) ConfigureRequest {
	return ConfigureRequest{
		Config:         req.GetConfigJson(),
		Mode:           Mode(req.GetMode()),
		HostIdentifier: req.GetHostIdentifier(),
	}
}

func constraintsToProto(constraints []Constraint) []*stagewatchv1.Constraint {
	out := make([]*stagewatchv1.Constraint, len(constraints))
	for i, c := range constraints {
		out[i] = &stagewatchv1.Constraint{Column: c.Column, Op: stagewatchv1.Operator(c.Op), Expr: c.Expr}
	}
	return out
}

func constraintsFromProto(constraints []*stagewatchv1.Constraint) []Constraint {
	out := make([]Constraint, len(constraints))
	for i, c := range constraints {
		out[i] = Constraint{Column: c.GetColumn(), Op: Operator(c.GetOp()), Expr: c.GetExpr()}
	}
	return out
}

// rowToProto lays row out in columns' order, packed into one buffer (see
// Row.packed in the proto), using scratch as working space; it returns
// scratch for reuse. A value for a column the table does not have is an
// error: it would silently vanish on the host. It also returns the bytes the
// values take, for batch sizing.
func rowToProto(row Row, columns []string, table string, scratch []byte) (*stagewatchv1.Row, []byte, int, error) {
	scratch = scratch[:0]
	size, matched := 0, 0
	for _, name := range columns {
		v, ok := row[name]
		if ok {
			matched++
		}
		scratch = binary.AppendUvarint(scratch, uint64(len(v)))
		scratch = append(scratch, v...)
		size += len(v)
	}
	if matched != len(row) {
		known := make(map[string]bool, len(columns))
		for _, name := range columns {
			known[name] = true
		}
		for name := range row {
			if !known[name] {
				return nil, scratch, 0, fmt.Errorf("row has column %q, which table %s does not have", name, table)
			}
		}
	}
	return &stagewatchv1.Row{Packed: bytes.Clone(scratch)}, scratch, size, nil
}

// rowFromProto rebuilds a row. A packed row becomes one string, and each
// value a substring of it: one allocation for the values of a row.
func rowFromProto(row *stagewatchv1.Row, columns []string) (Row, error) {
	out := make(Row, len(columns))
	if values := row.GetValues(); len(values) > 0 || row.GetPacked() == nil {
		if len(values) != len(columns) {
			return nil, fmt.Errorf("plugin sent a row of %d values for %d columns", len(values), len(columns))
		}
		for i, name := range columns {
			out[name] = values[i]
		}
		return out, nil
	}
	packed := string(row.GetPacked())
	for _, name := range columns {
		n, width := binary.Uvarint([]byte(packed[:min(len(packed), binary.MaxVarintLen64)]))
		if width <= 0 || n > uint64(len(packed)-width) {
			return nil, fmt.Errorf("plugin sent a malformed packed row (column %s)", name)
		}
		out[name] = packed[width : width+int(n)]
		packed = packed[width+int(n):]
	}
	if len(packed) != 0 {
		return nil, fmt.Errorf("plugin sent a packed row with %d bytes past its %d columns", len(packed), len(columns))
	}
	return out, nil
}

func ingestStatsToProto(s IngestStats) *stagewatchv1.IngestStats {
	return &stagewatchv1.IngestStats{
		Bytes:       s.Bytes,
		Records:     s.Records,
		Events:      s.Events,
		ParseErrors: s.ParseErrors,
		Detections:  s.Detections,
		FirstError:  s.FirstError,
	}
}

func ingestStatsFromProto(s *stagewatchv1.IngestStats) IngestStats {
	return IngestStats{
		Bytes:       s.GetBytes(),
		Records:     s.GetRecords(),
		Events:      s.GetEvents(),
		ParseErrors: s.GetParseErrors(),
		Detections:  s.GetDetections(),
		FirstError:  s.GetFirstError(),
	}
}

func healthToProto(h Health) *stagewatchv1.HealthResponse {
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

func healthFromProto(resp *stagewatchv1.HealthResponse) Health {
	c := resp.GetCounters()
	h := Health{
		State:   State(resp.GetState()),
		Message: resp.GetMessage(),
		Counters: Counters{
			EventsSeen:      c.GetEventsSeen(),
			EventsDropped:   c.GetEventsDropped(),
			ParseErrors:     c.GetParseErrors(),
			Detections:      c.GetDetections(),
			CollectorErrors: c.GetCollectorErrors(),
			Extra:           c.GetExtra(),
		},
	}
	if resp.GetStartedUnix() != 0 {
		h.Started = time.Unix(resp.GetStartedUnix(), 0)
	}
	return h
}
