package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// Serve runs a as a plugin and returns when the host closes the
// connection. It is all a plugin's main needs to do. Run by hand, without
// the host's handshake, it says what it is and exits with status 1.
func Serve(a sdk.Analytic) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		d := a.Describe()
		fmt.Fprintf(os.Stderr,
			"%s (%s) version %s, platform %s: a stagewatch analytic plugin speaking %s.\n"+
				"It is not run by hand: stagewatchd or the osquery extension stagewatch.ext starts it.\n",
			d.AnalyticID, d.Name, d.Version, d.Platform, protocolName[ProtocolVersion])
		os.Exit(1)
	}

	logger := Logger()
	lifetime, stop := context.WithCancel(context.Background())
	var once sync.Once
	shutdown := func() { once.Do(func() { stop(); closeAnalytic(a, logger) }) }

	// go-plugin ignores SIGINT (the host forwards Ctrl-C as a Kill), but a
	// SIGTERM sent to the whole process group — systemd's default — would
	// otherwise end the plugin without undoing its kernel state.
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	go func() {
		if _, ok := <-terms; ok {
			logger.Info("SIGTERM: stopping")
			shutdown()
			os.Exit(0)
		}
	}()
	// A host that dies leaves this process's stderr a broken pipe; the
	// first log line would then kill it with SIGPIPE before it could undo
	// its kernel state. Ignored, the write just fails.
	signal.Ignore(syscall.SIGPIPE)
	// SIGHUP makes stagewatchd reopen its results log; sent to a whole
	// service (systemctl kill -s HUP) it reaches the plugins too, and must
	// not end them and the state they hold.
	signal.Ignore(syscall.SIGHUP)
	watchHost(func() {
		logger.Warn("the host process is gone: stopping")
		shutdown()
		os.Exit(0)
	})

	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versionedPlugins(a, lifetime),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize))...)
		},
		Logger: logger,
	})
	// The host asked us to stop (or went away).
	signal.Stop(terms)
	shutdown()
}

// closeAnalytic ends an analytic's collection before the process exits:
// collectors may hold kernel state — audit rules, fanotify marks — that must
// be undone, within the grace the host's Kill gives a plugin before SIGKILL.
func closeAnalytic(a sdk.Analytic, logger hclog.Logger) {
	c, ok := a.(io.Closer)
	if !ok {
		return
	}
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Warn("closing analytic", "error", err)
		}
	case <-time.After(closeGrace):
		logger.Warn("analytic did not close in time", "grace", closeGrace)
	}
}

// closeGrace stays under go-plugin's two-second wait for a graceful exit.
const closeGrace = 1500 * time.Millisecond

// Logger is the log a plugin should write to. Its JSON lines on stderr are
// what the host's go-plugin client parses and relays into the host's own
// log, levels and fields intact.
func Logger() hclog.Logger { return pluginLogger() }

var pluginLogger = sync.OnceValue(func() hclog.Logger {
	// Bound to the process's real stderr now: once serving, go-plugin
	// points os.Stderr at a pipe whose lines the host sees only as text.
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})
})

// windowSize is gRPC's flow-control window for host-plugin streams: a query
// result of thousands of rows is megabytes, and the 64 KiB default makes the
// plugin wait for a window update every 64 KiB on a local socket.
const windowSize = 4 << 20
