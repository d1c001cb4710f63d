// Package fromproto converts the generated stagewatch.v1 messages back into
// the contract's Go types (package sdk); see package toproto.
package fromproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

// Descriptor converts an analytic's self-description.
func Descriptor(resp *stagewatchv1.DescribeResponse) sdk.Descriptor {
	d := sdk.Descriptor{
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
		element := sdk.MutableElement{
			Name:        e.GetName(),
			Type:        sdk.ElementType(e.GetType()),
			Description: e.GetDescription(),
			Allowed:     e.GetAllowed(),
		}
		if e.GetDefaultJson() != "" {
			element.Default = []byte(e.GetDefaultJson())
		}
		d.MutableElements = append(d.MutableElements, element)
	}
	for _, t := range resp.GetTables() {
		d.Tables = append(d.Tables, Table(t))
	}
	return d
}

// Table converts one table's spec.
func Table(spec *stagewatchv1.TableSpec) sdk.TableSpec {
	t := sdk.TableSpec{Name: spec.GetName(), Description: spec.GetDescription()}
	for _, c := range spec.GetColumns() {
		t.Columns = append(t.Columns, sdk.ColumnSpec{
			Name:        c.GetName(),
			Type:        sdk.ColumnType(c.GetType()),
			Description: c.GetDescription(),
		})
	}
	return t
}

// ConfigureRequest converts a configuration request.
func ConfigureRequest(req *stagewatchv1.ConfigureRequest) sdk.ConfigureRequest {
	st := req.GetState()
	return sdk.ConfigureRequest{
		Config:         req.GetConfigJson(),
		Mode:           sdk.Mode(req.GetMode()),
		HostIdentifier: req.GetHostIdentifier(),
		StateDir:       req.GetStateDir(),
		State: sdk.StateLimits{
			EventsExpiry:     time.Duration(st.GetEventsExpirySeconds()) * time.Second,
			EventsMax:        int(st.GetEventsMax()),
			DetectionsExpiry: time.Duration(st.GetDetectionsExpirySeconds()) * time.Second,
			DetectionsMax:    int(st.GetDetectionsMax()),
		},
	}
}

// Constraints converts pushed-down WHERE terms.
func Constraints(constraints []*stagewatchv1.Constraint) []sdk.Constraint {
	out := make([]sdk.Constraint, len(constraints))
	for i, c := range constraints {
		out[i] = sdk.Constraint{Column: c.GetColumn(), Op: sdk.Operator(c.GetOp()), Expr: c.GetExpr()}
	}
	return out
}

// PackedRows rebuilds count rows from a batch's packed_rows. The buffer
// becomes one string and each value a substring of it: one allocation for
// all the values of a batch, and one map per row.
func PackedRows(packed []byte, count int, columns []string) ([]sdk.Row, error) {
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
	rows := make([]sdk.Row, count)
	off := 0
	for i := range rows {
		row := make(sdk.Row, len(columns))
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

// Row rebuilds a row sent one message per row, as plugins built with
// earlier SDKs do: as values, or packed (one string per row, each value a
// substring of it).
func Row(row *stagewatchv1.Row, columns []string) (sdk.Row, error) {
	out := make(sdk.Row, len(columns))
	if values := row.GetValues(); len(values) > 0 || row.GetPacked() == nil {
		if len(values) != len(columns) {
			return nil, fmt.Errorf("plugin sent a row of %d values for %d columns", len(values), len(columns))
		}
		for i, name := range columns {
			out[name] = values[i]
		}
		return out, nil
	}
	rows, err := PackedRows(row.GetPacked(), 1, columns)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

// IngestStats converts what one Ingest read.
func IngestStats(s *stagewatchv1.IngestStats) sdk.IngestStats {
	return sdk.IngestStats{
		Bytes:       s.GetBytes(),
		Records:     s.GetRecords(),
		Events:      s.GetEvents(),
		ParseErrors: s.GetParseErrors(),
		Detections:  s.GetDetections(),
		FirstError:  s.GetFirstError(),
	}
}

// Health converts an analytic's state and counters.
func Health(resp *stagewatchv1.HealthResponse) sdk.Health {
	c := resp.GetCounters()
	h := sdk.Health{
		State:   sdk.State(resp.GetState()),
		Message: resp.GetMessage(),
		Counters: sdk.Counters{
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
