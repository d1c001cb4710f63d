package sdk

import (
	"encoding/binary"
	"errors"
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

// appendPackedRow appends row to buf in the packed layout (see
// RowBatch.packed_rows in the proto): its values in columns' order, each a
// varint byte length followed by its bytes. A value for a column the table
// does not have is an error: it would silently vanish on the host.
func appendPackedRow(buf []byte, row Row, columns []string, table string) ([]byte, error) {
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

// rowsFromPacked rebuilds count rows from a batch's packed_rows. The buffer
// becomes one string and each value a substring of it: one allocation for
// all the values of a batch, and one map per row.
func rowsFromPacked(packed []byte, count int, columns []string) ([]Row, error) {
	switch {
	case count < 0:
		return nil, fmt.Errorf("plugin sent a batch of %d rows", count)
	case len(columns) == 0 && count > 0:
		return nil, errors.New("plugin sent rows of no columns")
	case len(columns) > 0 && count > len(packed)/len(columns):
		// Every value takes at least its length byte.
		return nil, fmt.Errorf("plugin sent %d rows in a %d-byte batch", count, len(packed))
	}
	s := string(packed)
	rows := make([]Row, count)
	off := 0
	for i := range rows {
		row := make(Row, len(columns))
		for _, name := range columns {
			n, width := binary.Uvarint(packed[off:])
			if width <= 0 || n > uint64(len(packed)-off-width) {
				return nil, fmt.Errorf("plugin sent a malformed packed row (row %d, column %s)", i, name)
			}
			off += width
			row[name] = s[off : off+int(n)]
			off += int(n)
		}
		rows[i] = row
	}
	if off != len(packed) {
		return nil, fmt.Errorf("plugin sent %d bytes past its %d packed rows", len(packed)-off, count)
	}
	return rows, nil
}

// rowFromProto rebuilds a row sent one message per row, as plugins built
// with earlier SDKs do: as values, or packed (one string per row, each
// value a substring of it).
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
	rows, err := rowsFromPacked(row.GetPacked(), 1, columns)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
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
