package an0044

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/esxilog"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// liveRun is the collectors running.
type liveRun struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sources []string
	syslog  *remote.SyslogListener

	mu       sync.Mutex
	failures map[string]string // collector -> last error, while failing
	warnings []string
}

func startLive(ctx context.Context, a *Analytic) (*liveRun, error) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	lv := &liveRun{cancel: cancel, failures: map[string]string{}}
	if sl := a.set.syslog; len(sl.Listen) > 0 {
		cfg := remote.SyslogConfig{Listen: sl.Listen, MaxMessage: sl.MaxMessage, Queue: sl.Queue, Counters: a.Counters()}
		if sl.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(sl.TLSCert, sl.TLSKey)
			if err != nil {
				cancel()
				return nil, &sdk.ConfigError{Key: SyslogKey + ".tls_cert", Reason: err.Error()}
			}
			cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		l, err := remote.ListenSyslog(cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		lv.syslog = l
		lv.sources = append(lv.sources, "syslog "+strings.Join(l.Addrs(), ", "))
		lv.wg.Add(1)
		go func() {
			defer lv.wg.Done()
			receive(lctx, a, l)
		}()
	}
	if err := startVSphere(lctx, a, lv); err != nil {
		lv.stop()
		return nil, err
	}
	return lv, nil
}

// receive parses syslog messages in batches (up to 1024, or what came
// in 200ms) and feeds them through the pipeline. A line without a host
// in its envelope is named by its sender's address.
func receive(ctx context.Context, a *Analytic, l *remote.SyslogListener) {
	p := esxilog.NewParser("")
	var batch []activity.Event
	add := func(e activity.Event) { batch = append(batch, e) }
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lines, errs, bad, over uint64
	flush := func() {
		c := a.Counters()
		c.Add("syslog_lines", p.Stats.Lines-lines)
		c.Add("parse_errors", p.Stats.ParseErrors-errs)
		c.Add("log_bad_pri", p.Stats.BadPRI-bad)
		c.Add("log_oversized", p.Stats.Oversized-over)
		lines, errs, bad, over = p.Stats.Lines, p.Stats.ParseErrors, p.Stats.BadPRI, p.Stats.Oversized
		if len(batch) == 0 {
			return
		}
		if _, err := a.Process(ctx, batch, nil); err != nil && ctx.Err() == nil {
			a.Counters().Add("collector_errors", 1)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			p.Flush(add)
			flush()
			return
		case m := <-l.Messages():
			p.Host = m.Peer
			p.Line(m.Data, m.Received, add)
			if len(batch) >= 1024 {
				flush()
			}
		case now := <-tick.C:
			// A line's "-->" continuations come with it: a line a second
			// old has all it will get.
			p.FlushIdle(now.Add(-time.Second), add)
			flush()
		}
	}
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
	if lv.syslog != nil {
		lv.syslog.Close()
	}
	lv.wg.Wait()
}
