// Package statedb is how an analytic keeps durable state in its own state
// directory: one embedded SQLite database (the pure-Go engine the host's
// SQL already uses) in WAL mode, written by one process alone (a lock file
// says which), identified by an application id and a layout version, and
// moved aside rather than trusted when it is damaged, foreign or of another
// layout. The endpoint analytics keep their events and detections in one;
// the remote analytics their cursors, dedupe keys and open windows
// (internal/remote). What goes inside is the caller's schema.
package statedb

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stagewatch/stagewatch/internal/safepath"
)

// Spec says which database a caller keeps and how a new one is laid out.
type Spec struct {
	File          string // its name in the state directory
	ApplicationID int64  // PRAGMA application_id: whose database it is
	Version       int64  // PRAGMA user_version: the layout this build reads
	// Schema creates a new database's tables (the pragmas are set here).
	Schema string
}

// DB is an open state database and the lock that makes it this process's.
type DB struct {
	*sql.DB
	Dir  string
	Path string
	// MovedAway is where an unusable file found at open was put, if any.
	MovedAway string
	lock      *os.File
}

// Open opens (or creates) spec's database in dir, which must be the
// process's own (safepath.OwnDir) and is locked for it, waiting up to
// LockWait for a process letting go. A file that is not this database, is
// of another layout or fails SQLite's check is moved aside and a new one
// made; log says so. A full disk or an I/O error leaves the file alone.
func Open(dir string, spec Spec, log func(string)) (*DB, error) {
	if err := safepath.OwnDir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %w", err)
	}
	lock, err := Lock(dir, LockWait)
	if err != nil {
		return nil, err
	}
	d := &DB{Dir: dir, Path: filepath.Join(dir, spec.File), lock: lock}
	db, err := open(d.Path, spec)
	if err != nil && !Unusable(err) {
		Unlock(lock)
		return nil, fmt.Errorf("state %s: %w", d.Path, err)
	}
	if err != nil {
		aside, moveErr := moveAside(d.Path)
		if moveErr != nil {
			Unlock(lock)
			return nil, fmt.Errorf("state %s: %v; moving it aside: %v", d.Path, err, moveErr)
		}
		log(fmt.Sprintf("state %s: %v: moved aside to %s, starting a new one", d.Path, err, aside))
		d.MovedAway = aside
		if db, err = open(d.Path, spec); err != nil {
			Unlock(lock)
			return nil, fmt.Errorf("state %s: %w", d.Path, err)
		}
	}
	d.DB = db
	return d, nil
}

// Close closes the database and lets the directory go.
func (d *DB) Close() error {
	err := d.DB.Close()
	Unlock(d.lock)
	return err
}

// open opens the database and checks it is spec's and whole.
func open(path string, spec Spec) (*sql.DB, error) {
	if err := CreatePrivate(path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: one writer, and the reads (at start) are ours.
	db.SetMaxOpenConns(1)
	if err := check(db, spec); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func check(db *sql.DB, spec Spec) error {
	var app, version int64
	if err := db.QueryRow("PRAGMA application_id").Scan(&app); err != nil {
		return err
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	var tables int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return err
	}
	switch {
	case app == 0 && version == 0 && tables == 0:
		// A new file.
		_, err := db.Exec(fmt.Sprintf("PRAGMA application_id = %d;\nPRAGMA user_version = %d;\n%s", spec.ApplicationID, spec.Version, spec.Schema))
		return err
	case app != spec.ApplicationID:
		return badState{fmt.Sprintf("not a stagewatch state database (application_id %#x)", app)}
	case version != spec.Version:
		return badState{fmt.Sprintf("state layout version %d, this build reads %d", version, spec.Version)}
	}
	var ok string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&ok); err != nil {
		return err
	}
	if ok != "ok" {
		return badState{"damaged: " + ok}
	}
	return nil
}

// badState is a file that is not a state this build can use.
type badState struct{ why string }

func (b badState) Error() string { return b.why }

// Unusable reports whether err says the file itself is bad (not ours,
// damaged, not a database), so it is to be moved aside, rather than the
// disk or the system failing.
func Unusable(err error) bool {
	var b badState
	if errors.As(err, &b) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return false
}

// moveAside renames the database (and its WAL and shared-memory files) out
// of the way, keeping it for a person to look at.
func moveAside(path string) (string, error) {
	aside := fmt.Sprintf("%s.bad-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Rename(path+suffix, aside+suffix)
	}
	return aside, nil
}

// DiskFull reports whether err is SQLite saying the disk is full.
func DiskFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}
