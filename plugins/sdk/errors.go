package sdk

import (
	"context"
	"errors"
)

// ErrPluginGone is matched (errors.Is) by every error from a call that
// failed because the analytic's process died or its connection closed. A
// supervisor restarts the plugin on it; other errors are the analytic's.
var ErrPluginGone = errors.New("plugin process is gone")

// IsPluginGone reports whether err means the analytic's process died or can
// no longer be reached, as opposed to an error the analytic returned. The
// transport turns its own failures into errors matching ErrPluginGone.
func IsPluginGone(err error) bool {
	return err != nil && errors.Is(err, ErrPluginGone)
}

// ContextDescriber is implemented by analytics reached through a transport:
// asking them who they are can fail or take time, which Describe cannot say.
type ContextDescriber interface {
	DescribeContext(ctx context.Context) (Descriptor, error)
}

// DescribeContext is Describe with a deadline and an error: an analytic
// behind a transport is asked (once; the answer does not change), any other
// answers a.Describe().
func DescribeContext(ctx context.Context, a Analytic) (Descriptor, error) {
	if d, ok := a.(ContextDescriber); ok {
		return d.DescribeContext(ctx)
	}
	return a.Describe(), nil
}
