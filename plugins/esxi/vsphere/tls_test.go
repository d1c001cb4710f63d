package vsphere

import "crypto/tls"

// tlsConfigMarker asks vcsim to serve TLS with its own certificate.
type tlsConfigMarker struct{}

func (tlsConfigMarker) config() *tls.Config { return new(tls.Config) }
