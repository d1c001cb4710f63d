package remote

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func collect(t *testing.T, l *SyslogListener, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case m := <-l.Messages():
			got = append(got, strings.TrimRight(string(m.Data), "\n"))
		case <-deadline:
			t.Fatalf("got %d of %d messages: %q", len(got), n, got)
		}
	}
	return got
}

const (
	esxi7 = "<166>2021-03-10T14:45:33.123Z esx01 Hostd[2099570]: [Originator@6876 sub=Vimsvc.TaskManager opID=vim-cmd-1 user=root] Task Created : haTask-1-vim.VirtualMachine.createSnapshot-1"
	esxi8 = `<166>1 2023-05-10T12:00:01.234Z esx02 Hostd 2099570 - [Originator@6876 sub="Vimsvc.TaskManager" opID="vim-cmd-2" user="root"] Task Created : haTask-3-vim.VirtualMachine.createSnapshot-2`
)

// TestSyslogSockets: UDP, TCP (octet-counted and newline framing in one
// stream) and TLS on loopback, ESXi 7 and 8 lines; an oversized message
// is counted and the stream goes on.
func TestSyslogSockets(t *testing.T) {
	t.Parallel()
	cert, pool := testCert(t)
	var c Counters
	l, err := ListenSyslog(SyslogConfig{Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0", "tls://127.0.0.1:0"},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, MaxMessage: 1024, Counters: &c})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addrs := l.Addrs()
	u, err := net.Dial("udp", strings.TrimPrefix(addrs[0], "udp://"))
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte(esxi7))
	u.Write([]byte(strings.Repeat("x", 2000))) // oversized datagram
	u.Write([]byte(esxi8))
	u.Close()
	got := collect(t, l, 2)
	if got[0] != esxi7 || got[1] != esxi8 {
		t.Errorf("udp: %q", got)
	}
	tc, err := net.Dial("tcp", strings.TrimPrefix(addrs[1], "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 3000)
	fmt.Fprintf(tc, "%d %s%d %s%s\n%s\n", len(esxi8), esxi8, len(big), big, esxi7, "2021-03-10T14:45:30.000Z shell[1]: [root]: "+big)
	fmt.Fprintf(tc, "%s\n", esxi7)
	tc.Close()
	got = collect(t, l, 3)
	if got[0] != esxi8 || got[1] != esxi7 || got[2] != esxi7 {
		t.Errorf("tcp: %q", got)
	}
	tl, err := tls.Dial("tcp", strings.TrimPrefix(addrs[2], "tls://"), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tl, "%d %s", len(esxi8), esxi8)
	tl.Close()
	got = collect(t, l, 1)
	if got[0] != esxi8 {
		t.Errorf("tls: %q", got)
	}
	if c.Get("syslog_oversized") != 3 || c.Get("syslog_connections") != 2 {
		m := map[string]uint64{}
		c.Into(m)
		t.Errorf("counters %v", m)
	}
}

// TestSyslogFloodBounded: a flood over a small queue is dropped and
// counted, and what is kept never exceeds the queue.
func TestSyslogFloodBounded(t *testing.T) {
	t.Parallel()
	var c Counters
	l, err := ListenSyslog(SyslogConfig{Listen: []string{"tcp://127.0.0.1:0"}, Queue: 64, Counters: &c})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(l.Addrs()[0], "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(esxi7 + "\n")
	for range 20000 {
		conn.Write(line)
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Get("syslog_messages") < 20000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Get("syslog_messages") != 20000 || c.Get("syslog_dropped") != 20000-64 || len(l.Messages()) != 64 {
		t.Errorf("messages %d dropped %d queued %d", c.Get("syslog_messages"), c.Get("syslog_dropped"), len(l.Messages()))
	}
}

func TestSyslogBadAddress(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"udp:/x", "sctp://127.0.0.1:1", "tls://127.0.0.1:0"} {
		if l, err := ListenSyslog(SyslogConfig{Listen: []string{a}}); err == nil {
			l.Close()
			t.Errorf("%s accepted", a)
		}
	}
}
