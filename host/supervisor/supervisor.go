// Package supervisor finds, verifies, starts and watches stagewatch's
// analytic plugins. A plugin that dies is restarted with exponential backoff,
// re-configured and re-started, and the supervisor says so in its log; the
// host keeps serving the other plugins meanwhile.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/internal/config"
	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

// Backoff paces restarts of a crashed plugin: Initial, doubling up to Max;
// a plugin that ran for ResetAfter before dying starts again from Initial.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// DefaultBackoff is 1 s doubling to 60 s, reset after a minute of health.
var DefaultBackoff = Backoff{Initial: time.Second, Max: time.Minute, ResetAfter: time.Minute}

// ConfigureTimeout is the least time a plugin's first Configure is given:
// it reads back the analytic's durable state (a full one in about a
// second; see docs/performance.md).
const ConfigureTimeout = time.Minute

// Options configure a Supervisor.
type Options struct {
	Config *config.File // nil means config.Default()
	Mode   sdk.Mode     // live, replay or query
	Logger hclog.Logger // nil discards
	// Only, when set, keeps only the plugin of that analytic id (replay).
	Only string
	// GOOS picks the platform's endpoint analytic; empty means this build's.
	GOOS         string
	Backoff      Backoff       // zero fields take DefaultBackoff's
	StartTimeout time.Duration // per plugin handshake; 0 means sdk's default
	// CallTimeout bounds Configure, Start and Health calls; 0 means the
	// config's query_timeout.
	CallTimeout time.Duration
	// StateDir, when set, is where each analytic keeps its durable state,
	// one directory per analytic id below it; empty keeps it in memory.
	StateDir string
}

// Supervisor runs a set of plugins.
type Supervisor struct {
	opts    Options
	logger  hclog.Logger
	plugins []*Plugin

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start discovers the plugins cfg asks for, launches and configures them,
// and watches them until Close. Any plugin that cannot be found, verified,
// launched or configured fails Start as a whole, with an error naming it:
// a host that silently runs fewer analytics than configured misleads.
func Start(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.GOOS == "" {
		opts.GOOS = registry.LocalPlatform()
	}
	if opts.Mode == 0 {
		opts.Mode = sdk.ModeLive
	}
	opts.Backoff = opts.Backoff.withDefaults()
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = opts.Config.Stagewatch.QueryTimeout
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = config.DefaultQueryTimeout
	}

	srcs, err := sources(opts.Config, opts.GOOS, opts.Only)
	if err != nil {
		return nil, err
	}

	watchCtx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{opts: opts, logger: opts.Logger, cancel: cancel}
	byAnalytic := map[string]string{}
	var names []string
	for _, src := range srcs {
		names = append(names, src.name)
		p := &Plugin{src: src, sup: s, gone: make(chan struct{}, 1)}
		if err := p.launch(ctx); err != nil {
			s.Close()
			return nil, err
		}
		id := p.desc.AnalyticID
		if opts.Only != "" && id != opts.Only {
			p.kill()
			continue
		}
		if other, dup := byAnalytic[id]; dup {
			p.kill()
			s.Close()
			return nil, fmt.Errorf("plugins %s and %s both provide analytic %s", other, src.name, id)
		}
		byAnalytic[id] = src.name
		s.plugins = append(s.plugins, p)
		s.logger.Info(fmt.Sprintf("plugin %s (%s %s) started, pid %d, mode %s", src.name, id, p.desc.Version, p.pid(), opts.Mode))
	}
	if opts.Only != "" && len(s.plugins) == 0 {
		s.Close()
		return nil, fmt.Errorf("no plugin provides analytic %s (looked at %s)", opts.Only, strings.Join(names, ", "))
	}
	for _, p := range s.plugins {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.watch(watchCtx)
		}()
	}
	return s, nil
}

// Plugins returns the supervised plugins, in load order.
func (s *Supervisor) Plugins() []*Plugin { return s.plugins }

// Plugin returns the plugin of an analytic id, or nil.
func (s *Supervisor) Plugin(analyticID string) *Plugin {
	for _, p := range s.plugins {
		if p.desc.AnalyticID == analyticID {
			return p
		}
	}
	return nil
}

// Close stops watching and shuts every plugin down: each is asked to exit
// (so it can remove kernel state such as audit rules) and killed if it has
// not within sdk's grace period. Close waits for all of them.
func (s *Supervisor) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		var wg sync.WaitGroup
		for _, p := range s.plugins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.stop()
			}()
		}
		wg.Wait()
	})
	return nil
}

