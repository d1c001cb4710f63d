package vsphere

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/stagewatch/stagewatch/plugins/esxi/activity"
)

// The inventory read: every InventoryInterval (and at start), each VM's
// snapshot tree and file layout and each datastore's disk descriptors,
// read through one container view in pages of InventoryPage objects,
// compared with what the last read (kept in the durable state) found.
// A snapshot no task or event reported, and a disk file that appeared,
// become events of source "inventory".

// InventoryPage is how many VMs and datastores one RetrievePropertiesEx
// call returns.
const InventoryPage = 500

// knownMax bounds what the inventory remembers; past it the oldest
// entries no read found again are forgotten first.
const knownMax = 200000

// pendingMax bounds the tasks without a result waiting to be matched
// with what an inventory read finds.
const pendingMax = 4096

// pendingFor is how long after its task a snapshot or file the inventory
// finds may be that task's.
const pendingFor = 15 * time.Minute

// invState is what the inventory keeps between reads, in a cursor.
type invState struct {
	// Read is when the last read finished (zero: none yet; the first
	// read reports only snapshots created after Start, and learns the
	// files).
	Read time.Time `json:"read,omitzero"`
	// Known: "s|vm|snapshot" and "f|[ds] path", each with when it was
	// learnt and by what: "t" a task or event, "i" the inventory.
	Known map[string]known `json:"known"`
	// Pending: snapshot and copy tasks read with no result to match by
	// (a TaskEvent, a task still running): "s|vm" or "f", and when.
	Pending []pending `json:"pending,omitempty"`
	// Names: VM moref to name, as the last read found them.
	Names map[string]string `json:"names,omitempty"`
}

type known struct {
	T  int64  `json:"t"` // unix seconds
	By string `json:"by"`
}

type pending struct {
	Key string    `json:"k"`
	T   time.Time `json:"t"`
}

func (c *Collector) invCursor() string { return c.cursorName("inventory") }

// loadInventory reads the kept inventory state, once.
func (c *Collector) loadInventory() {
	if c.inv != nil {
		return
	}
	c.inv = &invState{Known: map[string]known{}}
	if v, ok := c.Cursors.Cursor(c.invCursor()); ok {
		var st invState
		if json.Unmarshal([]byte(v), &st) == nil {
			if st.Known == nil {
				st.Known = map[string]known{}
			}
			c.inv = &st
		}
	}
}

func (c *Collector) invValue() string {
	b, _ := json.Marshal(c.inv)
	return string(b)
}

func snapKey(vm, snap string) string { return "s|" + vm + "|" + snap }
func fileKey(p string) string        { return "f|" + p }

// taskSeen records a snapshot or copy an API task or event
// reported, so the inventory does not report it again; it reports
// whether the inventory reported it first (then the task is the same
// snapshot, not another).
func (c *Collector) taskSeen(info *types.TaskInfo, a activity.Action, now time.Time) (dup, changed bool) {
	c.loadInventory()
	ent := info.Entity
	switch {
	case a == activity.SnapshotCreate && ent != nil:
		if r, ok := info.Result.(types.ManagedObjectReference); ok && r.Type == "VirtualMachineSnapshot" {
			k := snapKey(ent.Value, r.Value)
			if kn, ok := c.inv.Known[k]; ok {
				return kn.By == "i", false
			}
			c.inv.Known[k] = known{T: now.Unix(), By: "t"}
			return false, true
		}
		if info.State == types.TaskInfoStateError {
			return false, false
		}
		c.addPending("s|"+ent.Value, info.QueueTime)
		return false, true
	case (a == activity.DiskCopy || a == activity.FileCopy || a == activity.VMClone) && info.State != types.TaskInfoStateError:
		c.addPending("f", info.QueueTime)
		return false, true
	}
	return false, false
}

// fileSeen records a file an event named as a copy's target.
func (c *Collector) fileSeen(p string, now time.Time) bool {
	if p == "" {
		return false
	}
	c.loadInventory()
	k := fileKey(p)
	if _, ok := c.inv.Known[k]; ok {
		return false
	}
	c.inv.Known[k] = known{T: now.Unix(), By: "t"}
	return true
}

func (c *Collector) addPending(k string, t time.Time) {
	for _, p := range c.inv.Pending {
		if p.Key == k && p.T.Equal(t) {
			return
		}
	}
	c.inv.Pending = append(c.inv.Pending, pending{Key: k, T: t.UTC()})
	if len(c.inv.Pending) > pendingMax {
		c.inv.Pending = c.inv.Pending[len(c.inv.Pending)-pendingMax:]
	}
}

