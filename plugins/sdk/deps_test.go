package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestContractImportsNoTransport keeps the contract apart from transport:
// the packages analytics and hosts program against must not pull in
// go-plugin, gRPC or the generated protobuf, which only sdk/plugin sees.
func TestContractImportsNoTransport(t *testing.T) {
	t.Parallel()
	forbidden := []string{"google.golang.org/grpc", "github.com/hashicorp/go-plugin", "google.golang.org/protobuf",
		"github.com/stagewatch/stagewatch/proto/"}
	for _, pkg := range []string{
		"github.com/stagewatch/stagewatch/plugins/sdk",
		"github.com/stagewatch/stagewatch/internal/schema",
		"github.com/stagewatch/stagewatch/internal/elements",
		"github.com/stagewatch/stagewatch/internal/store",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/stagewatch/stagewatch/plugins/sdk").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, ".") && !strings.HasPrefix(dep, "github.com/stagewatch/stagewatch/plugins/sdk") {
			t.Errorf("the contract package imports %s; it may import only the standard library", dep)
		}
	}
}
