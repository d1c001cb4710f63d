package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/stagewatch/stagewatch/plugins/sdk"
)

// DefaultStartTimeout is how long Launch waits for a plugin's handshake.
const DefaultStartTimeout = 10 * time.Second

// LaunchConfig says which plugin binary to start and how.
type LaunchConfig struct {
	Path string
	// Name names the plugin in its log lines; empty means the binary's
	// base name.
	Name   string
	SHA256 string // hex; when set, a binary with another digest is refused
	Args   []string
	// Env is added to the host's environment (and wins over it).
	Env []string
	// Logger receives the plugin's log lines and whatever it writes to its
	// stdout and stderr. Nil logs at Info to stderr.
	Logger       hclog.Logger
	StartTimeout time.Duration // 0 means DefaultStartTimeout
}

// Plugin is one running plugin process.
type Plugin struct {
	path     string
	client   *goplugin.Client
	cmd      *exec.Cmd
	analytic *grpcClient
}

// Launch starts the plugin binary, completes the go-plugin handshake (gRPC
// only, with automatic mutual TLS) and fetches its description. ctx bounds
// the launch, not the plugin's life: Kill ends that.
func Launch(ctx context.Context, cfg LaunchConfig) (*Plugin, error) {
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", cfg.Path, err)
	}
	startTimeout := cfg.StartTimeout
	if startTimeout <= 0 {
		startTimeout = DefaultStartTimeout
	}
	if deadline, ok := ctx.Deadline(); ok {
		startTimeout = min(startTimeout, time.Until(deadline))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Info, Output: os.Stderr})
	}
	name := cfg.Name
	if name == "" {
		name = filepath.Base(path)
	}
	logger = logger.Named(name)

	var secure *goplugin.SecureConfig
	if cfg.SHA256 != "" {
		sum, err := hex.DecodeString(cfg.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugin %s: sha256 %q is not 64 hex digits", path, cfg.SHA256)
		}
		secure = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}

	cmd := exec.Command(path, cfg.Args...)
	// go-plugin puts the host's environment after Cmd.Env, where it would
	// override cfg.Env; build the environment here instead.
	cmd.Env = append(os.Environ(), cfg.Env...)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(nil),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger:           logger,
		// The host's own stdout carries results (replay prints detections
		// there), so a plugin's stray prints must never reach it.
		SyncStdout: logWriter(logger.Named("stdout")),
		SyncStderr: logWriter(logger.Named("stderr")),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(windowSize),
			grpc.WithInitialConnWindowSize(windowSize),
		},
	})
	p := &Plugin{path: path, client: client, cmd: cmd}
	if err := p.connect(ctx, cfg.SHA256); err != nil {
		client.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Plugin) connect(ctx context.Context, wantSHA256 string) error {
	protocol, err := p.client.Client()
	if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
		got, sumErr := FileSHA256(p.path)
		if sumErr != nil {
			got = sumErr.Error()
		}
		return fmt.Errorf("plugin %s: refusing to start: its sha256 is %s, the configuration expects %s: %w",
			p.path, got, strings.ToLower(wantSHA256), err)
	}
	if err != nil {
		return fmt.Errorf("plugin %s: start: %w", p.path, err)
	}
	raw, err := protocol.Dispense(PluginName)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.path, err)
	}
	analytic, ok := raw.(*grpcClient)
	if !ok {
		return fmt.Errorf("plugin %s: dispensed %T, not a stagewatch analytic", p.path, raw)
	}
	if _, err := analytic.DescribeContext(ctx); err != nil {
		return fmt.Errorf("plugin %s: %w", p.path, err)
	}
	p.analytic = analytic
	return nil
}

// Analytic is the plugin's analytic, called over gRPC.
func (p *Plugin) Analytic() sdk.Analytic { return p.analytic }

// Exited reports whether the plugin process has ended. It turns true
// shortly after the process dies, once the host has reaped it; a call that
// failed in between already matches ErrPluginGone.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Kill asks the plugin to shut down, forces it after two seconds, and
// returns once it has exited. It is safe to call more than once.
func (p *Plugin) Kill() { p.client.Kill() }

// Path is the plugin binary's absolute path.
func (p *Plugin) Path() string { return p.path }

// Pid is the plugin process id.
func (p *Plugin) Pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Protocol is the protocol major negotiated with the plugin.
func (p *Plugin) Protocol() int { return p.client.NegotiatedVersion() }

// FileSHA256 returns the hex SHA-256 of the file at path, as LaunchConfig
// and staging_analytics want it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func logWriter(logger hclog.Logger) io.Writer {
	return logger.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
}
