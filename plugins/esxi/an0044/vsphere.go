package an0044

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/vsphere"
)

// testInterval and testBackoff shorten polling in tests; unset in
// production.
var (
	testInterval time.Duration
	testBackoff  time.Duration
)

// startVSphere starts a poller per vsphere[] entry.
func startVSphere(ctx context.Context, a *Analytic, lv *liveRun) error {
	a.pmu.Lock()
	state := a.state
	a.pmu.Unlock()
	counters := a.Counters()
	now := time.Now()
	for _, v := range a.set.vsphere {
		u, _ := url.Parse(v.URL)
		col := &vsphere.Collector{
			Config: vsphere.Config{URL: u, Username: v.Username, Password: v.password, Thumbprint: v.Thumbprint, Insecure: v.Insecure,
				CAFile: v.CAFile, Tasks: v.Tasks, Start: v.Start.From(now), InventoryInterval: time.Duration(v.InventoryInterval)},
			Cursors:  state,
			Counters: counters,
			Sink: func(ctx context.Context, evs []activity.Event, cursors map[string]string) (int, error) {
				return a.Process(ctx, evs, cursors)
			},
			Names: func(server string, names map[string]string) { a.vmids.set(server, names) },
			Warn: func(msg string) {
				logf("warning: %s", msg)
				lv.mu.Lock()
				lv.warnings = append(lv.warnings, "warning: "+msg)
				lv.mu.Unlock()
			},
		}
		interval := a.set.poll
		if testInterval > 0 {
			interval = testInterval
		}
		p := &remote.Poller{Name: "vsphere " + col.Name(), Interval: interval, Backoff: remote.Backoff{Min: time.Second, Max: 5 * time.Minute}}
		if testBackoff > 0 {
			p.Backoff = remote.Backoff{Min: testBackoff, Max: 4 * testBackoff}
		}
		name := p.Name
		p.Step = func(ctx context.Context) (bool, error) {
			more, err := col.Step(ctx)
			if err == nil {
				lv.setFailure(name, "")
			}
			return more, err
		}
		p.Failed = func(name string, err error, wait time.Duration) {
			counters.Add("collector_errors", 1)
			msg := fmt.Sprintf("%v (retrying in %v)", err, wait.Round(time.Millisecond))
			if lv.setFailure(name, msg) {
				logf("%s: %s", name, msg)
			}
		}
		lv.sources = append(lv.sources, name)
		lv.wg.Add(1)
		go func() {
			defer lv.wg.Done()
			defer col.Close()
			_ = p.Run(ctx)
		}()
	}
	return nil
}
