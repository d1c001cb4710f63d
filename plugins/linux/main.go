// Command stagewatch-linux is the Linux analytic plugin (AN0041). stagewatchd
// and the osquery extension start it; run by hand it says what it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/linux/an0041"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

func main() {
	plugin.Serve(an0041.New())
}
