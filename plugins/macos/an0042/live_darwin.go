//go:build darwin

package an0042

import (
	"os"
	"strings"
	"syscall"

	"github.com/stagewatch/stagewatch/internal/endpoint"
	"github.com/stagewatch/stagewatch/plugins/macos/esclient"
)

// liveCollection is how AN0042 collects on macOS: one source, Endpoint
// Security through the eslogger child, for execs and file events alike.
var liveCollection = &endpoint.Live{
	Sources: []endpoint.Source{
		{Kind: "events", Candidates: []endpoint.Candidate{
			{Name: "eslogger", Label: "Endpoint Security (eslogger)", Open: openESLogger},
		}},
	},
	// Every message carries its process whole (executable, ids, tty), so
	// no lookup of processes started before collection is needed; exited
	// ones leave the process table when signal 0 finds them gone.
	Alive: func(pid int64) bool { return syscall.Kill(int(pid), 0) != syscall.ESRCH },
}

// OpenEventsEnv, set to 1 or true in the daemon's environment, adds
// Endpoint Security's open events: every open on the Mac, loud, for hosts
// where writes through already-open files matter.
const OpenEventsEnv = "STAGEWATCH_ESLOGGER_OPEN"

func openESLogger(endpoint.Env) (endpoint.Collector, error) {
	v := strings.ToLower(os.Getenv(OpenEventsEnv))
	return esclient.Open(esclient.Config{Path: esclient.Path, Open: v == "1" || v == "true" || v == "yes"})
}
