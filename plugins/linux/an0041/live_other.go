//go:build !linux

package an0041

import (
	"context"
	"errors"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// procLookup is nil off Linux: there is no /proc to read.
var procLookup func(int64) (event.Process, event.Actor, bool)

// live is never created off Linux; its methods keep Analytic building so
// that replay works everywhere.
type live struct{}

func (*live) rewatch([]string)   {}
func (*live) health(*sdk.Health) {}
func (*live) stop()              {}

// Start fails in live mode: live collection uses Linux kernel interfaces.
func (a *Analytic) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mode != sdk.ModeLive {
		return nil
	}
	return errors.New("an0041: live collection needs Linux (audit, fanotify); replay works on any platform")
}
