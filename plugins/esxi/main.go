// Command stagewatch-esxi is the ESXi analytic plugin (AN0044).
// stagewatchd and the osquery extension start it; run by hand it says
// what it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/esxi/an0044"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

func main() {
	plugin.Serve(an0044.New())
}
