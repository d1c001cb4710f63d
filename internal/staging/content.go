package staging

import (
	"bytes"
	"encoding/binary"
)

// ContentSniffBytes is how much of a file's start ArchiveFormat and
// SecretFormat look at: a tar header's magic is at offset 257, and a
// private key's header follows at most a few short lines (openssl pkcs12's
// Bag Attributes, EC PARAMETERS, age's comments).
const ContentSniffBytes = 512

// ArchiveFormat names the archive or compression format a file's first
// bytes show (gzip, zip, 7z, xz, bzip2, zstd, rar, lz4, tar), or "" for none.
// Collectors that can read a file just written (the Linux file watcher on
// close) set event.Event.ArchiveFormat with it, so that an archive made by
// a renamed archiver or a script and named .dat or .bin is still one.
func ArchiveFormat(head []byte) string {
	for _, m := range archiveMagic {
		if bytes.HasPrefix(head, m.magic) {
			if m.name == "bzip2" && (len(head) < 4 || head[3] < '1' || head[3] > '9') {
				continue
			}
			return m.name
		}
	}
	if len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")) {
		return "tar"
	}
	return ""
}

var archiveMagic = []struct {
	name  string
	magic []byte
}{
	{"gzip", []byte{0x1f, 0x8b}},
	{"zip", []byte("PK\x03\x04")},
	{"zip", []byte("PK\x05\x06")},
	{"zip", []byte("PK\x07\x08")},
	{"7z", []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"bzip2", []byte("BZh")},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{"rar", []byte("Rar!\x1a\x07")},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}},
}

// containerExts are formats that are zip files inside (office documents,
// Java and Android packages, e-books, wheels): their zip magic is not an
// archive step, their name says what they are.
var containerExts = []string{".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".pptm", ".odt", ".ods", ".odp", ".odg",
	".pages", ".numbers", ".key", ".jar", ".war", ".ear", ".apk", ".aab", ".epub", ".whl", ".egg", ".xpi", ".crx",
	".nupkg", ".vsix", ".ipa", ".appx", ".msix", ".kmz", ".sketch", ".3mf", ".xps", ".oxps", ".ora"}

// archiveByContent reports whether a file whose first bytes show format
// counts as an archive although its name does not say so.
func archiveByContent(p, format string) bool {
	if format == "" {
		return false
	}
	if format == "zip" {
		dot := -1
		for i := len(p) - 1; i >= 0 && p[i] != '/' && p[i] != '\\'; i-- {
			if p[i] == '.' {
				dot = i
				break
			}
		}
		if dot >= 0 {
			for _, e := range containerExts {
				if len(p)-dot == len(e) && equalFoldASCII(p[dot:], e) {
					return false
				}
			}
		}
	}
	return true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// The secrets a file's first bytes can show: what SecretFormat returns, and
// so the values of event.Event.Secret.
const (
	// SecretPrivateKey is a PEM private key (PKCS#1 RSA, DSA, SEC1 EC,
	// PKCS#8 plain or encrypted), an OpenSSH or SSH2 private key, or an
	// age identity.
	SecretPrivateKey = "private key"
	// SecretPuTTYKey is a PuTTY private key file (.ppk).
	SecretPuTTYKey = "PuTTY private key"
	// SecretPGPPrivateKey is an ASCII-armored PGP secret key export.
	SecretPGPPrivateKey = "PGP private key"
	// SecretKeePass is a KeePass or KeePassXC database (.kdbx, .kdb).
	SecretKeePass = "KeePass database"
)

// SecretFormat names the secret a file's first bytes show it holds (one of
// the Secret constants), or "" for none. Collectors that can read a file
// just written set event.Event.Secret with it, so that a private key copied
// as notes.txt still counts as a key. Text secrets are recognised by a
// header at the start of any line read (after spaces, tabs or a byte-order
// mark, with LF or CRLF line ends): openssl's pkcs12 output puts Bag
// Attributes before its key, a SEC1 EC key may follow its EC PARAMETERS,
// and a key pasted into a file is still a key. A certificate, a public key
// or a certificate request is none.
func SecretFormat(head []byte) string {
	if len(head) >= 8 && binary.LittleEndian.Uint32(head) == keePassSignature {
		// The second signature tells KeePass 1 (kdb), the 2.x
		// pre-releases and KeePass 2 (kdbx) apart; all are password
		// stores.
		if s := binary.LittleEndian.Uint32(head[4:]); s >= 0xb54bfb65 && s <= 0xb54bfb67 {
			return SecretKeePass
		}
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimLeft(line, " \t")
		if s := secretLine(line); s != "" {
			return s
		}
	}
	return ""
}

// keePassSignature is the first of the two little-endian signatures every
// KeePass database starts with.
const keePassSignature = 0x9aa2d903

// secretLine names the secret whose first line line is, if it is one.
func secretLine(line []byte) string {
	switch {
	case bytes.HasPrefix(line, []byte("-----BEGIN ")):
		// -----BEGIN RSA PRIVATE KEY-----, -----BEGIN ENCRYPTED PRIVATE
		// KEY-----, -----BEGIN PGP PRIVATE KEY BLOCK-----…
		label, ok := armorLabel(line[len("-----BEGIN "):], "-----")
		switch {
		case !ok:
		case string(label) == "PGP PRIVATE KEY BLOCK":
			return SecretPGPPrivateKey
		case bytes.HasSuffix(label, []byte("PRIVATE KEY")):
			return SecretPrivateKey
		}
	case bytes.HasPrefix(line, []byte("---- BEGIN ")):
		// RFC 4716 framing as ssh.com's tools write private keys:
		// ---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----
		if label, ok := armorLabel(line[len("---- BEGIN "):], " ----"); ok && bytes.HasSuffix(label, []byte("PRIVATE KEY")) {
			return SecretPrivateKey
		}
	case bytes.HasPrefix(line, []byte("PuTTY-User-Key-File-")):
		return SecretPuTTYKey
	case bytes.HasPrefix(line, []byte("AGE-SECRET-KEY-1")):
		return SecretPrivateKey
	}
	return ""
}

// armorLabel returns the label that rest starts with, up to end: upper-case
// letters, digits and single spaces, as armor labels are written.
func armorLabel(rest []byte, end string) ([]byte, bool) {
	i := bytes.Index(rest, []byte(end))
	if i <= 0 {
		return nil, false
	}
	label := rest[:i]
	for j, c := range label {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ' ' && j > 0 && label[j-1] != ' ':
		default:
			return nil, false
		}
	}
	return label, true
}
