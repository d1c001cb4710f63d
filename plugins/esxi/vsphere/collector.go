// Package vsphere is AN0044's vSphere API collector: one per ESXi host or
// vCenter. It reads what is new since its cursor from an event history
// collector (CreateCollectorForEvents) and a task history collector
// (CreateCollectorForTasks), or recentTask where a host has no task
// collectors, and normalizes snapshots, disk and file copies, clones,
// exports and logins into activity events. A lost session (or a
// restarted server) is met by logging in again and recreating the
// collectors from the durable cursor; what is read twice is known by its
// key, so nothing is lost or counted twice.
package vsphere

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/stagewatch/stagewatch/internal/remote"
	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
	"github.com/stagewatch/stagewatch/plugins/esxi/esxilog"
)

// PageSize is how many events or tasks one read asks for.
const PageSize = 500

// margin is how far before its cursor a recreated collector starts: the
// server's clock and ours agree only roughly; keys drop what repeats.
const margin = 2 * time.Second

// Config is one server to read.
type Config struct {
	URL        *url.URL
	Username   string
	Password   remote.Secret
	Thumbprint string // SHA-1 or SHA-256, hex, colons optional
	Insecure   bool
	CAFile     string
	Tasks      string // auto, collector, recent
	Start      time.Time
	// InventoryInterval is how often snapshot trees and file layouts
	// are read (the first read is at the first step); negative: never.
	InventoryInterval time.Duration
}

// Cursors is where the collector's cursors are kept (remote.State).
type Cursors interface {
	Cursor(name string) (string, bool)
}

// Sink takes a batch of events with the cursors past them, committing
// both or neither.
type Sink func(ctx context.Context, evs []activity.Event, cursors map[string]string) (int, error)

// Collector reads one server. Step is its poll; it is not safe for
// concurrent use.
type Collector struct {
	Config   Config
	Cursors  Cursors
	Sink     Sink
	Counters *remote.Counters
	// Warn is told of a configuration that weakens security (insecure).
	Warn func(string)
	// Names is told, after each inventory read of a standalone ESXi
	// host, of its VMs' names by moref (hostd's vmid), and of the host's
	// own names as "host:NAME" keys.
	Names func(server string, names map[string]string)
	// LastInventoryCalls is how many API calls the last inventory read
	// made.
	LastInventoryCalls int

	client  *vim25.Client
	sm      *session.Manager
	events  *event.HistoryCollector
	tasks   *task.HistoryCollector
	recent  bool
	seen    map[string]bool // recentTask mode: task keys sent this session
	names   map[string]string
	warned  bool
	name    string
	lastErr error
	inv     *invState
	lastInv time.Time
	calls   atomic.Int64
	// hostNames are the HostSystems' names the last inventory read found.
	hostNames []string
}

// Name identifies the server in cursors and messages (no credentials).
func (c *Collector) Name() string {
	if c.name == "" {
		u := *c.Config.URL
		u.User = nil
		c.name = u.Host
	}
	return c.name
}

func (c *Collector) cursorName(kind string) string { return "vsphere:" + c.Name() + ":" + kind }

func (c *Collector) count(name string) {
	if c.Counters != nil {
		c.Counters.Add(name, 1)
	}
}

