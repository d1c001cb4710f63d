package plugin_test

import (
	"encoding/json"
	"testing"

	"github.com/stagewatch/stagewatch/internal/schema"
	"github.com/stagewatch/stagewatch/internal/testplugins/faulty/fault"
	"github.com/stagewatch/stagewatch/plugins/sdk"
	"github.com/stagewatch/stagewatch/plugins/sdk/sdktest"
)

const benchRows = 10000

// benchTargets are the ways a host reaches an analytic: directly (the
// baseline, no transport), in process over gRPC, and in a plugin process.
func benchTargets(b *testing.B, config string) map[string]sdk.Analytic {
	direct := fault.New()
	if _, err := direct.Configure(b.Context(), sdk.ConfigureRequest{Config: json.RawMessage(config)}); err != nil {
		b.Fatal(err)
	}
	inProcess := sdktest.Connect(b, fault.New())
	if _, err := inProcess.Configure(b.Context(), sdk.ConfigureRequest{Config: json.RawMessage(config)}); err != nil {
		b.Fatal(err)
	}
	return map[string]sdk.Analytic{
		"direct":     direct,
		"in-process": inProcess,
		"subprocess": launchFaulty(b, config).Analytic(),
	}
}

func BenchmarkGenerateOverGRPC(b *testing.B) {
	targets := benchTargets(b, `{"Rows": 10000}`)
	for _, name := range []string{"direct", "in-process", "subprocess"} {
		a := targets[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows := 0
				err := a.Generate(b.Context(), schema.Detections, nil, func(batch []sdk.Row) error {
					rows += len(batch)
					return nil
				})
				if err != nil || rows != benchRows {
					b.Fatalf("Generate: %d rows, %v", rows, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
		})
	}
}

func BenchmarkCallLatency(b *testing.B) {
	targets := benchTargets(b, "")
	for _, name := range []string{"in-process", "subprocess"} {
		a := targets[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if h := a.Health(b.Context()); h.State == sdk.StateFailed {
					b.Fatalf("Health: %+v", h)
				}
			}
		})
	}
}
