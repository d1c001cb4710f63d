// Command faulty is the fault-injecting analytic plugin (AN9999) that host
// tests launch to check how they cope with plugins that hang, crash or fail.
package main

import (
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
)

func main() { sdk.Serve(fault.New()) }
