package supervisor

import (
	"fmt"
	"os"

	"github.com/stagewatch/stagewatch/plugins/registry"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

// BuiltinCommand is the first argument with which stagewatchd and
// stagewatch.ext start themselves as the plugin of a built-in analytic:
// `stagewatch.ext plugin AN0041`. One delivered file then carries its
// platform's analytics, each still its own process with go-plugin's
// handshake, mutual TLS and restart.
const BuiltinCommand = "plugin"

// ServeBuiltin serves the built-in analytic args name when args are
// BuiltinCommand's, and reports whether they were: a binary's main calls
// it first and returns when it says true. Run by hand, the plugin says
// what it is and exits 1, as any plugin does.
func ServeBuiltin(args []string) bool {
	if len(args) == 0 || args[0] != BuiltinCommand {
		return false
	}
	if len(args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s %s ANxxxx (started by the host, not by hand)\n", os.Args[0], BuiltinCommand)
		os.Exit(2)
	}
	a, ok := registry.Lookup(args[1])
	if !ok || !a.BuiltIn() {
		fmt.Fprintf(os.Stderr, "%s: analytic %q is not built into this binary\n", os.Args[0], args[1])
		os.Exit(2)
	}
	plugin.Serve(a.New())
	return true
}
