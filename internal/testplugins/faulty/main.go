// Command faulty is the fault-injecting analytic plugin (AN9999) that host
// tests launch to check how they cope with plugins that hang, crash or fail.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk/plugin"
)

// configEnv, when set, is a JSON configuration that replaces the defaults:
// the host's config has no section for a test analytic, and a test that
// starts the real extension passes the plugin its settings this way.
const configEnv = "STAGEWATCH_FAULTY_CONFIG"

func main() {
	if raw := os.Getenv(configEnv); raw != "" {
		cfg, err := fault.ParseConfig(json.RawMessage(raw))
		if err != nil {
			fmt.Fprintf(os.Stderr, "faulty: %s: %v\n", configEnv, err)
			os.Exit(1)
		}
		fault.DefaultConfig = cfg
	}
	plugin.Serve(fault.New())
}
