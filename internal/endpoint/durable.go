package endpoint

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/statedb"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// An analytic's durable state is an embedded SQLite database (the pure-Go
// engine the host's SQL already uses) in WAL mode, one file in the
// analytic's own state directory, written by this process alone (a lock
// says so). It keeps the events the correlator can act on, in the order
// they were processed, and the detections. After a restart, whatever
// killed the process, the events kept are fed again through a fresh
// pipeline: the correlator's UIDs depend only on them, so every detection
// comes back with its UID, the tables with their rows, and a staging whose
// copies came before the restart and whose archive comes after is
// detected once. Events are written before they reach the tables, so what
// a query could see is on disk.
//
// SQLite rather than a log file: a commit is atomic, so a crash or a power
// cut mid-commit leaves the last consistent state (WAL frames are
// checksummed; a torn one is ignored); bounds are DELETEs; and it is
// already in every stagewatch binary.

// stateFile is the database's name in the state directory.
const stateFile = "state.db"

// stateSchema identifies a stagewatch state database (PRAGMA application_id)
// and its layout (user_version).
const (
	stateApplicationID = 0x53745741 // "StWA"
	stateVersion       = 2
)

// expireBatch bounds one DELETE of expired rows, so expiry never holds the
// database for long.
const expireBatch = 2000

// Default state bounds (osquery's events_expiry/events_max analogue).
const (
	DefaultEventsExpiry     = 24 * time.Hour
	DefaultEventsMax        = 200000
	DefaultDetectionsExpiry = 30 * 24 * time.Hour
	DefaultDetectionsMax    = 10000
)

type durable struct {
	dir    string
	path   string
	limits sdk.StateLimits
	state  *statedb.DB
	db     *sql.DB

	mu        sync.Mutex
	events    int64 // rows now
	dets      int64
	written   uint64
	writeErrs uint64
	diskFull  uint64
	expired   uint64
	movedAway string // the corrupt or foreign file put aside at open, if any
	lastErr   string
	log       func(string)
	loggedAt  time.Time // the last write failure logged
	skew      time.Duration
}

// setSkew records the exec skew the pipeline correlates with from now
// on; each event is kept with it, so it is correlated the same way when
// read back whatever the mode then.
func (d *durable) setSkew(skew time.Duration) {
	d.mu.Lock()
	d.skew = skew
	d.mu.Unlock()
}

// failureLogEvery bounds how often write failures are logged: the first at
// once, then one a minute with the count.
const failureLogEvery = time.Minute

func withStateDefaults(l sdk.StateLimits) sdk.StateLimits {
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

// stateSpec is the endpoint state database's layout.
var stateSpec = statedb.Spec{File: stateFile, ApplicationID: stateApplicationID, Version: stateVersion, Schema: `
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY,
	time_ns INTEGER NOT NULL,
	skew_ns INTEGER NOT NULL,
	row     INTEGER NOT NULL,
	data    BLOB NOT NULL
);
CREATE INDEX events_time ON events (time_ns);
CREATE TABLE detections (
	uid     TEXT PRIMARY KEY,
	time_ns INTEGER NOT NULL,
	data    BLOB NOT NULL
);
CREATE INDEX detections_time ON detections (time_ns);`}

// openDurable opens (or creates) the state database in dir. The directory
// must be the process's own (see safepath.OwnDir). A file that is not a
// stagewatch state database, or fails SQLite's check, is moved aside and a
// new one made; log says so.
func openDurable(dir string, limits sdk.StateLimits, log func(string)) (*durable, error) {
	db, err := statedb.Open(dir, stateSpec, log)
	if err != nil {
		return nil, err
	}
	d := &durable{dir: dir, path: db.Path, limits: withStateDefaults(limits), state: db, db: db.DB, log: log, movedAway: db.MovedAway}
	d.recount()
	return d, nil
}

func (d *durable) recount() {
	var events, dets int64
	_ = d.db.QueryRow("SELECT count(*) FROM events").Scan(&events)
	_ = d.db.QueryRow("SELECT count(*) FROM detections").Scan(&dets)
	d.mu.Lock()
	d.events, d.dets = events, dets
	d.mu.Unlock()
}

// eventKey identifies an event as a collector or log reported it, before
// enrichment: the same input replayed twice gives the same keys, once per
// occurrence.
type eventKey struct {
	timeNS        int64
	kind          event.Kind
	pid           int64
	path, source  string
	sourcePath    string
	size          int64
	recovered     bool
	archiveFormat string
	secret        string
	exe, argv     string // of an exec, which carries its own process
}

func keyOf(ev *event.Event) eventKey {
	k := eventKey{
		timeNS: ev.Time.UnixNano(), kind: ev.Kind, pid: ev.Process.PID,
		path: ev.Path, source: ev.Source, sourcePath: ev.SourcePath, size: ev.Size,
		recovered: ev.Recovered, archiveFormat: ev.ArchiveFormat, secret: ev.Secret,
	}
	if ev.Kind == event.KindExec {
		k.exe, k.argv = ev.Process.Exe, strings.Join(ev.Process.Argv, "\x00")
	}
	return k
}

// tableRow says which event table an event kept is a row of, so that a
// restart adds to a table only the rows it will still hold.
type tableRow uint8

const (
	rowNone tableRow = iota
	rowFile
	rowProcess
)

// save writes events (each a row of the table rows says; nil for none)
// and detections in one transaction. A failure (a full disk) is counted
// and returned; detection goes on in memory.
func (d *durable) save(evs []*event.Event, rows []tableRow, dets []event.Detection) error {
	if len(evs) == 0 && len(dets) == 0 {
		return nil
	}
	err := d.saveTx(evs, rows, dets)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.writeErrs++
		if statedb.DiskFull(err) {
			d.diskFull++
		}
		d.lastErr = err.Error()
		if now := time.Now(); now.Sub(d.loggedAt) >= failureLogEvery {
			d.loggedAt = now
			d.log(fmt.Sprintf("state %s not saved, detection goes on in memory (%d writes failed, %d for a full disk): %v", d.path, d.writeErrs, d.diskFull, err))
		}
		return err
	}
	if d.lastErr != "" {
		d.log(fmt.Sprintf("state %s saved again after %d failed writes", d.path, d.writeErrs))
		d.loggedAt = time.Time{}
	}
	d.lastErr = ""
	d.written += uint64(len(evs))
	return nil
}