// Status is what the host knows of one plugin, for staging_analytics.
type Status struct {
	Name       string // plugin file name, or "<exe> plugin ANxxxx" for a built-in
	Path       string // the binary run
	BuiltIn    bool
	SHA256     string
	Descriptor sdk.Descriptor
	Mode       sdk.Mode
	State      string // running, restarting, stopped
	Effective  json.RawMessage
	Pid        int
	Restarts   int
	LastError  string
	Started    time.Time
}

// Plugin is one supervised plugin: the process currently running for it
// and its history.
type Plugin struct {
	src  source
	sup  *Supervisor
	gone chan struct{}

	mu        sync.Mutex
	proc      *plugin.Plugin
	desc      sdk.Descriptor
	sha256    string
	effective json.RawMessage
	state     string
	restarts  int
	lastErr   string
	started   time.Time
}

// Name is the plugin file name, or "<exe> plugin ANxxxx" for a built-in.
func (p *Plugin) Name() string { return p.src.name }

// Descriptor is the plugin's self-description (from its latest start).
func (p *Plugin) Descriptor() sdk.Descriptor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.desc
}

// Label names the plugin in messages: "stagewatch-linux (AN0041)", or
// "stagewatchd plugin AN0041" for a built-in.
func (p *Plugin) Label() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.label()
}

func (p *Plugin) label() string {
	if p.desc.AnalyticID == "" || p.src.builtin {
		return p.src.name
	}
	return p.src.name + " (" + p.desc.AnalyticID + ")"
}

// Analytic returns the running plugin's analytic, or an error saying why
// there is none (restarting after a crash, or stopped).
func (p *Plugin) Analytic() (sdk.Analytic, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.state != "running" {
		msg := fmt.Sprintf("plugin %s is %s", p.label(), p.state)
		if p.lastErr != "" {
			msg += " (last error: " + p.lastErr + ")"
		}
		return nil, errors.New(msg)
	}
	return p.proc.Analytic(), nil
}

// ReportGone tells the supervisor that a call found the plugin process gone,
// so it restarts without waiting to notice the exit itself.
func (p *Plugin) ReportGone(err error) {
	p.mu.Lock()
	if err != nil {
		p.lastErr = err.Error()
	}
	p.mu.Unlock()
	select {
	case p.gone <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of the plugin's state.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{
		Name:       p.src.name,
		Path:       p.src.path,
		BuiltIn:    p.src.builtin,
		SHA256:     p.sha256,
		Descriptor: p.desc,
		Mode:       p.sup.opts.Mode,
		State:      p.state,
		Effective:  p.effective,
		Pid:        p.pidLocked(),
		Restarts:   p.restarts,
		LastError:  p.lastErr,
		Started:    p.started,
	}
}

func (p *Plugin) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pidLocked()
}

func (p *Plugin) pidLocked() int {
	if p.proc == nil {
		return 0
	}
	return p.proc.Pid()
}

// launch starts a fresh process, configures it with the analytic's section
// and, outside replay, starts collection.
func (p *Plugin) launch(ctx context.Context) error {
	o := p.sup.opts
	src := p.src
	sum, err := plugin.FileSHA256(src.exec)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", src.name, err)
	}
	proc, err := plugin.Launch(ctx, plugin.LaunchConfig{
		Path:         src.exec,
		Name:         src.logName(),
		Args:         src.args,
		SHA256:       src.checksum,
		Logger:       o.Logger,
		StartTimeout: o.StartTimeout,
	})
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumMismatch) {
			return fmt.Errorf("plugin %s refused: checksum mismatch: %w", src.name, err)
		}
		return fmt.Errorf("plugin %s: %w", src.name, err)
	}
	analytic := proc.Analytic()
	desc := analytic.Describe()
	if desc.AnalyticID == "" {
		proc.Kill()
		return fmt.Errorf("plugin %s: it did not describe itself (no analytic id)", src.name)
	}
	if src.id != "" && desc.AnalyticID != src.id {
		proc.Kill()
		return fmt.Errorf("plugin %s: it is analytic %s, not %s", src.name, desc.AnalyticID, src.id)
	}
	if o.Only != "" && desc.AnalyticID != o.Only {
		p.mu.Lock()
		p.proc, p.desc, p.sha256 = proc, desc, sum
		p.mu.Unlock()
		return nil
	}

	// The first Configure reads the analytic's state back, which may take
	// longer than a query.
	configureCtx, cancelConfigure := context.WithTimeout(ctx, max(o.CallTimeout, ConfigureTimeout))
	defer cancelConfigure()
	effective, err := analytic.Configure(configureCtx, sdk.ConfigureRequest{
		Config:         o.Config.AnalyticConfig(desc.AnalyticID),
		Mode:           o.Mode,
		HostIdentifier: o.Config.Stagewatch.HostIdentifier,
		StateDir:       p.stateDir(desc.AnalyticID),
		State: sdk.StateLimits{
			EventsExpiry:     o.Config.Stagewatch.State.EventsExpiry,
			EventsMax:        o.Config.Stagewatch.State.EventsMax,
			DetectionsExpiry: o.Config.Stagewatch.State.DetectionsExpiry,
			DetectionsMax:    o.Config.Stagewatch.State.DetectionsMax,
		},
	})
	if err != nil {
		proc.Kill()
		var configErr *sdk.ConfigError
		if errors.As(err, &configErr) {
			return &sdk.ConfigError{Key: desc.AnalyticID + "." + configErr.Key, Reason: configErr.Reason}
		}
		return fmt.Errorf("plugin %s (%s): configure: %w", src.name, desc.AnalyticID, err)
	}
	if o.Mode != sdk.ModeReplay {
		callCtx, cancel := context.WithTimeout(ctx, o.CallTimeout)
		defer cancel()
		if err := analytic.Start(callCtx); err != nil {
			proc.Kill()
			return fmt.Errorf("plugin %s (%s): start: %w", src.name, desc.AnalyticID, err)
		}
	}
	p.mu.Lock()
	p.proc, p.desc, p.sha256, p.effective = proc, desc, sum, effective
	p.state, p.started = "running", time.Now()
	p.mu.Unlock()
	// Drain a stale report from the previous process.
	select {
	case <-p.gone:
	default:
	}
	return nil
}

