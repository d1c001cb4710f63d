package an0044

import (
	"time"

	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// esxiRecord is one staging_esxi_events row.
type esxiRecord struct{ e *activity.Event }

func (r *esxiRecord) Time() time.Time { return r.e.Time }

func (r *esxiRecord) Row() sdk.Row {
	e := r.e
	failed := "0"
	if e.Failed {
		failed = "1"
	}
	return sdk.Row{
		"time":        store.UnixSeconds(e.Time),
		"analytic_id": AnalyticID,
		"platform":    Platform,
		"host":        store.Text(e.Host),
		"vm":          store.Text(e.VM),
		"datastore":   store.Text(e.Datastore),
		"path":        store.Text(e.Path),
		"dest":        store.Text(e.Dest),
		"user":        store.Text(e.User),
		"source":      store.Text(e.Source),
		"action":      store.Text(string(e.Action)),
		"task_id":     store.Text(e.TaskID),
		"op_id":       store.Text(e.OpID),
		"tool":        store.Text(e.Tool),
		"user_agent":  store.Text(e.UserAgent),
		"peer":        store.Text(e.Peer),
		"failed":      failed,
		"details":     store.Text(e.Details),
		"key":         store.Text(e.Key),
	}
}
