package remote

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/statedb"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// A remote analytic's durable state: where each source was read to (its
// cursors), the things it finished (delivery files, queue messages: its
// marks), the events it correlated, each under its dedupe key (a
// CloudTrail eventID), and its detections. One Commit writes a source's
// events with the cursor and marks past them, so after a crash a source
// is read again from just after what was kept, nothing skipped, and what
// is read twice is known by its key. Events are fed back through the
// correlator at start, which rebuilds the open windows and the
// detections with their UIDs.

// stateSpec lays out the remote state database.
var stateSpec = statedb.Spec{File: "remote.db", ApplicationID: 0x53745752 /* "StWR" */, Version: 1, Schema: `
CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE marks (scope TEXT NOT NULL, key TEXT NOT NULL, time_ns INTEGER NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX marks_time ON marks (time_ns);
CREATE TABLE events (seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, time_ns INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX events_time ON events (time_ns);
CREATE TABLE detections (uid TEXT PRIMARY KEY, time_ns INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX detections_time ON detections (time_ns);`}

// Default state bounds, as the endpoint analytics'.
const (
	DefaultEventsExpiry     = 24 * time.Hour
	DefaultEventsMax        = 200000
	DefaultDetectionsExpiry = 30 * 24 * time.Hour
	DefaultDetectionsMax    = 10000
	// MarksExpiry bounds how long finished files and messages are
	// remembered: longer than any re-listing margin or redelivery.
	MarksExpiry = 7 * 24 * time.Hour
)

// Item is one event or detection as the state keeps it.
type Item struct {
	Key  string // dedupe key (eventID) or detection UID
	Time time.Time
	Data []byte
}

// Mark is one thing a source finished, in a scope of its own.
type Mark struct {
	Scope, Key string
	Time       time.Time
}

// Batch is what one Commit writes, all or nothing.
type Batch struct {
	Events     []Item
	Marks      []Mark
	Cursors    map[string]string
	Detections []Item
}

// State is a remote analytic's durable state, or its in-memory stand-in
// when it has no state directory (then it still dedupes and keeps
// cursors for the life of the process). Safe for concurrent use.
type State struct {
	db     *statedb.DB // nil: memory only
	limits sdk.StateLimits

	mu                                      sync.Mutex
	keys                                    map[string]time.Time // memory mode: dedupe keys
	order                                   []string
	cursors                                 map[string]string
	marks                                   map[string]time.Time
	written, duplicates, writeErrs, expired uint64
	lastErr                                 string
}

func withDefaults(l sdk.StateLimits) sdk.StateLimits {
	if l.EventsExpiry <= 0 {
		l.EventsExpiry = DefaultEventsExpiry
	}
	if l.EventsMax <= 0 {
		l.EventsMax = DefaultEventsMax
	}
	if l.DetectionsExpiry <= 0 {
		l.DetectionsExpiry = DefaultDetectionsExpiry
	}
	if l.DetectionsMax <= 0 {
		l.DetectionsMax = DefaultDetectionsMax
	}
	return l
}

// MemoryState is a state kept in memory only.
func MemoryState(limits sdk.StateLimits) *State {
	return &State{limits: withDefaults(limits), keys: map[string]time.Time{}, cursors: map[string]string{}, marks: map[string]time.Time{}}
}

// OpenState opens the state in dir (the analytic's own state directory).
func OpenState(dir string, limits sdk.StateLimits, log func(string)) (*State, error) {
	db, err := statedb.Open(dir, stateSpec, log)
	if err != nil {
		return nil, err
	}
	s := MemoryState(limits)
	s.db = db
	return s, nil
}

// MovedAway is where a bad state found at open was put, if anywhere.
func (s *State) MovedAway() string {
	if s.db == nil {
		return ""
	}
	return s.db.MovedAway
}

// Durable reports whether the state is on disk.
func (s *State) Durable() bool { return s.db != nil }

// Close closes the database.
func (s *State) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Commit writes b in one transaction. fresh[i] says whether b.Events[i]
// was new; false is a duplicate (its key was kept before, or earlier in
// the batch), to be dropped by the caller.
func (s *State) Commit(b Batch) (fresh []bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh = make([]bool, len(b.Events))
	if s.db == nil {
		for i, e := range b.Events {
			if _, dup := s.keys[e.Key]; dup {
				s.duplicates++
				continue
			}
			fresh[i] = true
			s.keys[e.Key] = e.Time
			s.order = append(s.order, e.Key)
		}
		for len(s.order) > s.limits.EventsMax {
			delete(s.keys, s.order[0])
			s.order = s.order[1:]
			s.expired++
		}
		for k, v := range b.Cursors {
			s.cursors[k] = v
		}
		for _, m := range b.Marks {
			s.marks[m.Scope+"\x00"+m.Key] = m.Time
		}
		s.written += uint64(len(b.Events))
		return fresh, nil
	}
	err = s.commitTx(b, fresh)
	if err != nil {
		s.writeErrs++
		s.lastErr = err.Error()
		return nil, err
	}
	s.lastErr = ""
	for _, f := range fresh {
		if f {
			s.written++
		} else {
			s.duplicates++
		}
	}
	return fresh, nil
}

