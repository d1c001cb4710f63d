// Command stagewatch-aws is the AWS analytic plugin (AN0043). stagewatchd
// and the osquery extension start it; run by hand it says what it is.
package main

import (
	"github.com/stagewatch/stagewatch/plugins/aws/an0043"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

func main() {
	plugin.Serve(an0043.New())
}
