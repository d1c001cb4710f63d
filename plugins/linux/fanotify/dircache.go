//go:build linux

package fanotify

// dirCache maps a directory's (fsid, file handle) to what it resolved to: its
// path and whether that path is under a staging directory. A filesystem mark
// reports every create and close-after-write on the whole filesystem, so
// most events on a busy root filesystem are for directories nobody stages
// in; remembering "not staging" keeps those to one map lookup.
//
// Paths go stale when a directory, or one of its ancestors, is renamed. The
// watcher flushes the cache on every directory rename and queue overflow
// (when renames may have been lost), and entries also expire after ttl so
// that changes fanotify cannot report (a mount over a directory) heal.
//
// Bounded LRU: a doubly linked list threaded through the entries, most
// recent at head. Not safe for concurrent use; only Run's goroutine uses it.
type dirCache struct {
	capacity int
	ttl      int64 // nanoseconds
	items    map[string]*dirEntry
	head     *dirEntry
	tail     *dirEntry
}

type dirEntry struct {
	key        string
	path       string
	staging    bool
	expires    int64 // monotonic nanoseconds
	prev, next *dirEntry
}

func newDirCache(capacity int, ttl int64) *dirCache {
	return &dirCache{capacity: capacity, ttl: ttl, items: make(map[string]*dirEntry, capacity)}
}

// get returns the live entry for key; an expired entry counts as absent.
func (c *dirCache) get(key []byte, now int64) *dirEntry {
	e := c.items[string(key)] // no allocation for the conversion
	if e == nil {
		return nil
	}
	if now >= e.expires {
		c.unlink(e)
		delete(c.items, e.key)
		return nil
	}
	if e != c.head {
		c.unlink(e)
		c.pushFront(e)
	}
	return e
}

func (c *dirCache) put(key []byte, path string, staging bool, now int64) {
	if e := c.items[string(key)]; e != nil {
		e.path, e.staging, e.expires = path, staging, now+c.ttl
		c.unlink(e)
		c.pushFront(e)
		return
	}
	if len(c.items) >= c.capacity && c.tail != nil {
		old := c.tail
		c.unlink(old)
		delete(c.items, old.key)
	}
	e := &dirEntry{key: string(key), path: path, staging: staging, expires: now + c.ttl}
	c.items[e.key] = e
	c.pushFront(e)
}

func (c *dirCache) flush() {
	clear(c.items)
	c.head, c.tail = nil, nil
}

func (c *dirCache) len() int { return len(c.items) }

func (c *dirCache) unlink(e *dirEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *dirCache) pushFront(e *dirEntry) {
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}
