package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// What one query may do and hold. SQL reaches the engine from packs, the
// control socket and `stagewatchd query`; whoever writes it must not be able
// to change what later queries see, nor take the process's memory.
//
// Only reading statements run, checked twice:
//   - every statement of the text must begin with SELECT, WITH, EXPLAIN or
//     VALUES (readingOnly), before any of them runs: the driver runs
//     the statements of one text in turn, and VACUUM or REINDEX on their
//     own reach no authorizer action;
//   - SQLite's authorizer, installed on every connection, allows reading
//     tables, calling functions and recursive CTEs, and refuses every other
//     operation while a statement is compiled: a write, DDL, PRAGMA (also
//     as a table-valued pragma_* function), ATTACH or transaction, wherever
//     it hides (WITH … DELETE, EXPLAIN PRAGMA, which SQLite would apply
//     while compiling).
// query_only stays on as well; the authorizer is what keeps a PRAGMA from
// lifting it.
//
// Memory: no string or blob a query builds may exceed MaxValueBytes
// (SQLITE_LIMIT_LENGTH, so group_concat, randomblob, replace and the like
// stop there), and the rows a result holds may not exceed MaxResultBytes.
// SQLite's own heap limits (sqlite3_hard_heap_limit64) cannot serve here:
// the pure-Go build is compiled without memory statistics
// (SQLITE_DEFAULT_MEMSTATUS=0), so they never trigger.

// SQLite limit ids (sqlite3_limit).
const (
	sqliteLimitLength   = 0 // SQLITE_LIMIT_LENGTH
	sqliteLimitAttached = 7 // SQLITE_LIMIT_ATTACHED: zero forbids ATTACH
)

// Defaults of the memory bounds, chosen so that no pack query and no
// whole-table SELECT comes near them: every row of the largest endpoint
// table at its cap (staging_file_events, 50,000 rows) counts about 65 MiB,
// 10,000 detections with their evidence about 25 MiB
// (TestLimitsLeaveRoomForFullTables), and the largest single value a pack
// builds, one detection's evidence, a few KiB.
const (
	DefaultMaxResultBytes = 128 << 20
	DefaultMaxValueBytes  = 32 << 20
)

// Bookkeeping a result row costs beyond its values, as Go holds it (a
// map[string]string per row): about 64 bytes per row and 80 per column,
// at least 4 columns' worth. Measured with Go 1.26: 346 bytes for a row of
// up to 8 empty cells, 1,250 for 16, 2,400 for 32.
const (
	rowOverhead  = 64
	cellOverhead = 80
)

func rowCost(columns int) int { return rowOverhead + cellOverhead*max(columns, 4) }

// ErrNotReading is the reason a statement that would change anything is
// refused.
var ErrNotReading = errors.New("only reading statements run (SELECT, WITH, EXPLAIN, VALUES)")

// RefusedError is a statement refused because it is not a reading one.
type RefusedError struct {
	// Detail says what the statement is or would do, e.g.
	// "it would run PRAGMA query_only = 0".
	Detail string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("statement refused: %v; %s", ErrNotReading, e.Detail)
}

func (e *RefusedError) Unwrap() error { return ErrNotReading }

// LimitError is a query that ran into one of the engine's memory bounds.
type LimitError struct {
	What  string // "query result", "a string or blob"
	Bytes int
	How   string // what to do about it
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s exceeds %s (%s)", e.What, formatBytes(e.Bytes), e.How)
}

func formatBytes(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// authorize is the authorizer of one connection: what reading a table
// needs, and nothing else. The engine's own schema changes (install) run
// trusted.
func (s *connState) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, db, _ string) sqlite.AuthorizerReturnCode {
	if s.trusted.Load() {
		return sqlite.AuthorizerOK
	}
	switch action {
	case sqlite.AuthRead:
		// A pragma_* table-valued function runs its PRAGMA when scanned,
		// and that PRAGMA is refused then; refusing the read too makes a
		// pack check (Explain, which only compiles) see it.
		if name := strings.ToLower(arg1); db != "temp" && strings.HasPrefix(name, "pragma_") {
			return s.refuse("run PRAGMA " + strings.TrimPrefix(name, "pragma_"))
		}
		return sqlite.AuthorizerOK
	case sqlite.AuthSelect, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	}
	return s.refuse(operation(action, arg1, arg2))
}

func (s *connState) refuse(op string) sqlite.AuthorizerReturnCode {
	s.refused.CompareAndSwap(nil, &op)
	return sqlite.AuthorizerDeny
}

// refusal turns SQLite's "not authorized" into the reason, when the
// authorizer refused something since the query began.
func (s *connState) refusal(err error) error {
	if p := s.refused.Load(); p != nil && !errors.Is(err, ErrNotReading) {
		return &RefusedError{Detail: "it would " + *p}
	}
	return err
}

