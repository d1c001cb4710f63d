package wevtapi

import (
	"fmt"
	"strconv"
	"strings"
)

// Channel is one event log channel to subscribe to and the event ids read
// from it.
type Channel struct {
	Path     string // Microsoft-Windows-Sysmon/Operational, Security
	EventIDs []int
	// Optional channels (Sysmon is not installed everywhere) that do not
	// exist are said in the collector's notes; a required one that cannot
	// be opened fails the collector.
	Optional bool
}

// Query is the structured XPath query that selects ch's event ids, as
// EvtSubscribe takes it: only those events are rendered and handed over,
// so a busy Security log costs what its relevant events cost.
func (ch Channel) Query() string {
	if len(ch.EventIDs) == 0 {
		return "*"
	}
	var b strings.Builder
	b.WriteString("*[System[(")
	for i, id := range ch.EventIDs {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("EventID=")
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteString(")]]")
	return b.String()
}

// check says what is wrong with a channel list before anything opens.
func check(channels []Channel) error {
	if len(channels) == 0 {
		return fmt.Errorf("wevtapi: no channels to subscribe to")
	}
	seen := map[string]bool{}
	for _, ch := range channels {
		if strings.TrimSpace(ch.Path) == "" {
			return fmt.Errorf("wevtapi: a channel with no name")
		}
		k := strings.ToLower(ch.Path)
		if seen[k] {
			return fmt.Errorf("wevtapi: channel %q given twice", ch.Path)
		}
		seen[k] = true
		for _, id := range ch.EventIDs {
			if id < 0 || id > 65535 {
				return fmt.Errorf("wevtapi: channel %q: event id %d out of range", ch.Path, id)
			}
		}
	}
	return nil
}