// takePending consumes a task without a result that may have made what
// the inventory found at t (a snapshot's create time; zero for a file,
// matched to the oldest).
func (c *Collector) takePending(k string, t time.Time) bool {
	for i, p := range c.inv.Pending {
		if p.Key != k {
			continue
		}
		if !t.IsZero() && (t.Before(p.T.Add(-margin)) || t.Sub(p.T) > pendingFor) {
			continue
		}
		c.inv.Pending = append(c.inv.Pending[:i], c.inv.Pending[i+1:]...)
		return true
	}
	return false
}

// countingRT counts the SOAP calls a client makes.
type countingRT struct {
	soap.RoundTripper
	n *atomic.Int64
}

func (r countingRT) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	r.n.Add(1)
	return r.RoundTripper.RoundTrip(ctx, req, res)
}

// DefaultInventoryInterval is the inventory read's interval when the
// configuration gives none.
const DefaultInventoryInterval = 10 * time.Minute

// InventoryDue reports whether an inventory read is due at now.
func (c *Collector) InventoryDue(now time.Time) bool {
	every := c.Config.InventoryInterval
	switch {
	case every < 0:
		return false
	case every == 0:
		every = DefaultInventoryInterval
	}
	return c.lastInv.IsZero() || now.Sub(c.lastInv) >= every
}

// vmInv is one VM as the inventory reads it.
type vmInv struct {
	ref, name, dir string
	snaps          []types.VirtualMachineSnapshotTree
	files          []types.VirtualMachineFileLayoutExFileInfo
}

var deltaName = regexp.MustCompile(`-\d{6}(-delta|-sesparse)?\.vmdk$`)

// descriptor reports whether a datastore file is a disk's descriptor,
// not its extent, a snapshot's delta or change tracking.
func descriptor(p string) bool {
	l := strings.ToLower(p)
	if !strings.HasSuffix(l, ".vmdk") {
		return false
	}
	for _, s := range []string{"-flat.vmdk", "-delta.vmdk", "-sesparse.vmdk", "-ctk.vmdk", "-rdm.vmdk", "-rdmp.vmdk"} {
		if strings.HasSuffix(l, s) {
			return false
		}
	}
	return true
}

// dirOf is the datastore folder of "[ds] dir/file": "[ds] dir".
func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		if j := strings.IndexByte(p, ']'); j >= 0 {
			return p[:j+1]
		}
		return p
	}
	return p[:i]
}

// Inventory reads every VM's snapshot tree and file layout and every
// datastore's disk descriptors, and sends what no task or event
// reported, with the inventory state past it.
func (c *Collector) Inventory(ctx context.Context) error {
	if c.client == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	c.loadInventory()
	before := c.calls.Load()
	vms, dss, err := c.readInventory(ctx)
	if err != nil {
		c.count("vsphere_reconnects")
		c.disconnect(ctx)
		return fmt.Errorf("%s: inventory: %s", c.Name(), redact(err, c.Config.Password))
	}
	files, err := c.browse(ctx, dss)
	if err != nil {
		c.count("vsphere_inventory_browse_failures")
	}
	now := time.Now().UTC()
	evs := c.compare(vms, files, now)
	calls := c.calls.Load() - before
	if c.Counters != nil {
		c.Counters.Add("vsphere_inventory_reads", 1)
		c.Counters.Add("vsphere_inventory_calls", uint64(calls))
		c.Counters.Add("vsphere_calls", uint64(calls))
	}
	c.LastInventoryCalls = int(calls)
	if _, err := c.Sink(ctx, evs, map[string]string{c.invCursor(): c.invValue()}); err != nil {
		return err
	}
	c.lastInv = time.Now()
	if c.Names != nil && c.hostAgent() {
		names := make(map[string]string, len(c.inv.Names)+len(c.hostNames))
		for k, v := range c.inv.Names {
			names[k] = v
		}
		for _, h := range c.hostNames {
			names["host:"+h] = h
		}
		c.Names(c.Name(), names)
	}
	return nil
}

func (c *Collector) hostAgent() bool { return c.client.ServiceContent.About.ApiType == "HostAgent" }

