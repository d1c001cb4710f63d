package plugin_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(exitCode int) {
		sdktest.RemoveBuilds()
		os.Exit(exitCode)
	}))
}
