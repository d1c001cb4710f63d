// Command stagewatch-linux is the Linux analytic plugin (AN0041). stagewatchd
// and the osquery extension start it; run by hand it says what it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/linux/an0041"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func main() {
	sdk.Serve(an0041.New())
}