func (d *durable) saveTx(evs []*event.Event, rows []tableRow, dets []event.Detection) error {
	tx, err := d.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var added int64
	d.mu.Lock()
	skew := int64(d.skew)
	d.mu.Unlock()
	if len(evs) > 0 {
		st, err := tx.Prepare("INSERT INTO events (time_ns, skew_ns, row, data) VALUES (?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		var buf []byte
		for i, ev := range evs {
			buf = ev.AppendBinary(buf[:0])
			row := rowNone
			if i < len(rows) {
				row = rows[i]
			}
			if _, err := st.Exec(ev.Time.UnixNano(), skew, int(row), buf); err != nil {
				return err
			}
			added++
		}
	}
	if len(dets) > 0 {
		st, err := tx.Prepare("INSERT OR REPLACE INTO detections (uid, time_ns, data) VALUES (?, ?, ?)")
		if err != nil {
			return err
		}
		defer st.Close()
		var buf []byte
		for i := range dets {
			buf = dets[i].AppendBinary(buf[:0])
			if _, err := st.Exec(dets[i].UID, dets[i].Time.UnixNano(), buf); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.mu.Lock()
	d.events += added
	d.mu.Unlock()
	if len(dets) > 0 {
		d.recountDetections()
	}
	return nil
}

func (d *durable) recountDetections() {
	var n int64
	if d.db.QueryRow("SELECT count(*) FROM detections").Scan(&n) == nil {
		d.mu.Lock()
		d.dets = n
		d.mu.Unlock()
	}
}

// loadEvents feeds back the events kept, in the order they were
// processed, each with the exec skew it was correlated with, one at a time
// (a full state is not held in memory twice). A row that no longer decodes
// is skipped and counted.
func (d *durable) loadEvents(ctx context.Context, fn func(*event.Event, time.Duration, tableRow)) (n, skipped int, err error) {
	rows, err := d.db.QueryContext(ctx, "SELECT skew_ns, row, data FROM events ORDER BY seq")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var data []byte
	var skew int64
	var row int
	// Events of one process share its strings, as the process table's do;
	// the set is dropped when it grows past what one day's processes need.
	shared := event.Strings{}
	for rows.Next() {
		if err := rows.Scan(&skew, &row, &data); err != nil {
			return n, skipped, err
		}
		if len(shared) > maxSharedStrings {
			shared = event.Strings{}
		}
		ev := new(event.Event)
		if ev.UnmarshalShared(data, shared) != nil {
			skipped++
			continue
		}
		fn(ev, time.Duration(skew), tableRow(row))
		n++
	}
	return n, skipped, rows.Err()
}

// rowsFrom is the time of the max-th newest event kept as a row of
// table: an older one would leave a table of max rows at once, so a
// restart need not add it (the zero time when all fit).
func (d *durable) rowsFrom(ctx context.Context, table tableRow, max int) time.Time {
	var ns int64
	err := d.db.QueryRowContext(ctx, "SELECT time_ns FROM events WHERE row = ? ORDER BY time_ns DESC LIMIT 1 OFFSET ?", int(table), max-1).Scan(&ns)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// maxSharedStrings bounds the strings shared while reading events back.
const maxSharedStrings = 100000

// loadDetections feeds back the detections kept that have is false for
// (those the events fed back did not rebuild: their events expired
// first), oldest first, and counts all it read.
func (d *durable) loadDetections(ctx context.Context, has func(uid string) bool, fn func(*event.Detection)) (n, skipped int, err error) {
	rows, err := d.db.QueryContext(ctx, "SELECT uid, data FROM detections ORDER BY time_ns")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var data []byte
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid, &data); err != nil {
			return n, skipped, err
		}
		n++
		if has(uid) {
			continue
		}
		var det event.Detection
		if det.UnmarshalBinary(data) != nil || det.UID != uid {
			skipped++
			continue
		}
		fn(&det)
	}
	return n, skipped, rows.Err()
}

// expire removes, in small batches, events and detections past their age
// or past their count, oldest first.
func (d *durable) expire(now time.Time) {
	l := d.limits
	var removed int64
	for _, q := range []struct {
		table  string
		before time.Time
		max    int
	}{{"events", now.Add(-l.EventsExpiry), l.EventsMax}, {"detections", now.Add(-l.DetectionsExpiry), l.DetectionsMax}} {
		key := "seq"
		if q.table == "detections" {
			key = "uid"
		}
		for {
			res, err := d.db.Exec(fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE time_ns < ? ORDER BY time_ns LIMIT %[3]d)", q.table, key, expireBatch), q.before.UnixNano())
			if err != nil {
				break
			}
			n, _ := res.RowsAffected()
			removed += n
			if n < expireBatch {
				break
			}
		}
		var count int
		if d.db.QueryRow("SELECT count(*) FROM "+q.table).Scan(&count) != nil {
			continue
		}
		for over := count - q.max; over > 0; {
			batch := min(over, expireBatch)
			res, err := d.db.Exec(fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s ORDER BY time_ns LIMIT %[3]d)", q.table, key, batch))
			if err != nil {
				break
			}
			n, _ := res.RowsAffected()
			removed += n
			over -= int(n)
			if n == 0 {
				break
			}
		}
	}
	if removed > 0 {
		d.mu.Lock()
		d.expired += uint64(removed)
		d.mu.Unlock()
		d.recount()
	}
}

// latest is the time of the newest event or detection kept: the clock of
// a replayed state, whose events may be days old.
func (d *durable) latest() time.Time {
	var ns sql.NullInt64
	_ = d.db.QueryRow("SELECT max(t) FROM (SELECT max(time_ns) AS t FROM events UNION ALL SELECT max(time_ns) FROM detections)").Scan(&ns)
	if !ns.Valid {
		return time.Time{}
	}
	return time.Unix(0, ns.Int64)
}

// counters adds the state's size, bounds and failures to a health's extra
// counters, and says what went wrong last, if anything.
func (d *durable) counters(extra map[string]uint64) (problem string) {
	var pages, pageSize int64
	_ = d.db.QueryRow("PRAGMA page_count").Scan(&pages)
	_ = d.db.QueryRow("PRAGMA page_size").Scan(&pageSize)
	var wal int64
	if info, err := os.Stat(d.path + "-wal"); err == nil {
		wal = info.Size()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	extra["state_events"] = uint64(d.events)
	extra["state_detections"] = uint64(d.dets)
	extra["state_bytes"] = uint64(pages*pageSize + wal)
	extra["state_events_written"] = d.written
	extra["state_write_errors"] = d.writeErrs
	extra["state_disk_full"] = d.diskFull
	extra["state_expired"] = d.expired
	extra["state_events_max"] = uint64(d.limits.EventsMax)
	extra["state_events_expiry_seconds"] = uint64(d.limits.EventsExpiry / time.Second)
	extra["state_detections_max"] = uint64(d.limits.DetectionsMax)
	extra["state_detections_expiry_seconds"] = uint64(d.limits.DetectionsExpiry / time.Second)
	if d.lastErr != "" {
		return "state not saved (detection goes on in memory): " + d.lastErr
	}
	return ""
}

func (d *durable) close() error {
	return d.state.Close()
}

// durableError says why a state directory could not be used, for health.
func durableError(err error) string {
	return strings.TrimSpace("state kept in memory only: " + err.Error())
}
