package staging

import "bytes"

// ContentSniffBytes is how much of a file's start ArchiveFormat looks at: a
// tar header's magic is at offset 257.
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