// connect logs in and creates the history collectors from the cursors.
func (c *Collector) connect(ctx context.Context) error {
	u := *c.Config.URL
	u.User = nil
	insecure := c.Config.Insecure || c.Config.Thumbprint != ""
	sc := soap.NewClient(&u, insecure)
	if c.Config.Insecure && !c.warned && c.Warn != nil {
		c.warned = true
		c.Warn(fmt.Sprintf("%s: certificate verification is off (insecure: true); use it in a lab only, or pin thumbprint", c.Name()))
	}
	if tp := c.Config.Thumbprint; tp != "" {
		// A pinned certificate: soap checks it instead of the chain.
		sc = soap.NewClient(&u, false)
		sc.SetThumbprint(u.Host, NormalizeThumbprint(tp))
	}
	if c.Config.CAFile != "" {
		if err := sc.SetRootCAs(c.Config.CAFile); err != nil {
			return fmt.Errorf("%s: ca_file: %w", c.Name(), err)
		}
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name(), err)
	}
	vc.UserAgent = "stagewatch-an0044"
	vc.RoundTripper = countingRT{RoundTripper: vc.RoundTripper, n: &c.calls}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(c.Config.Username, c.Config.Password.Value())); err != nil {
		c.count("vsphere_login_failures")
		return fmt.Errorf("%s: login as %s failed: %s", c.Name(), c.Config.Username, redact(err, c.Config.Password))
	}
	c.count("vsphere_logins")
	c.client, c.sm, c.names = vc, sm, map[string]string{}
	begin := c.Config.Start
	if v, ok := c.Cursors.Cursor(c.cursorName("events")); ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			begin = t.Add(-margin)
		}
	}
	ef := types.EventFilterSpec{Time: &types.EventFilterSpecByTime{BeginTime: types.NewTime(begin)}}
	if c.events, err = event.NewManager(vc).CreateCollectorForEvents(ctx, ef); err != nil {
		c.disconnect(ctx)
		return fmt.Errorf("%s: CreateCollectorForEvents: %w", c.Name(), err)
	}
	tbegin := c.Config.Start
	if v, ok := c.Cursors.Cursor(c.cursorName("tasks")); ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			tbegin = t.Add(-margin)
		}
	}
	c.recent = c.Config.Tasks == "recent"
	if !c.recent {
		tf := types.TaskFilterSpec{Time: &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionQueuedTime, BeginTime: types.NewTime(tbegin)}}
		c.tasks, err = task.NewManager(vc).CreateCollectorForTasks(ctx, tf)
		if err != nil {
			if c.Config.Tasks == "collector" {
				c.disconnect(ctx)
				return fmt.Errorf("%s: CreateCollectorForTasks: %w", c.Name(), err)
			}
			// A standalone host may refuse task collectors: read
			// recentTask instead.
			c.recent = true
			c.count("vsphere_recent_task_fallbacks")
		}
	}
	c.seen = map[string]bool{}
	return nil
}

func (c *Collector) disconnect(ctx context.Context) {
	if c.sm != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = c.sm.Logout(lctx)
		cancel()
	}
	c.client, c.sm, c.events, c.tasks = nil, nil, nil, nil
}

// Close logs out.
func (c *Collector) Close() { c.disconnect(context.Background()) }

// Step reads one page of events and one of tasks; more is true when a
// page came back full (a backlog).
func (c *Collector) Step(ctx context.Context) (more bool, err error) {
	if c.client == nil {
		if err := c.connect(ctx); err != nil {
			return false, err
		}
	}
	more, err = c.step(ctx)
	if err == nil && !more && c.InventoryDue(time.Now()) {
		// After the history is read, so what tasks reported is known.
		return false, c.Inventory(ctx)
	}
	if err != nil {
		// A lost session, a restarted server or a network failure: log
		// in again and recreate the collectors from the cursors.
		c.count("vsphere_reconnects")
		c.disconnect(ctx)
		return false, fmt.Errorf("%s: %s", c.Name(), redact(err, c.Config.Password))
	}
	return more, nil
}

