//go:build windows

package an0040

import (
	"bytes"
	"context"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/windows/wevtapi"
	"github.com/stagewatch/stagewatch/plugins/windows/winevent"
	"github.com/stagewatch/stagewatch/plugins/windows/winlog"
)

// liveCollection is how AN0040 collects on Windows: one source, the
// Windows Event Log, subscribed to Sysmon's process, file and delete
// events (optional: Sysmon is not everywhere) and the Security log's
// process creations, object accesses, share accesses and logons.
var liveCollection = &endpoint.Live{
	Sources: []endpoint.Source{
		{Kind: "events", Candidates: []endpoint.Candidate{
			{Name: "wevtapi", Label: "the Windows Event Log", Open: openEventLog},
		}},
	},
}

// channels are what the subscription reads.
var channels = []wevtapi.Channel{
	{Path: winevent.SysmonChannel, EventIDs: []int{1, 2, 11, 23, 26}, Optional: true},
	{Path: winevent.SecurityChannel, EventIDs: []int{4688, 4656, 4663, 5145, 4624}},
}

func openEventLog(env endpoint.Env) (endpoint.Collector, error) {
	d := &decoder{}
	d.n = winevent.New(func(ev *event.Event) { d.out = append(d.out, ev) })
	return wevtapi.Open(wevtapi.Config{Channels: channels, Decode: d.decode, StateDir: env.StateDir})
}

// decoder turns one rendered event into the model's events. One
// normalizer serves the collector's life, so that what a process creation
// said (its user, its logon) completes the file events of that process
// that come after it; what it holds back is handed over with each event.
type decoder struct {
	n   *winevent.Normalizer
	out []*event.Event
}

func (d *decoder) decode(xml []byte) ([]*event.Event, error) {
	d.out = d.out[:0]
	_, err := winlog.ReadXML(context.Background(), bytes.NewReader(xml), d.n.Record)
	d.n.Flush()
	if err != nil {
		return nil, err
	}
	return append([]*event.Event(nil), d.out...), nil
}
