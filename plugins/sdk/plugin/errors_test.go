package plugin

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// TestErrorsSurviveTheWire encodes an analytic's error as the plugin does
// and decodes it as the host does.
func TestErrorsSurviveTheWire(t *testing.T) {
	t.Parallel()
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name         string
		err          error
		serverCtx    context.Context
		clientCtx    context.Context
		wantCode     codes.Code
		wantConfig   *sdk.ConfigError
		wantIs       error
		wantGone     bool
		wantMessages string
	}{
		{
			name: "config error, wrapped", err: fmt.Errorf("configure: %w", &sdk.ConfigError{Key: "TimeWindow", Reason: "want a duration"}),
			serverCtx: live, clientCtx: live, wantCode: codes.InvalidArgument,
			wantConfig: &sdk.ConfigError{Key: "TimeWindow", Reason: "want a duration"},
		},
		{
			name: "plain error", err: errors.New("audit socket closed"),
			serverCtx: live, clientCtx: live, wantCode: codes.Unknown, wantMessages: "audit socket closed",
		},
		{
			name: "analytic's own status", err: status.Error(codes.PermissionDenied, "need CAP_AUDIT_READ"),
			serverCtx: live, clientCtx: live, wantCode: codes.PermissionDenied, wantMessages: "need CAP_AUDIT_READ",
		},
		{
			name: "caller cancelled", err: context.Canceled,
			serverCtx: cancelled, clientCtx: cancelled, wantCode: codes.Canceled, wantIs: context.Canceled,
		},
		{
			name: "a context error of the analytic's own", err: fmt.Errorf("collector: %w", context.Canceled),
			serverCtx: live, clientCtx: live, wantCode: codes.Unknown, wantMessages: "collector: context canceled",
		},
		{
			name: "transport gone", err: status.Error(codes.Unavailable, "error reading from server: EOF"),
			serverCtx: live, clientCtx: live, wantCode: codes.Unavailable, wantIs: sdk.ErrPluginGone, wantGone: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wire := toStatus(tt.serverCtx, tt.err)
			if status.Code(wire) != tt.wantCode {
				t.Fatalf("wire code %v, want %v", status.Code(wire), tt.wantCode)
			}
			got := fromStatus(tt.clientCtx, wire)
			if tt.wantConfig != nil {
				var configErr *sdk.ConfigError
				if !errors.As(got, &configErr) || *configErr != *tt.wantConfig {
					t.Fatalf("got %v (%T), want %+v", got, got, tt.wantConfig)
				}
			}
			if tt.wantIs != nil && !errors.Is(got, tt.wantIs) {
				t.Fatalf("got %v, want errors.Is %v", got, tt.wantIs)
			}
			if tt.wantMessages != "" && got.Error() != tt.wantMessages {
				t.Fatalf("message %q, want %q", got.Error(), tt.wantMessages)
			}
			if sdk.IsPluginGone(got) != tt.wantGone {
				t.Fatalf("sdk.IsPluginGone(%v) = %v, want %v", got, sdk.IsPluginGone(got), tt.wantGone)
			}
		})
	}
	if sdk.IsPluginGone(nil) {
		t.Fatalf("sdk.IsPluginGone(nil) is true")
	}
}