func (c *Collector) step(ctx context.Context) (bool, error) {
	page, err := c.events.ReadNextEvents(ctx, PageSize)
	if err != nil {
		return false, err
	}
	c.count("vsphere_calls")
	var evs []activity.Event
	var last time.Time
	for _, be := range page {
		e := be.GetEvent()
		if e.CreatedTime.After(last) {
			last = e.CreatedTime
		}
		if a, ok := c.fromEvent(ctx, be); ok {
			evs = append(evs, a)
		}
	}
	cursors := map[string]string{}
	c.loadInventory()
	invChanged := false
	for _, be := range page {
		if x, ok := be.(*types.DatastoreFileCopiedEvent); ok && c.fileSeen(x.TargetFile, time.Now()) {
			invChanged = true
		}
	}
	if !last.IsZero() {
		cursors[c.cursorName("events")] = last.UTC().Format(time.RFC3339Nano)
	}
	more := len(page) == PageSize
	var infos []types.TaskInfo
	if c.recent {
		infos, err = c.recentTasks(ctx)
	} else {
		infos, err = c.tasks.ReadNextTasks(ctx, PageSize)
		more = more || len(infos) == PageSize
	}
	if err != nil {
		return false, err
	}
	c.count("vsphere_calls")
	c.resolveNames(ctx, infos)
	var tlast time.Time
	for i := range infos {
		if infos[i].QueueTime.After(tlast) {
			tlast = infos[i].QueueTime
		}
		if a, ok := c.fromTask(ctx, &infos[i]); ok {
			dup, changed := c.taskSeen(&infos[i], a.Action, time.Now())
			invChanged = invChanged || changed
			if dup {
				// The inventory read reported this snapshot first.
				c.count("vsphere_inventory_duplicates")
				continue
			}
			evs = append(evs, a)
		}
	}
	if !tlast.IsZero() {
		cursors[c.cursorName("tasks")] = tlast.UTC().Format(time.RFC3339Nano)
	}
	if invChanged {
		cursors[c.invCursor()] = c.invValue()
	}
	if len(evs) == 0 && len(cursors) == 0 {
		return false, nil
	}
	if _, err := c.Sink(ctx, evs, cursors); err != nil {
		return false, err
	}
	return more, nil
}