func (s *State) commitTx(b Batch, fresh []bool) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(b.Events) > 0 {
		st, err := tx.Prepare("INSERT OR IGNORE INTO events (key, time_ns, data) VALUES (?, ?, ?)")
		if err != nil {
			return err
		}
		for i, e := range b.Events {
			res, err := st.Exec(e.Key, e.Time.UnixNano(), e.Data)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			fresh[i] = n == 1
		}
		st.Close()
	}
	for _, m := range b.Marks {
		if _, err := tx.Exec("INSERT OR REPLACE INTO marks (scope, key, time_ns) VALUES (?, ?, ?)", m.Scope, m.Key, m.Time.UnixNano()); err != nil {
			return err
		}
	}
	for k, v := range b.Cursors {
		if _, err := tx.Exec("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", k, v); err != nil {
			return err
		}
	}
	for _, d := range b.Detections {
		if _, err := tx.Exec("INSERT OR REPLACE INTO detections (uid, time_ns, data) VALUES (?, ?, ?)", d.Key, d.Time.UnixNano(), d.Data); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Cursor returns the value saved under name.
func (s *State) Cursor(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		v, ok := s.cursors[name]
		return v, ok
	}
	var v string
	err := s.db.QueryRow("SELECT value FROM cursors WHERE name = ?", name).Scan(&v)
	return v, err == nil
}

// Marked reports whether key was marked finished in scope.
func (s *State) Marked(scope, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		_, ok := s.marks[scope+"\x00"+key]
		return ok
	}
	var one int
	return s.db.QueryRow("SELECT 1 FROM marks WHERE scope = ? AND key = ?", scope, key).Scan(&one) == nil
}

// Events calls fn with every event kept, in the order committed.
func (s *State) Events(ctx context.Context, fn func(Item) error) error {
	return s.each(ctx, "SELECT key, time_ns, data FROM events ORDER BY seq", fn)
}

// Detections calls fn with every detection kept, oldest first.
func (s *State) Detections(ctx context.Context, fn func(Item) error) error {
	return s.each(ctx, "SELECT uid, time_ns, data FROM detections ORDER BY time_ns", fn)
}

func (s *State) each(ctx context.Context, query string, fn func(Item) error) error {
	if s.db == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var it Item
		var ns int64
		if err := rows.Scan(&it.Key, &ns, &it.Data); err != nil {
			return err
		}
		it.Time = time.Unix(0, ns).UTC()
		if err := fn(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Expire removes events older than EventsExpiry before now or beyond
// EventsMax, marks past MarksExpiry, and detections past their bounds.
func (s *State) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		for k, t := range s.marks {
			if now.Sub(t) > MarksExpiry {
				delete(s.marks, k)
			}
		}
		return
	}
	l := s.limits
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"DELETE FROM events WHERE time_ns < ?", []any{now.Add(-l.EventsExpiry).UnixNano()}},
		{"DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)", []any{l.EventsMax}},
		{"DELETE FROM marks WHERE time_ns < ?", []any{now.Add(-MarksExpiry).UnixNano()}},
		{"DELETE FROM detections WHERE time_ns < ?", []any{now.Add(-l.DetectionsExpiry).UnixNano()}},
		{"DELETE FROM detections WHERE uid IN (SELECT uid FROM detections ORDER BY time_ns DESC LIMIT -1 OFFSET ?)", []any{l.DetectionsMax}},
	} {
		res, err := s.db.Exec(q.sql, q.args...)
		if err != nil {
			s.lastErr = err.Error()
			continue
		}
		n, _ := res.RowsAffected()
		s.expired += uint64(n)
	}
}

// Counters adds the state's counters to extra; problem is non-empty when
// the last write failed.
func (s *State) Counters(extra map[string]uint64) (problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	extra["state_written"] = s.written
	extra["state_duplicates"] = s.duplicates
	extra["state_write_errors"] = s.writeErrs
	extra["state_expired"] = s.expired
	if s.db != nil {
		var n int64
		_ = s.db.QueryRow("SELECT count(*) FROM events").Scan(&n)
		extra["state_events"] = uint64(n)
		_ = s.db.QueryRow("SELECT count(*) FROM detections").Scan(&n)
		extra["state_detections"] = uint64(n)
	}
	if s.lastErr != "" {
		return fmt.Sprintf("state not saved (detection goes on in memory): %s", s.lastErr)
	}
	return ""
}
