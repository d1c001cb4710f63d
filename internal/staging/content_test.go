package staging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFormat reads the first bytes of files made by ssh-keygen,
// openssl, gpg, puttygen, age-keygen and keepassxc-cli (testdata/secrets,
// recorded by record.sh there, cut so that none holds key material).
func TestSecretFormat(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"openssh-ed25519":                SecretPrivateKey,
		"openssh-ed25519-encrypted":      SecretPrivateKey,
		"pem-rsa":                        SecretPrivateKey,
		"pem-rsa-encrypted-legacy":       SecretPrivateKey,
		"pem-dsa":                        SecretPrivateKey,
		"pem-ec-with-parameters":         SecretPrivateKey,
		"pem-pkcs8":                      SecretPrivateKey,
		"pem-pkcs8-encrypted":            SecretPrivateKey,
		"pem-from-pkcs12-bag-attributes": SecretPrivateKey,
		"age-identity":                   SecretPrivateKey,
		"putty-ed25519.ppk":              SecretPuTTYKey,
		"pgp-private-key-block":          SecretPGPPrivateKey,
		"keepass.kdbx":                   SecretKeePass,
		"pem-certificate":                "",
		"pem-public-key":                 "",
		"pgp-public-key-block":           "",
		"openssh-ed25519.pub":            "",
	}
	files, err := filepath.Glob("testdata/secrets/*")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		if name == "record.sh" {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: a fixture the test does not know", name)
			continue
		}
		seen++
		head, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := SecretFormat(head); got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
		if w == "" || name == "keepass.kdbx" {
			continue
		}
		// The same text as Windows writes it, after blank lines and
		// indentation, after a byte-order mark, or after other text:
		// still the same secret.
		for how, variant := range map[string][]byte{
			"CRLF":               bytes.ReplaceAll(head, []byte("\n"), []byte("\r\n")),
			"leading whitespace": append([]byte("\n\r\n  \t"), head...),
			"byte-order mark":    append([]byte("\xef\xbb\xbf"), head...),
			"after other lines":  append([]byte("# deploy key for ci\nhost: build-7\n"), head...),
		} {
			if got := SecretFormat(variant); got != w {
				t.Errorf("%s with %s: %q, want %q", name, how, got, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d fixtures read, want %d (run testdata/secrets/record.sh)", seen, len(want))
	}
}

func TestSecretFormatRefuses(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN " + "RSA PRIVATE KEY-----\n"
	for _, head := range []string{
		"",
		"hello\n",
		"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
		"-----BEGIN X509 CRL-----\n",
		"-----BEGIN OPENSSH PUBLIC KEY-----\n",
		"---- BEGIN SSH2 PUBLIC KEY ----\n",
		"the header reads " + pem,                  // quoted inside a line
		strings.ToLower(pem),                       // not how armor is written
		"-----BEGIN RSA  PRIVATE KEY-----\n",       // nor this
		"-----BEGIN RSA PRIVATE KEY\n",             // cut before its end
		"\x03\xd9\xa2\x9a\x00\x00\x00\x00",         // KeePass's first signature only
		"\x03\xd9\xa2\x9a",                         // too short for the second
		"PK\x03\x04" + strings.Repeat("\x00", 60),  // a zip
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n", // a public key
	} {
		if got := SecretFormat([]byte(head)); got != "" {
			t.Errorf("SecretFormat(%q) = %q, want none", head, got)
		}
	}
	if got := SecretFormat([]byte("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"x\"\n")); got != SecretPrivateKey {
		t.Errorf("an SSH2 private key: %q", got)
	}
	// A header on the last line the sniff reads is seen; one cut by the
	// sniff's end is not.
	long := append(bytes.Repeat([]byte("x"), ContentSniffBytes-len(pem)-1), '\n')
	long = append(long, pem...)
	if got := SecretFormat(long); len(long) != ContentSniffBytes || got != SecretPrivateKey {
		t.Errorf("a header ending at the sniff's end: %q", got)
	}
	if got := SecretFormat(long[:len(long)-3]); got != "" {
		t.Errorf("a header cut at the sniff's end: %q", got)
	}
}
