// Command stagewatch-macos is the macOS analytic plugin (AN0042).
// stagewatchd and the osquery extension start it; run by hand it says what
// it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/macos/an0042"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

func main() {
	plugin.Serve(an0042.New())
}
