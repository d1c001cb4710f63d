package sqlengine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Whatever a query tries, every later query still sees every table. One
// connection, so each attempt lands on the connection the next query uses.
func TestOnlyReadingStatementsRun(t *testing.T) {
	t.Parallel()
	src := newMemSource(schema.DetectionsTable)
	src.setRows(schema.Detections, detection("a", 1700000100, "AN0041", "/tmp/stage", 12))
	e := openEngine(t, src, Options{QueryTimeout: 5 * time.Second, MaxConns: 1})
	refused := []struct{ sql, detail string }{
		// The reported attack, and the same smuggled after a reading statement.
		{"PRAGMA query_only=0; DROP TABLE temp.staging_detections", `PRAGMA statement: "PRAGMA query_only=0;`},
		{"SELECT 1; PRAGMA query_only=0; DROP TABLE temp.staging_detections", "PRAGMA statement"},
		{"SELECT uid FROM staging_detections;\n-- ;\nDROP TABLE temp.staging_detections", "DROP statement"},
		{"PRAGMA query_only", "PRAGMA statement"},
		{"DROP TABLE temp.staging_detections", "DROP statement"},
		{"CREATE TABLE temp.t(x)", "CREATE statement"},
		{"CREATE VIRTUAL TABLE temp.x USING stagewatch(1)", "CREATE statement"},
		{"INSERT INTO staging_detections(uid) VALUES ('x')", "INSERT statement"},
		{"UPDATE staging_detections SET uid = 'x'", "UPDATE statement"},
		{"DELETE FROM staging_detections", "DELETE statement"},
		{"ATTACH DATABASE '" + t.TempDir() + "/x.db' AS other", "ATTACH statement"},
		{"BEGIN", "BEGIN statement"},
		{"VACUUM temp", "VACUUM statement"},
		{"REINDEX", "REINDEX statement"},
		{"/* a comment */ pragma query_only = 0", "PRAGMA statement"},
		// What begins like a reading statement is refused by the authorizer.
		{"WITH c AS (SELECT 1) DELETE FROM staging_detections", "it would DELETE FROM staging_detections"},
		{"WITH c AS (SELECT 1) INSERT INTO staging_detections(uid) SELECT * FROM c", "it would INSERT INTO staging_detections"},
		{"EXPLAIN PRAGMA query_only = 0", "it would run PRAGMA query_only = 0"},
		{"EXPLAIN DROP TABLE temp.staging_detections", "it would"},
		{"SELECT * FROM pragma_query_only", "it would run PRAGMA query_only"},
		{"SELECT count(*) FROM pragma_query_only", "it would run PRAGMA query_only"},
		{"SELECT * FROM main.PRAGMA_query_only", "it would run PRAGMA query_only"},
		{"SELECT * FROM pragma_table_info('staging_detections')", "it would run PRAGMA table_info"},
	}
	for _, tc := range refused {
		_, _, err := e.Query(t.Context(), tc.sql)
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, ErrNotReading) {
			t.Errorf("Query(%q) = %v, want it refused", tc.sql, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "statement refused: only reading statements run") || !strings.Contains(msg, tc.detail) {
			t.Errorf("Query(%q) = %q, want the reason and %q", tc.sql, msg, tc.detail)
		}
		if err := e.Explain(t.Context(), tc.sql); !errors.Is(err, ErrNotReading) {
			t.Errorf("Explain(%q) = %v, want it refused", tc.sql, err)
		}
		if _, rows, err := e.Query(t.Context(), "SELECT COUNT(*) AS n FROM staging_detections"); err != nil || rows[0]["n"] != "1" {
			t.Fatalf("after %q: %v %v", tc.sql, rows, err)
		}
		if _, rows, err := e.Query(t.Context(), "SELECT COUNT(*) AS n FROM staging_detections WHERE uid = 'x'"); err != nil || rows[0]["n"] != "0" {
			t.Fatalf("after %q the table was written: %v %v", tc.sql, rows, err)
		}
	}
	reading := []string{
		"SELECT uid FROM staging_detections",
		"  -- a pack's comment\nselect uid from staging_detections",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT x FROM c",
		"EXPLAIN QUERY PLAN SELECT uid FROM staging_detections WHERE time > 5",
		"EXPLAIN SELECT 1",
		"VALUES (1, 2)",
		"SELECT name FROM sqlite_temp_master",
		"SELECT 1; SELECT 2",
	}
	for _, sql := range reading {
		if _, _, err := e.Query(t.Context(), sql); err != nil {
			t.Errorf("Query(%q) = %v", sql, err)
		}
	}
}

func TestLeadingWord(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"SELECT 1":                  "SELECT",
		"  \n\tselect*from x":       "select",
		"-- c\n/* d */ PRAGMA x":    "PRAGMA",
		"/* unterminated":           "",
		"-- only a comment":         "",
		"(SELECT 1)":                "",
		"with_x AS (SELECT 1)":      "with_x",
		"/**/VALUES(1)":             "VALUES",
		"--\r\n  WITH c AS (SELECT": "WITH",
	} {
		if got := leadingWord(in); got != want {
			t.Errorf("leadingWord(%q) = %q, want %q", in, got, want)
		}
	}
}

