package an0043

import (
	"strconv"
	"strings"
	"time"

	"github.com/stagewatch/stagewatch/internal/store"
	"github.com/stagewatch/stagewatch/plugins/aws/cloudtrail"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// cloudRecord is one staging_cloud_events row.
type cloudRecord struct{ e *cloudtrail.Event }

func (r *cloudRecord) Time() time.Time { return r.e.Time }

func (r *cloudRecord) Row() sdk.Row {
	e := r.e
	target := e.TargetInstance
	switch {
	case e.Public:
		target = "public"
	case len(e.SharedWith) > 0:
		target = strings.Join(e.SharedWith, ",")
	}
	return sdk.Row{
		"time":           store.UnixSeconds(e.Time),
		"analytic_id":    AnalyticID,
		"platform":       Platform,
		"account":        store.Text(e.Account),
		"region":         store.Text(e.Region),
		"principal":      store.Text(e.Principal),
		"principal_type": store.Text(e.PrincipalType),
		"instance_id":    store.Text(e.Instance),
		"source_ip":      store.Text(e.SourceIP),
		"vpc_endpoint":   store.Text(e.VPCEndpoint),
		"user_agent":     store.Text(e.UserAgent),
		"event_source":   store.Text(e.Source),
		"event_name":     store.Text(e.Name),
		"category":       e.Kind.String(),
		"resource":       store.Text(e.Resource()),
		"copy_source":    store.Text(e.CopySource),
		"target":         store.Text(target),
		"bytes":          strconv.FormatInt(e.Bytes, 10),
		"size_gib":       strconv.FormatInt(e.Size, 10),
		"error_code":     store.Text(e.ErrorCode),
		"invoked_by":     store.Text(e.InvokedBy),
		"request_id":     store.Text(e.RequestID),
		"event_id":       store.Text(e.EventID),
	}
}
