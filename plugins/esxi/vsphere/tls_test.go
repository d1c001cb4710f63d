package vsphere

import (
	"crypto/tls"
	"os"
)

// tlsConfigMarker asks vcsim to serve TLS with its own certificate.
type tlsConfigMarker struct{}

func (tlsConfigMarker) config() *tls.Config { return new(tls.Config) }

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }
