// Command stagewatch-eval runs AN0041's labelled evaluation: the staging
// stories and benign days of plugins/linux/eval, live against stagewatchd
// run and replayed from the fixtures recorded with auditd, and prints a
// table per mode. It exits 1 on any miss, duplicate or alert.
//
//	stagewatch-eval [-stagewatchd build/stagewatchd] [-modes live,replay] [-fixtures DIR]
//	stagewatch-eval -record [-fixtures DIR]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stagewatch/stagewatch/plugins/linux/eval"
)

func main() {
	bin := flag.String("stagewatchd", "build/stagewatchd", "the stagewatchd binary to evaluate")
	modes := flag.String("modes", "live,replay", "modes to run, comma separated: live, replay (dry: run the stories with no sensor)")
	fixtures := flag.String("fixtures", "plugins/linux/testdata/eval", "directory of the recorded fixtures")
	record := flag.Bool("record", false, "re-record the fixtures with auditd instead of evaluating")
	verbose := flag.Bool("v", false, "print the stories' output")
	flag.Parse()

	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	if *record {
		if err := eval.Record(*fixtures, log); err != nil {
			fmt.Fprintln(os.Stderr, "stagewatch-eval:", err)
			os.Exit(2)
		}
		return
	}
	failed := false
	for _, mode := range strings.Split(*modes, ",") {
		var rep *eval.Report
		var err error
		switch mode {
		case "live":
			rep, err = eval.RunLive(*bin, log)
		case "dry":
			// The stories alone, no sensor: to check that they run.
			err = eval.DryRun(log)
			if err == nil {
				continue
			}
		case "replay":
			rep, err = eval.RunReplay(*bin, *fixtures)
		default:
			err = fmt.Errorf("unknown mode %q", mode)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "stagewatch-eval: %s: %v\n", mode, err)
			os.Exit(2)
		}
		rep.Print(os.Stdout)
		failed = failed || rep.Failed()
	}
	if failed {
		os.Exit(1)
	}
}
