// Command stagewatch-windows is the Windows analytic plugin (AN0040).
// stagewatchd and the osquery extension start it; run by hand it says what
// it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
	"github.com/stagewatch/stagewatch/plugins/windows/an0040"
)

func main() {
	plugin.Serve(an0040.New())
}
