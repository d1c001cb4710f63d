package remote

import (
	"sync"
	"sync/atomic"
)

// Counters are a remote analytic's named health counters (API calls,
// retries, throttles, files, messages, duplicates), shown in
// staging_analytics' counters column. Safe for concurrent use.
type Counters struct {
	m sync.Map // name -> *atomic.Uint64
}

// Add adds n to the counter name.
func (c *Counters) Add(name string, n uint64) {
	v, ok := c.m.Load(name)
	if !ok {
		v, _ = c.m.LoadOrStore(name, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(n)
}

// Get returns the counter name.
func (c *Counters) Get(name string) uint64 {
	if v, ok := c.m.Load(name); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

// Into copies every counter into extra.
func (c *Counters) Into(extra map[string]uint64) {
	c.m.Range(func(k, v any) bool {
		extra[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
}
