package linuxactor

import (
	"testing"

	"github.com/stagewatch/stagewatch/internal/event"
)

func TestSet(t *testing.T) {
	t.Parallel()
	u := int64(event.Unknown)
	tests := []struct {
		name                  string
		a                     event.Actor
		interactive, elevated bool
	}{
		{"user at a terminal", event.Actor{UID: 1000, EUID: 1000, AUID: 1000, TTY: "pts0"}, true, false},
		{"sudo at a terminal", event.Actor{UID: 0, EUID: 0, AUID: 1000, TTY: "pts0"}, true, true},
		{"setuid root program", event.Actor{UID: 1000, EUID: 0, AUID: 1000, TTY: "(none)"}, false, true},
		{"root logged in", event.Actor{UID: 0, EUID: 0, AUID: 0, TTY: "tty1"}, true, false},
		{"a service", event.Actor{UID: 0, EUID: 0, AUID: u, TTY: "(none)"}, false, false},
		{"cron job of a user", event.Actor{UID: 1000, EUID: 1000, AUID: 1000}, false, false},
		{"unknown", event.Actor{UID: u, EUID: u, AUID: u, TTY: "?"}, false, false},
	}
	for _, tt := range tests {
		a := tt.a
		Set(&a)
		if a.Interactive != tt.interactive || a.Elevated != tt.elevated {
			t.Errorf("%s: interactive %v elevated %v, want %v %v", tt.name, a.Interactive, a.Elevated, tt.interactive, tt.elevated)
		}
	}
}
