// Package plugin serves stagewatch analytics as hashicorp/go-plugin gRPC
// plugins and launches them from the host. Analytics and hosts program
// against package sdk; this package converts its types to and from the
// generated stagewatch.v1 messages (internal/toproto, internal/fromproto),
// which nothing outside it sees.
package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/stagewatch/stagewatch/plugins/sdk"
	stagewatchv1 "github.com/stagewatch/stagewatch/proto/stagewatch/v1"
)

// ProtocolVersion is the plugin protocol major this SDK speaks: the gRPC
// package stagewatch.v1. A breaking change to the contract becomes
// stagewatch.v2, served beside v1 under key 2 of VersionedPlugins, so hosts
// and plugins of different ages still find a version they share.
const ProtocolVersion = 1

// PluginName is the name the analytic is dispensed under in every PluginSet.
const PluginName = "analytic"

// protocolName names each protocol major for people (messages, logs).
var protocolName = map[int]string{1: "stagewatch.v1"}

// Handshake is shared by hosts and plugins. The magic cookie is not a
// security measure: it only lets a plugin binary run by hand say what it is
// instead of hanging on a handshake nobody will answer.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "STAGEWATCH_PLUGIN",
	MagicCookieValue: "f67839b91d0a72919612eb96adf3a87f795d33a3b52944f748e0752c1e486402",
}

// GRPCPlugin serves Impl (in the plugin) or dispenses a client that
// implements sdk.Analytic (in the host) over stagewatch.v1.
type GRPCPlugin struct {
	// gRPC is the only transport: net/rpc cannot carry the streams.
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the analytic served; unused on the host side.
	Impl sdk.Analytic

	// Lifetime bounds the collection begun by Start. A Start RPC ends as
	// soon as collection is running, so its own context cannot be the one
	// collection runs under. Nil means collection runs until the process
	// exits.
	Lifetime context.Context
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers Impl on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	lifetime := p.Lifetime
	if lifetime == nil {
		lifetime = context.Background()
	}
	stagewatchv1.RegisterAnalyticServer(s, newGRPCServer(p.Impl, lifetime))
	return nil
}

// GRPCClient returns an sdk.Analytic that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newGRPCClient(conn), nil
}

// VersionedPlugins is the plugin map keyed by protocol major, as both
// plugin.Serve and plugin.NewClient take it. impl is nil on the host side.
func VersionedPlugins(impl sdk.Analytic) map[int]goplugin.PluginSet {
	return versionedPlugins(impl, nil)
}

func versionedPlugins(impl sdk.Analytic, lifetime context.Context) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		1: {PluginName: &GRPCPlugin{Impl: impl, Lifetime: lifetime}},
	}
}
