package store

import (
	"sort"
	"time"
)

// ring is a time-ordered buffer of at most max records, oldest evicted
// first. Records arrive nearly in order (collectors and settle delays reorder
// by milliseconds), so an insert is an append or a short shift near the end.
// Records are pointers to values that are never changed once added, which
// lets Generate copy the pointers out and convert them without the lock.
type ring[T any] struct {
	buf     []*T
	head    int // index in buf of the oldest record
	n       int
	max     int
	timeOf  func(*T) time.Time
	evicted uint64
}

func newRing[T any](max int, timeOf func(*T) time.Time) *ring[T] {
	if max < 1 {
		max = 1
	}
	return &ring[T]{max: max, timeOf: timeOf}
}

func (r *ring[T]) at(i int) *T { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring[T]) set(i int, v *T) { r.buf[(r.head+i)%len(r.buf)] = v }

// grow doubles the buffer up to max: a store that never fills never pays for
// its whole cap.
func (r *ring[T]) grow() {
	size := min(max(2*len(r.buf), 64), r.max)
	buf := make([]*T, size)
	for i := range r.n {
		buf[i] = r.at(i)
	}
	r.buf, r.head = buf, 0
}

// insert adds v in time order after records of the same time. At the cap
// it returns the record that left: the oldest, or v itself when v is older
// than everything kept (it would be the next to go anyway).
func (r *ring[T]) insert(v *T) (evicted *T) {
	t := r.timeOf(v)
	if r.n == r.max {
		if t.Before(r.timeOf(r.at(0))) {
			r.evicted++
			return v
		}
		evicted = r.at(0)
		r.removeAt(0)
		r.evicted++
	}
	if r.n == len(r.buf) {
		r.grow()
	}
	pos := r.n
	for steps := 0; pos > 0 && t.Before(r.timeOf(r.at(pos-1))); steps++ {
		if steps == 64 {
			// Far out of order: binary search instead of walking back.
			pos = r.upper(t)
			break
		}
		pos--
	}
	for i := r.n; i > pos; i-- {
		r.set(i, r.at(i-1))
	}
	r.set(pos, v)
	r.n++
	return evicted
}

func (r *ring[T]) removeAt(pos int) {
	if pos == 0 {
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		return
	}
	for i := pos; i < r.n-1; i++ {
		r.set(i, r.at(i+1))
	}
	r.set(r.n-1, nil)
	r.n--
}

// lower is the index of the first record at or after t.
func (r *ring[T]) lower(t time.Time) int {
	return sort.Search(r.n, func(i int) bool { return !r.timeOf(r.at(i)).Before(t) })
}

// upper is the index of the first record after t.
func (r *ring[T]) upper(t time.Time) int {
	return sort.Search(r.n, func(i int) bool { return r.timeOf(r.at(i)).After(t) })
}

// slice copies out the records in [from, to).
func (r *ring[T]) slice(from, to int) []*T {
	out := make([]*T, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, r.at(i))
	}
	return out
}