// readInventory reads VMs and datastores through one container view, a
// page at a time.
func (c *Collector) readInventory(ctx context.Context) ([]vmInv, []mo.Datastore, error) {
	sc := c.client.ServiceContent
	cv, err := methods.CreateContainerView(ctx, c.client, &types.CreateContainerView{This: *sc.ViewManager, Container: sc.RootFolder,
		Type: []string{"VirtualMachine", "Datastore", "HostSystem"}, Recursive: true})
	if err != nil {
		return nil, nil, err
	}
	view := cv.Returnval
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = methods.DestroyView(dctx, c.client, &types.DestroyView{This: view})
		cancel()
	}()
	ts := &types.TraversalSpec{Type: "ContainerView", Path: "view"}
	spec := types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: view, Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{ts}}},
		PropSet: []types.PropertySpec{
			{Type: "VirtualMachine", PathSet: []string{"name", "snapshot", "layoutEx.file", "config.files.vmPathName"}},
			{Type: "Datastore", PathSet: []string{"name", "browser", "summary.accessible"}},
			{Type: "HostSystem", PathSet: []string{"name"}},
		},
	}
	res, err := methods.RetrievePropertiesEx(ctx, c.client, &types.RetrievePropertiesEx{This: sc.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{spec}, Options: types.RetrieveOptions{MaxObjects: InventoryPage}})
	if err != nil {
		return nil, nil, err
	}
	var content []types.ObjectContent
	var vms []vmInv
	var dss []mo.Datastore
	r := res.Returnval
	for r != nil {
		content = append(content, r.Objects...)
		if r.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, c.client, &types.ContinueRetrievePropertiesEx{This: sc.PropertyCollector, Token: r.Token})
		if err != nil {
			return nil, nil, err
		}
		r = &next.Returnval
	}
	c.hostNames = c.hostNames[:0]
	for _, oc := range content {
		switch oc.Obj.Type {
		case "HostSystem":
			for _, p := range oc.PropSet {
				if n, ok := p.Val.(string); ok && p.Name == "name" {
					c.hostNames = append(c.hostNames, n)
				}
			}
		case "VirtualMachine":
			var vm mo.VirtualMachine
			if err := mo.LoadObjectContent([]types.ObjectContent{oc}, &vm); err != nil {
				continue
			}
			v := vmInv{ref: vm.Self.Value, name: vm.Name}
			if vm.Snapshot != nil {
				v.snaps = vm.Snapshot.RootSnapshotList
			}
			if vm.LayoutEx != nil {
				v.files = vm.LayoutEx.File
			}
			if vm.Config != nil {
				v.dir = dirOf(vm.Config.Files.VmPathName)
			}
			vms = append(vms, v)
		case "Datastore":
			var ds mo.Datastore
			if err := mo.LoadObjectContent([]types.ObjectContent{oc}, &ds); err != nil {
				continue
			}
			if ds.Summary.Accessible {
				dss = append(dss, ds)
			}
		}
	}
	return vms, dss, nil
}

// dsFile is a disk descriptor a datastore browser found.
type dsFile struct {
	path     string
	size     int64
	modified time.Time
}

