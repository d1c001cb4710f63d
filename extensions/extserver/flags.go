package extserver

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Flags are exactly the arguments osqueryd passes to an autoloaded
// extension: --socket PATH --timeout SECONDS --interval SECONDS [--verbose].
type Flags struct {
	Socket   string
	Timeout  time.Duration
	Interval time.Duration
	Verbose  bool
}

// Defaults match osquery's --extensions_timeout and --extensions_interval.
const (
	DefaultTimeout  = 3 * time.Second
	DefaultInterval = 3 * time.Second
)

// ParseFlags parses args (without the program name). Both "-flag value" and
// "--flag=value" forms work; --verbose is a bare boolean as osqueryd passes it.
// Any other argument is an error, since it means an invocation osqueryd never
// makes.
func ParseFlags(args []string, output io.Writer) (Flags, error) {
	f := Flags{Timeout: DefaultTimeout, Interval: DefaultInterval}
	fs := flag.NewFlagSet("stagewatch.ext", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&f.Socket, "socket", "", "path of osqueryd's extensions socket (osqueryd passes it)")
	fs.Var((*seconds)(&f.Timeout), "timeout", "seconds to wait for the socket and for each call to osqueryd")
	fs.Var((*seconds)(&f.Interval), "interval", "seconds between pings of osqueryd")
	fs.BoolVar(&f.Verbose, "verbose", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q: only --socket, --timeout, --interval and --verbose are accepted", fs.Arg(0))
	}
	if f.Socket == "" {
		return f, fmt.Errorf("--socket is required (osqueryd passes it to autoloaded extensions; by hand: osqueryi --extension %s)", "/usr/local/osquery/extensions/stagewatch.ext")
	}
	return f, nil
}

// seconds is a duration given as whole seconds (what osqueryd passes) or as
// a Go duration such as 1500ms.
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 {
			return fmt.Errorf("must be positive, got %s", v)
		}
		*s = seconds(time.Duration(n * float64(time.Second)))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want seconds, got %q", v)
	}
	if d <= 0 {
		return fmt.Errorf("must be positive, got %s", v)
	}
	*s = seconds(d)
	return nil
}
