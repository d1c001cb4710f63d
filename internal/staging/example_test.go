package staging_test

import (
	"fmt"
	"time"

	"github.com/stagewatch/stagewatch/internal/event"
	"github.com/stagewatch/stagewatch/internal/staging"
)

func Example() {
	c, err := staging.New(staging.Config{AnalyticID: "AN0041", Platform: "linux", Host: "web-1"})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	// As the Linux collectors report root through sudo at a terminal.
	alice := event.Actor{UID: 0, EUID: 0, AUID: 1000, User: "root", Session: "3", TTY: "pts/0", Interactive: true, Elevated: true}
	cp := event.Process{PID: 4242, Exe: "/usr/bin/cp", Cwd: "/home/alice"}
	for i, name := range []string{"q3.docx", "plan.pdf", "staff.xlsx", "db.sqlite", "notes.txt"} {
		c.Observe(&event.Event{Time: start.Add(time.Duration(i) * time.Second), Kind: event.KindFileWrite,
			Path: "/tmp/loot/" + name, Size: 250_000, Actor: alice, Process: cp})
	}
	tar := event.Process{PID: 4300, PPID: 4000, Exe: "/usr/bin/tar", Argv: []string{"tar", "czf", "/tmp/loot.tgz", "loot"}, Cwd: "/tmp"}
	for _, d := range c.Observe(&event.Event{Time: start.Add(2 * time.Minute), Kind: event.KindExec, Actor: alice, Process: tar}) {
		fmt.Println(d.Severity, d.Score, d.UID)
		fmt.Println(d.Actor)
		fmt.Println(d.Process)
		fmt.Println(d.Reason)
	}
	// Output:
	// high 83 ffdf65f4b140ade22e565d1d2bc6894a
	// root (uid 0, auid 1000, tty pts/0, ses 3)
	// /usr/bin/tar czf /tmp/loot.tgz loot
	// root (auid 1000, pts/0) copied 5 files (3 documents, 1 database, 1.2 MB) into /tmp/loot and archived them with tar into /tmp/loot.tgz within 2m
}