// The reported memory attacks end in an error naming the bound, and the
// engine goes on answering.
func TestQueryMemoryIsBounded(t *testing.T) {
	t.Parallel()
	_, e := fixture(t)
	rows := func(n int) string {
		return fmt.Sprintf("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) ", n)
	}
	tests := []struct{ sql, want string }{
		// The reported attack used randomblob, which is slow under the
		// race detector; group_concat materialises zeroblob all the same.
		{rows(900) + "SELECT group_concat(zeroblob(1000000)) FROM c", "a string or blob the query builds exceeds 32 MiB"},
		{rows(20) + "SELECT length(group_concat(hex(zeroblob(1000000)))) FROM c", "exceeds 32 MiB"},
		{"SELECT randomblob(40000000)", "exceeds 32 MiB"},
		{"SELECT zeroblob(40000000)", "exceeds 32 MiB"},
		{rows(900) + "SELECT zeroblob(1000000) AS b FROM c", "query result exceeds 128 MiB"},
	}
	for _, tc := range tests {
		_, rows, err := e.Query(t.Context(), tc.sql)
		var le *LimitError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Query(%.60q) = %d rows, %v; want %q", tc.sql, len(rows), err, tc.want)
		}
	}
	if _, rows, err := e.Query(t.Context(), "SELECT COUNT(*) AS n FROM staging_detections"); err != nil || rows[0]["n"] != "3" {
		t.Fatalf("engine after the limits: %v %v", rows, err)
	}
	// Smaller bounds are honoured and named.
	small := openEngine(t, newMemSource(), Options{QueryTimeout: 5 * time.Second, MaxResultBytes: 1 << 20, MaxValueBytes: 1000})
	if _, _, err := small.Query(t.Context(), "SELECT randomblob(1001)"); err == nil || !strings.Contains(err.Error(), "exceeds 1000 bytes") {
		t.Errorf("MaxValueBytes: %v", err)
	}
	for _, sql := range []string{
		rows(900) + "SELECT randomblob(1000) FROM c",
		// Rows without end: their bookkeeping counts.
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
	} {
		if _, _, err := small.Query(t.Context(), sql); err == nil || !strings.Contains(err.Error(), "query result exceeds 1 MiB") {
			t.Errorf("MaxResultBytes: %.60q: %v", sql, err)
		}
	}
}

// The bounds leave room for every row of each endpoint table at its cap,
// with realistic values.
func TestLimitsLeaveRoomForFullTables(t *testing.T) {
	t.Parallel()
	src := newMemSource(schema.DetectionsTable, schema.FileEventsTable, schema.ProcessEventsTable)
	src.batch = 5000
	evidence := "[" + strings.Repeat(`{"time":1700000000,"action":"write","path":"/tmp/stage/report-0001.docx","size":40960},`, 10) + "{}]"
	var detections, files, procs []sdk.Row
	for i := range 10_000 {
		d := detection(fmt.Sprint("uid-", i), int64(1700000000+i), "AN0041", "/tmp/stage", 12)
		d["evidence"] = evidence
		detections = append(detections, d)
	}
	for i := range 50_000 {
		files = append(files, sdk.Row{
			"time": strconv.Itoa(1700000000 + i), "time_ns": "123456789", "analytic_id": "AN0041", "platform": "linux",
			"host": "web-1.example.internal", "action": "write",
			"path":         fmt.Sprintf("/tmp/stage/quarterly-reports/finance/2024/q%d/report-%06d.xlsx", i%4, i),
			"staging_path": "/tmp/stage", "size": "40960", "pid": "12345", "process": "/usr/bin/cp",
			"actor": "alice (auid 1000) pts/0", "source": "fanotify",
		})
	}
	for i := range 20_000 {
		procs = append(procs, sdk.Row{
			"time": strconv.Itoa(1700000000 + i), "time_ns": "123456789", "analytic_id": "AN0041", "platform": "linux",
			"host": "web-1.example.internal", "pid": "12345", "ppid": "12300", "path": "/usr/bin/tar",
			"cmdline": "tar czf /tmp/stage.tgz -C /tmp stage --exclude '*.tmp' --owner=0 --group=0",
			"cwd":     "/home/alice/projects/finance", "uid": "1000", "euid": "1000", "auid": "1000", "user": "alice",
			"tty": "pts/0", "session": "3", "parent": "/usr/bin/bash",
			"ancestry": `["/usr/bin/bash","/usr/sbin/sshd","/usr/sbin/sshd","/usr/lib/systemd/systemd"]`,
			"category": "archiver", "source": "audit",
		})
	}
	src.setRows(schema.Detections, detections...)
	src.setRows(schema.FileEvents, files...)
	src.setRows(schema.ProcessEvents, procs...)
	e := openEngine(t, src, Options{QueryTimeout: time.Minute})
	for table, n := range map[string]int{schema.Detections: 10_000, schema.FileEvents: 50_000, schema.ProcessEvents: 20_000} {
		cols, rows, err := e.Query(t.Context(), "SELECT * FROM "+table)
		if err != nil || len(rows) != n {
			t.Fatalf("SELECT * FROM %s: %d rows, %v", table, len(rows), err)
		}
		held := 0
		for _, row := range rows {
			held += rowCost(len(cols))
			for _, v := range row {
				held += len(v)
			}
		}
		t.Logf("%s: %d rows count %.1f MiB of %d MiB", table, n, float64(held)/(1<<20), DefaultMaxResultBytes>>20)
		if held > DefaultMaxResultBytes/3*2 {
			t.Errorf("%s at its cap uses %d of %d bytes: too little headroom", table, held, DefaultMaxResultBytes)
		}
	}
	_, rows, err := e.Query(t.Context(), "SELECT length(group_concat(evidence)) AS n FROM staging_detections")
	if err != nil {
		t.Fatalf("group_concat of every evidence: %v", err)
	}
	t.Logf("every detection's evidence in one value: %s bytes of %d MiB", rows[0]["n"], DefaultMaxValueBytes>>20)
}
