package an0044

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// liveRun is the collectors running.
type liveRun struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sources []string

	mu       sync.Mutex
	failures map[string]string // collector -> last error, while failing
	warnings []string
}

func startLive(ctx context.Context, a *Analytic) (*liveRun, error) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	lv := &liveRun{cancel: cancel, failures: map[string]string{}}
	_ = lctx
	return lv, nil
}

// setFailure records a collector's failure (msg "" when it works again)
// and reports whether it is new, so a failing collector is logged once.
func (lv *liveRun) setFailure(name, msg string) bool {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	prev, had := lv.failures[name]
	if msg == "" {
		delete(lv.failures, name)
		return false
	}
	lv.failures[name] = msg
	return !had || prev == ""
}

func (lv *liveRun) health(h *sdk.Health) {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	h.State = sdk.StateRunning
	h.Message = "running, reading " + strings.Join(lv.sources, "; ")
	for _, w := range lv.warnings {
		h.Message += "; " + w
	}
	if len(lv.failures) > 0 {
		h.State = sdk.StateDegraded
		for name, msg := range lv.failures {
			h.Message += fmt.Sprintf("; %s: %s", name, msg)
		}
	}
}

func (lv *liveRun) stop() {
	lv.cancel()
	lv.wg.Wait()
}