// stateDir is the analytic's own state directory, or "" for none.
func (p *Plugin) stateDir(id string) string {
	if p.sup.opts.StateDir == "" || id == "" {
		return ""
	}
	return filepath.Join(p.sup.opts.StateDir, id)
}

// watch restarts the plugin whenever its process dies, until ctx ends.
func (p *Plugin) watch(ctx context.Context) {
	b := p.sup.opts.Backoff
	delay := b.Initial
	for {
		reason, ok := p.waitExit(ctx)
		if !ok {
			return
		}
		p.mu.Lock()
		if time.Since(p.started) >= b.ResetAfter {
			delay = b.Initial
		}
		p.restarts++
		p.state = "restarting"
		if reason != "" {
			p.lastErr = reason
		}
		reason, n, label := p.lastErr, p.restarts, p.label()
		old := p.proc
		p.proc = nil
		p.mu.Unlock()
		if old != nil {
			old.Kill() // reaps it and releases go-plugin's resources
		}
		p.sup.logger.Warn(fmt.Sprintf("plugin %s exited: %s; restart %d in %s", label, reason, n, delay))

		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, b.Max)
			err := p.launch(ctx)
			if err == nil {
				p.sup.logger.Info(fmt.Sprintf("plugin %s restarted, pid %d", label, p.pid()))
				break
			}
			if ctx.Err() != nil {
				return
			}
			p.mu.Lock()
			p.lastErr = err.Error()
			p.restarts++
			n = p.restarts
			p.mu.Unlock()
			p.sup.logger.Error(fmt.Sprintf("plugin %s: restart failed: %v; restart %d in %s", label, err, n, delay))
		}
	}
}

// exitPoll is how often watch looks at the process between reports: go-plugin
// exposes exit only as a flag.
const exitPoll = 100 * time.Millisecond

// waitExit blocks until the process has exited (or a call reported it
// gone) and returns why; false means ctx ended first.
func (p *Plugin) waitExit(ctx context.Context) (string, bool) {
	tick := time.NewTicker(exitPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", false
		case <-p.gone:
			return "", true
		case <-tick.C:
			p.mu.Lock()
			proc := p.proc
			p.mu.Unlock()
			if proc == nil || proc.Exited() {
				return "process exited", true
			}
		}
	}
}

func (p *Plugin) kill() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	if proc != nil {
		proc.Kill()
	}
}

func (p *Plugin) stop() {
	p.kill()
	p.mu.Lock()
	p.state = "stopped"
	p.mu.Unlock()
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultBackoff.ResetAfter
	}
	return b
}

// SortedStatuses returns every plugin's status ordered by analytic id.
func (s *Supervisor) SortedStatuses() []Status {
	out := make([]Status, 0, len(s.plugins))
	for _, p := range s.plugins {
		out = append(out, p.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Descriptor.AnalyticID < out[j].Descriptor.AnalyticID })
	return out
}