// browse lists each datastore's disk descriptors (one search task per
// datastore).
func (c *Collector) browse(ctx context.Context, dss []mo.Datastore) (map[string]dsFile, error) {
	out := map[string]dsFile{}
	var firstErr error
	for _, ds := range dss {
		if ds.Browser.Value == "" {
			continue
		}
		b := object.NewHostDatastoreBrowser(c.client, ds.Browser)
		spec := &types.HostDatastoreBrowserSearchSpec{MatchPattern: []string{"*.vmdk"},
			Details: &types.FileQueryFlags{FileType: true, FileSize: true, Modification: true}}
		task, err := b.SearchDatastoreSubFolders(ctx, "["+ds.Name+"]", spec)
		if err == nil {
			var info *types.TaskInfo
			if info, err = task.WaitForResult(ctx, nil); err == nil {
				if r, ok := info.Result.(types.ArrayOfHostDatastoreBrowserSearchResults); ok {
					for _, sr := range r.HostDatastoreBrowserSearchResults {
						dir := sr.FolderPath
						for _, bf := range sr.File {
							f := bf.GetFileInfo()
							p := dsPath(dir, f.Path)
							if !descriptor(p) {
								continue
							}
							df := dsFile{path: p, size: f.FileSize}
							if f.Modification != nil {
								df.modified = *f.Modification
							}
							out[p] = df
						}
					}
				}
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// compare finds what is new since the last read and updates the state.
func (c *Collector) compare(vms []vmInv, files map[string]dsFile, now time.Time) []activity.Event {
	st := c.inv
	first := st.Read.IsZero()
	present := map[string]bool{}
	inLayout := map[string]bool{}
	var evs []activity.Event
	names := map[string]string{}
	for _, vm := range vms {
		names[vm.ref] = vm.name
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(list []types.VirtualMachineSnapshotTree) {
			for _, s := range list {
				k := snapKey(vm.ref, s.Snapshot.Value)
				present[k] = true
				if _, ok := st.Known[k]; !ok {
					switch {
					case c.takePending("s|"+vm.ref, s.CreateTime):
					case first && s.CreateTime.Before(c.Config.Start):
					default:
						evs = append(evs, activity.Event{Time: s.CreateTime.UTC(), Host: c.Name(), VM: vm.name, Source: activity.SourceInventory,
							Action: activity.SnapshotCreate, Snapshot: s.Name,
							Details: fmt.Sprintf("snapshot %q (id %d, %s) in %s's snapshot tree, reported by no task or event", s.Name, s.Id, s.Snapshot.Value, vm.name),
							Key:     fmt.Sprintf("inventory:%s:%s:%s:%s", c.Name(), vm.ref, s.Snapshot.Value, s.CreateTime.UTC().Format(time.RFC3339Nano))})
					}
					st.Known[k] = known{T: now.Unix(), By: "i"}
				}
				walk(s.ChildSnapshotList)
			}
		}
		walk(vm.snaps)
		for _, f := range vm.files {
			if f.Type != string(types.VirtualMachineFileLayoutExFileTypeDiskDescriptor) {
				continue
			}
			k := fileKey(f.Name)
			present[k], inLayout[f.Name] = true, true
			if _, ok := st.Known[k]; ok {
				continue
			}
			st.Known[k] = known{T: now.Unix(), By: "i"}
			if first || deltaName.MatchString(f.Name) {
				continue // the VM's own disks at the first read; snapshot deltas come with their snapshot
			}
			outside := vm.dir != "" && dirOf(f.Name) != vm.dir
			a, why := activity.DiskCreate, "a new disk in %s's file layout"
			if outside {
				a, why = activity.DiskCopy, "a disk outside %s's folder in its file layout"
			}
			if c.takePending("f", time.Time{}) {
				continue
			}
			evs = append(evs, activity.Event{Time: now, Host: c.Name(), VM: vm.name, Datastore: activity.DatastoreOf(f.Name), Path: f.Name,
				Source: activity.SourceInventory, Action: a, Details: fmt.Sprintf(why+" (%d bytes)", vm.name, f.Size),
				Key: fmt.Sprintf("inventory:%s:%s:file:%s", c.Name(), vm.ref, f.Name)})
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := files[p]
		k := fileKey(p)
		present[k] = true
		if _, ok := st.Known[k]; ok || inLayout[p] {
			if !ok {
				st.Known[k] = known{T: now.Unix(), By: "i"}
			}
			continue
		}
		st.Known[k] = known{T: now.Unix(), By: "i"}
		if first || deltaName.MatchString(p) || c.takePending("f", time.Time{}) {
			continue
		}
		t := now
		if !f.modified.IsZero() {
			t = f.modified.UTC()
		}
		evs = append(evs, activity.Event{Time: t, Host: c.Name(), Datastore: activity.DatastoreOf(p), Path: p, Dest: p,
			Source: activity.SourceInventory, Action: activity.DiskCopy, VM: vmOfDir(p, vms),
			Details: fmt.Sprintf("a disk file in no VM's file layout appeared in %s (%d bytes)", path.Base(dirOf(p)+"/"), f.size),
			Key:     fmt.Sprintf("inventory:%s:file:%s:%d", c.Name(), p, f.modified.UnixNano())})
	}
	// Forget what is gone: snapshots removed, files deleted. What a task
	// reported and no read found yet is kept a while (the read may come
	// before the snapshot shows).
	for k, kn := range st.Known {
		if !present[k] && (kn.By == "i" || now.Unix()-kn.T > int64(24*time.Hour/time.Second)) {
			delete(st.Known, k)
		}
	}
	if len(st.Known) > knownMax {
		keys := make([]string, 0, len(st.Known))
		for k := range st.Known {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return st.Known[keys[i]].T < st.Known[keys[j]].T })
		for _, k := range keys[:len(keys)-knownMax] {
			delete(st.Known, k)
		}
	}
	kept := st.Pending[:0]
	for _, p := range st.Pending {
		if now.Sub(p.T) <= pendingFor {
			kept = append(kept, p)
		}
	}
	st.Pending = kept
	st.Names = names
	st.Read = now
	return evs
}

// vmOfDir names the VM whose folder holds a file, if any: a disk copied
// within a VM's folder is that VM's data.
func vmOfDir(p string, vms []vmInv) string {
	d := dirOf(p)
	for _, vm := range vms {
		if vm.dir == d {
			return vm.name
		}
	}
	return ""
}

// dsPath joins a datastore browser's folder ("[ds]", "[ds] dir/",
// vcsim's "[ds]/dir") and a file name as a VM's layout names its files:
// "[ds] dir/file".
func dsPath(folder, file string) string {
	ds, rest, ok := strings.Cut(folder, "]")
	if !ok {
		return strings.TrimSuffix(folder, "/") + "/" + file
	}
	rest = strings.Trim(strings.TrimSpace(rest), "/")
	if rest == "" {
		return ds + "] " + file
	}
	return ds + "] " + rest + "/" + file
}