// recentTasks reads TaskManager.recentTask and the info of those not
// sent yet.
func (c *Collector) recentTasks(ctx context.Context) ([]types.TaskInfo, error) {
	pc := property.DefaultCollector(c.client)
	var tm mo.TaskManager
	if err := pc.RetrieveOne(ctx, *c.client.ServiceContent.TaskManager, []string{"recentTask"}, &tm); err != nil {
		return nil, err
	}
	var refs []types.ManagedObjectReference
	for _, r := range tm.RecentTask {
		if !c.seen[r.Value] {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	var tasks []mo.Task
	if err := pc.Retrieve(ctx, refs, []string{"info"}, &tasks); err != nil {
		return nil, err
	}
	out := make([]types.TaskInfo, 0, len(tasks))
	for _, t := range tasks {
		c.seen[t.Self.Value] = true
		out = append(out, t.Info)
	}
	if len(c.seen) > 100000 {
		c.seen = map[string]bool{}
	}
	return out, nil
}

// taskKey is a task's dedupe key, the same from the task collector,
// recentTask and a TaskEvent; the queue time tells apart keys a
// restarted server reuses.
func (c *Collector) taskKey(info *types.TaskInfo) string {
	return "task:" + c.Name() + ":" + info.Key + ":" + info.QueueTime.UTC().Format(time.RFC3339Nano)
}

// TaskDescription normalizes a task's descriptionId ("VirtualMachine.
// createSnapshot", or vcsim's "VirtualMachine.CreateSnapshot") to the
// method name hostd logs.
func TaskDescription(id string) string {
	typ, method, ok := strings.Cut(id, ".")
	if !ok || method == "" {
		return id
	}
	method = strings.TrimSuffix(method, "_Task")
	return typ + "." + strings.ToLower(method[:1]) + method[1:]
}

func (c *Collector) fromTask(ctx context.Context, info *types.TaskInfo) (activity.Event, bool) {
	desc := TaskDescription(info.DescriptionId)
	a := esxilog.TaskAction(desc)
	if a == activity.Other {
		return activity.Event{}, false
	}
	e := activity.Event{Time: info.QueueTime.UTC(), Host: c.Name(), Source: activity.SourceAPI, Action: a, TaskID: info.Key,
		Details: desc, Key: c.taskKey(info), Failed: info.State == types.TaskInfoStateError}
	if r, ok := info.Reason.(*types.TaskReasonUser); ok {
		e.User = r.UserName
	}
	if info.Entity != nil && info.Entity.Type == "VirtualMachine" {
		e.VM = c.vmName(ctx, *info.Entity, info.EntityName)
	}
	return e, true
}

func (c *Collector) fromEvent(ctx context.Context, be types.BaseEvent) (activity.Event, bool) {
	ev := be.GetEvent()
	e := activity.Event{Time: ev.CreatedTime.UTC(), Host: c.Name(), Source: activity.SourceAPI, User: ev.UserName, Details: ev.FullFormattedMessage,
		Key: fmt.Sprintf("event:%s:%d:%s", c.Name(), ev.Key, ev.CreatedTime.UTC().Format(time.RFC3339Nano))}
	if ev.Vm != nil {
		e.VM = ev.Vm.Name
	}
	if ev.Ds != nil {
		e.Datastore = ev.Ds.Name
	}
	switch x := be.(type) {
	case *types.TaskEvent:
		t, ok := c.fromTask(ctx, &x.Info)
		return t, ok
	case *types.UserLoginSessionEvent:
		e.Action, e.UserAgent, e.Peer = activity.Login, x.UserAgent, x.IpAddress
	case *types.VmBeingClonedEvent:
		e.Action = activity.VMClone
		if x.DestName != "" {
			e.Dest = x.DestName
		}
	case *types.DatastoreFileCopiedEvent:
		e.Path, e.Dest = x.SourceFile, x.TargetFile
		e.Action = activity.FileCopy
		if activity.VMDiskFile(x.SourceFile) || activity.VMDiskFile(x.TargetFile) {
			e.Action = activity.DiskCopy
		}
	case *types.DatastoreFileMovedEvent:
		e.Action, e.Path, e.Dest = activity.FileMove, x.SourceFile, x.TargetFile
	case *types.VmMigratedEvent, *types.DrsVmMigratedEvent:
		e.Action = activity.VMMigrate
	default:
		return e, false
	}
	return e, true
}

// resolveNames reads the names of a page's VMs not cached yet in one
// call, so a page costs the same whatever the inventory.
func (c *Collector) resolveNames(ctx context.Context, infos []types.TaskInfo) {
	var refs []types.ManagedObjectReference
	want := map[string]bool{}
	for i := range infos {
		if r := infos[i].Entity; r != nil && r.Type == "VirtualMachine" && !want[r.Value] {
			if _, ok := c.names[r.Value]; !ok {
				want[r.Value] = true
				refs = append(refs, *r)
			}
		}
	}
	if len(refs) == 0 {
		return
	}
	var vms []mo.VirtualMachine
	if err := property.DefaultCollector(c.client).Retrieve(ctx, refs, []string{"name"}, &vms); err != nil {
		return // vmName falls back to one call each, or the task's entityName
	}
	c.count("vsphere_calls")
	if len(c.names) > 100000 {
		c.names = map[string]string{}
	}
	for _, vm := range vms {
		c.names[vm.Self.Value] = vm.Name
	}
}

// vmName resolves a VM's name (tasks carry its moref), cached.
func (c *Collector) vmName(ctx context.Context, ref types.ManagedObjectReference, fallback string) string {
	if n, ok := c.names[ref.Value]; ok {
		return n
	}
	var vm mo.VirtualMachine
	name := fallback
	if err := property.DefaultCollector(c.client).RetrieveOne(ctx, ref, []string{"name"}, &vm); err == nil {
		name = vm.Name
	}
	if len(c.names) > 100000 {
		c.names = map[string]string{}
	}
	c.names[ref.Value] = name
	return name
}

// NormalizeThumbprint writes a thumbprint as govmomi compares it:
// upper-case hex pairs joined by colons.
func NormalizeThumbprint(tp string) string {
	h := strings.ToUpper(strings.ReplaceAll(tp, ":", ""))
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// redact keeps a password out of an error's text, whatever the server
// or a library put in it.
func redact(err error, s remote.Secret) string {
	msg := err.Error()
	if v := s.Value(); v != "" {
		msg = strings.ReplaceAll(msg, v, remote.Redacted)
	}
	return msg
}