// valueLimit names the bound when SQLite reports a value too big.
func valueLimit(err error, limit int) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_TOOBIG {
		return &LimitError{What: "a string or blob the query builds", Bytes: limit,
			How: "SQLITE_LIMIT_LENGTH; aggregate less into one value"}
	}
	return err
}

// operation says in SQL what an authorizer action would do.
func operation(action sqlite.AuthorizerActionCode, arg1, arg2 string) string {
	switch action {
	case sqlite.AuthPragma:
		if arg2 != "" {
			return fmt.Sprintf("run PRAGMA %s = %s", arg1, arg2)
		}
		return "run PRAGMA " + arg1
	case sqlite.AuthAttach:
		return fmt.Sprintf("ATTACH %q", arg1)
	case sqlite.AuthDetach:
		return "DETACH " + arg1
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		if isSchemaTable(arg1) {
			return "change the schema (CREATE, DROP or ALTER)"
		}
		return map[sqlite.AuthorizerActionCode]string{
			sqlite.AuthInsert: "INSERT INTO ", sqlite.AuthUpdate: "UPDATE ", sqlite.AuthDelete: "DELETE FROM ",
		}[action] + arg1
	case sqlite.AuthDropTable, sqlite.AuthDropTempTable, sqlite.AuthDropVTable:
		return "DROP TABLE " + arg1
	case sqlite.AuthDropIndex, sqlite.AuthDropTempIndex:
		return "DROP INDEX " + arg1
	case sqlite.AuthDropView, sqlite.AuthDropTempView:
		return "DROP VIEW " + arg1
	case sqlite.AuthDropTrigger, sqlite.AuthDropTempTrigger:
		return "DROP TRIGGER " + arg1
	case sqlite.AuthCreateTable, sqlite.AuthCreateTempTable:
		return "CREATE TABLE " + arg1
	case sqlite.AuthCreateVTable:
		return "CREATE VIRTUAL TABLE " + arg1
	case sqlite.AuthCreateIndex, sqlite.AuthCreateTempIndex:
		return "CREATE INDEX " + arg1
	case sqlite.AuthCreateView, sqlite.AuthCreateTempView:
		return "CREATE VIEW " + arg1
	case sqlite.AuthCreateTrigger, sqlite.AuthCreateTempTrigger:
		return "CREATE TRIGGER " + arg1
	case sqlite.AuthAlterTable:
		return "ALTER TABLE " + arg2
	case sqlite.AuthTransaction:
		return arg1 + " a transaction"
	case sqlite.AuthSavepoint:
		return strings.TrimSpace(arg1 + " SAVEPOINT " + arg2)
	case sqlite.AuthReindex:
		return "REINDEX"
	case sqlite.AuthAnalyze:
		return "ANALYZE"
	}
	return fmt.Sprintf("perform SQLite operation %d", action)
}

func isSchemaTable(name string) bool {
	switch strings.ToLower(name) {
	case "sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema":
		return true
	}
	return false
}

// readingKeywords are the words a reading statement begins with.
var readingKeywords = []string{"SELECT", "WITH", "EXPLAIN", "VALUES"}

// readingOnly refuses the text unless every statement in it begins with a
// reading keyword. A statement that does not is compiled first (never run,
// and under the authorizer), so that a typo reads as SQLite's syntax error.
func (e *Engine) readingOnly(ctx context.Context, pc *pooledConn, statements []string) error {
	for _, text := range statements {
		word := strings.ToUpper(leadingWord(text))
		if slices.Contains(readingKeywords, word) {
			continue
		}
		stmt, err := pc.conn.PrepareContext(ctx, text)
		if err == nil {
			stmt.Close()
		} else if err = e.sqliteError(pc.state, err); !errors.Is(err, ErrNotReading) {
			return err
		}
		quoted := quoteShort(strings.TrimSpace(text), 60)
		if word == "" {
			return &RefusedError{Detail: "this one does not begin with a keyword: " + quoted}
		}
		return &RefusedError{Detail: fmt.Sprintf("this one is a %s statement: %s", word, quoted)}
	}
	return nil
}

// leadingWord is the first word of a statement after whitespace and
// comments: letters, digits and underscores.
func leadingWord(text string) string {
	for {
		text = strings.TrimLeft(text, " \t\n\r\f")
		switch {
		case strings.HasPrefix(text, "--"):
			if i := strings.IndexByte(text, '\n'); i >= 0 {
				text = text[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(text, "/*"):
			if i := strings.Index(text[2:], "*/"); i >= 0 {
				text = text[i+4:]
				continue
			}
			return ""
		}
		end := strings.IndexFunc(text, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})
		if end < 0 {
			end = len(text)
		}
		return text[:end]
	}
}

// quoteShort quotes s, cut to n runes.
func quoteShort(s string, n int) string {
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return strconv.Quote(s)
}
