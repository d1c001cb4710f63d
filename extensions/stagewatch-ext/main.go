// Command stagewatch.ext is stagewatch's osquery extension. osqueryd
// autoloads it (extensions.load) and runs it as
//
//	stagewatch.ext --socket PATH --timeout 3 --interval 3 [--verbose]
//
// It carries this platform's analytics (and the remote ones) and runs each as
// a plugin process of its own executable (stagewatch.ext plugin ANxxxx), so
// the one file Fleet delivers is all it needs. Configuration, optional, comes
// from $STAGEWATCH_CONFIG or /etc/stagewatch/stagewatch.yaml; without one the
// platform's analytics run with their defaults.
// Exit status: 0 when osqueryd goes away or on SIGTERM, 1 on a startup or
// configuration error, 2 on bad arguments.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stagewatch/stagewatch/extensions/extserver"
	"github.com/stagewatch/stagewatch/host/supervisor"
)

func main() {
	// Started by itself as one of its built-in analytic plugins.
	if supervisor.ServeBuiltin(os.Args[1:]) {
		return
	}
	flags, err := extserver.ParseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stagewatch.ext:", err)
		os.Exit(2)
	}
	level := hclog.Info
	if flags.Verbose {
		level = hclog.Debug
	}
	// osqueryd passes the extension's stderr through to its own log: one
	// plain line per event, prefixed with the extension name, reads there.
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "stagewatch.ext",
		Level:      level,
		Output:     os.Stderr,
		TimeFormat: time.RFC3339,
	})
	opts := extserver.Options{Flags: flags, Logger: log}
	if v := os.Getenv(extserver.TableTimeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			log.Error("bad "+extserver.TableTimeoutEnv, "value", v)
			os.Exit(1)
		}
		opts.TableTimeout = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := extserver.Run(ctx, opts); err != nil {
		log.Error("stagewatch.ext stopped", "error", err)
		stop()
		os.Exit(1)
	}
}
