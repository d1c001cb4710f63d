package plugin

import (
	"context"
	"errors"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// ErrChecksumMismatch is matched by the error Launch returns when the
// binary's SHA-256 is not the one configured.
var ErrChecksumMismatch = goplugin.ErrChecksumsDoNotMatch

// toStatus encodes an analytic's error for the wire. rpcCtx is the call's
// own context: a context error the analytic got from elsewhere (its
// collection ending, say) is its own failure, not the caller cancelling.
func toStatus(rpcCtx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var configErr *sdk.ConfigError
	if errors.As(err, &configErr) {
		st := status.New(codes.InvalidArgument, configErr.Error())
		detailed, detailErr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: configErr.Key, Description: configErr.Reason},
			},
		})
		if detailErr != nil {
			return st.Err()
		}
		return detailed.Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if rpcCtx.Err() != nil {
		switch {
		case errors.Is(err, context.Canceled):
			return status.Error(codes.Canceled, err.Error())
		case errors.Is(err, context.DeadlineExceeded):
			return status.Error(codes.DeadlineExceeded, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// fromStatus turns an RPC error back into what the analytic returned: a
// *sdk.ConfigError, ctx's own error when the caller's context ended, an
// error matching sdk.ErrPluginGone when the transport failed, or a
// remoteError keeping the plugin's message and gRPC code.
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.InvalidArgument:
		for _, detail := range st.Details() {
			badRequest, ok := detail.(*errdetails.BadRequest)
			if !ok || len(badRequest.GetFieldViolations()) == 0 {
				continue
			}
			violation := badRequest.GetFieldViolations()[0]
			return &sdk.ConfigError{Key: violation.GetField(), Reason: violation.GetDescription()}
		}
	case codes.Canceled, codes.DeadlineExceeded:
		if err := deadlineReached(ctx); err != nil {
			return err
		}
		// The caller's context is alive, so the local connection closed
		// under the call: the plugin was killed.
		if st.Code() == codes.Canceled {
			return &remoteError{code: st.Code(), message: st.Message(), gone: true}
		}
	case codes.Unavailable:
		return &remoteError{code: st.Code(), message: st.Message(), gone: true}
	}
	return &remoteError{code: st.Code(), message: st.Message()}
}

// remoteError is an error returned through the plugin connection. It keeps
// the gRPC code (status.Code works on it) while Error reads like the
// analytic's own message.
type remoteError struct {
	code    codes.Code
	message string
	gone    bool
}

func (e *remoteError) Error() string {
	if e.gone {
		return sdk.ErrPluginGone.Error() + ": " + e.message
	}
	return e.message
}

func (e *remoteError) Is(target error) bool { return e.gone && target == sdk.ErrPluginGone }

func (e *remoteError) GRPCStatus() *status.Status { return status.New(e.code, e.message) }

// deadlineSkew is how early the plugin may see a deadline the two
// processes share: gRPC sends the caller's deadline along, and the plugin's
// timer can fire (and reset the stream) a moment before the caller's own.
const deadlineSkew = 250 * time.Millisecond

// deadlineReached returns ctx's error if ctx has ended, or is about to end
// by its deadline, in which case it waits that moment out so the caller sees
// its own context.DeadlineExceeded rather than a dead plugin.
func deadlineReached(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > deadlineSkew {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}
