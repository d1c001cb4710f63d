package staging

// category is a sensitive file type.
type category uint8

const (
	catNone category = iota
	catDocument
	catKey // keys and secrets: private keys, credentials, password stores, browser logins
	catDatabase
	catMail
)

// moreSensitive is the category a file takes when two things say what it
// is (its name, where it came from, its content): a key or secret wins, and
// otherwise what is known wins over nothing.
func moreSensitive(a, b category) category {
	if a == catKey || b == catNone {
		return a
	}
	if b == catKey || a == catNone {
		return b
	}
	return a
}

var extCategory = map[string]category{}

func init() {
	for _, e := range []string{"doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pdf", "odt", "ods", "odp", "rtf", "csv", "pages", "numbers", "key"} {
		extCategory[e] = catDocument
	}
	// .pem stays a key by its name although many are certificates: AWS
	// hands out key pairs as .pem, and a bundle that starts with a
	// certificate often ends with its key, past what a collector reads of
	// it. .crt and .cer are certificates. .gpg covers pass's store.
	for _, e := range []string{"pem", "key", "p12", "pfx", "kdbx", "kdb", "psafe3", "enpassdb", "ovpn", "jks", "keystore", "ppk",
		"asc", "gpg", "keychain", "keychain-db", "binarycookies"} {
		extCategory[e] = catKey
	}
	for _, e := range []string{"sqlite", "sqlite3", "db", "sql", "mdb", "accdb", "bak", "dump", "ldf", "mdf"} {
		extCategory[e] = catDatabase
	}
	for _, e := range []string{"pst", "ost", "eml", "mbox", "msg", "emlx"} {
		extCategory[e] = catMail
	}
}

// secretNames are file names (in lower case) that are keys and secrets
// wherever they lie.
var secretNames = map[string]bool{
	// Password hashes: Linux, BSD and macOS, Active Directory.
	"shadow": true, "shadow-": true, "gshadow": true, "gshadow-": true, "opasswd": true,
	"master.passwd": true, "spwd.db": true, "ntds.dit": true,
	// Credentials of tools and clouds: AWS (.aws/credentials), gcloud,
	// Azure CLI, gsutil, git, curl and ftp, PostgreSQL, Vault, kubectl.
	"credentials": true, "application_default_credentials.json": true, "credentials.db": true,
	"access_tokens.db": true, "accesstokens.json": true, "service_principal_entries.json": true,
	".boto": true, ".git-credentials": true, ".netrc": true, "_netrc": true, ".pgpass": true,
	"pgpass.conf": true, ".vault-token": true, ".dockercfg": true, "kubeconfig": true,
	// Password managers' local vaults (KeePass, Password Safe and Enpass
	// by extension).
	"1password.sqlite": true, "1password10.sqlite": true,
	// Browsers' saved logins and sessions: Chromium's family (Chrome, Edge,
	// Brave, Opera, Vivaldi) and Firefox. Local State holds the key that
	// Chromium's logins and cookies are encrypted with.
	"login data": true, "login data for account": true, "cookies": true, "web data": true, "local state": true,
	"logins.json": true, "signons.sqlite": true, "key4.db": true, "key3.db": true, "cookies.sqlite": true,
}

// maxSecretName is the longest name in secretNames.
const maxSecretName = 40

// categorize says which sensitive type a staged file is by its path: its
// name and extension, and the directories it lies in, which a staged copy
// keeps (cp -r ~/.ssh /dev/shm/x stages /dev/shm/x/.ssh/id_ed25519). Names
// and extensions ignore ASCII case on every platform: a copy keeps the
// spelling its source system gave it, and these names are distinctive.
// Directories compare as the platform compares paths (.ssh is .SSH on
// Windows and macOS, not on Linux). It never allocates: it runs for each
// file staged.
func categorize(p string, style PathStyle) category {
	dir, base := style.splitLast(p)
	if base == "" {
		return catNone
	}
	if isSecret(dir, base, style) {
		return catKey
	}
	dot := -1
	for i := len(base) - 1; i >= 0; i-- {
		if base[i] == '.' {
			dot = i
			break
		}
	}
	var buf [16]byte
	if dot < 0 || len(base)-dot-1 > len(buf) {
		return catNone
	}
	return extCategory[string(lowerInto(buf[:], base[dot+1:]))]
}

// isSecret reports whether a file named base in dir is a key or secret by
// its name or the directories above it.
func isSecret(dir, base string, style PathStyle) bool {
	var buf [maxSecretName]byte
	if len(base) <= len(buf) && secretNames[string(lowerInto(buf[:], base))] {
		return true
	}
	if hasSuffixFold(base, ".pub") {
		// The public half of a key pair, wherever it lies.
		return false
	}
	if sshKeyName(base) || hiveName(base, style) || hasPrefixFold(base, "msal_token_cache.") {
		return true
	}
	up, parent := style.splitLast(dir)
	switch {
	case style.nameIs(parent, ".kube") && equalFoldASCII(base, "config"),
		style.nameIs(parent, ".docker") && equalFoldASCII(base, "config.json"),
		style.nameIs(parent, "Bitwarden") && equalFoldASCII(base, "data.json"):
		return true
	case style.nameIs(parent, "cache"):
		// The AWS CLI's cached SSO tokens and assumed-role credentials:
		// .aws/sso/cache/*.json, .aws/cli/cache/*.json.
		up, tool := style.splitLast(up)
		if _, aws := style.splitLast(up); (style.nameIs(tool, "sso") || style.nameIs(tool, "cli")) && style.nameIs(aws, ".aws") {
			return true
		}
	}
	// Every file below gcloud's legacy_credentials (one directory per
	// account: adc.json, .boto), and every file below a .ssh directory
	// that is not one of the files ssh keeps there beside its keys.
	inConfigDir := false
	for d := dir; d != ""; {
		var elem string
		d, elem = style.splitLast(d)
		switch {
		case style.nameIs(elem, "legacy_credentials"):
			return true
		case style.nameIs(elem, "config.d"):
			inConfigDir = true
		case style.nameIs(elem, ".ssh"):
			return !inConfigDir && !sshNotKey(base)
		}
	}
	return false
}

// sshKeyName reports whether base is named as ssh-keygen names private
// keys, or as people name theirs: id_rsa, id_ed25519_sk, id_rsa.bak,
// id_github, deploy_rsa, gitlab_ed25519, and the host keys
// ssh_host_ed25519_key. Public halves (.pub) are excluded before.
func sshKeyName(base string) bool {
	dot := len(base)
	for i := 0; i < len(base); i++ {
		if base[i] == '.' {
			dot = i
			break
		}
	}
	stem := base[:dot]
	if hasPrefixFold(stem, "id_") {
		// id_<anything> without an extension (id_github, id_work), or a
		// key type's name with one (id_rsa.bak, id_ed25519.old).
		if dot == len(base) {
			return len(stem) > len("id_")
		}
		for _, alg := range sshKeyTypes {
			if equalFoldASCII(stem[len("id_"):], alg) {
				return true
			}
		}
		return false
	}
	if hasPrefixFold(base, "ssh_host_") && hasSuffixFold(base, "_key") {
		return true
	}
	if dot != len(base) {
		return false
	}
	for _, alg := range sshKeyTypes {
		if len(stem) > len(alg)+1 && stem[len(stem)-len(alg)-1] == '_' && hasSuffixFold(stem, alg) {
			return true
		}
	}
	return false
}

// sshKeyTypes are the key types ssh-keygen puts in its default names.
var sshKeyTypes = []string{"rsa", "dsa", "ecdsa", "ed25519", "ecdsa_sk", "ed25519_sk", "xmss"}

// sshNotKey reports whether base is one of the files ssh keeps in a .ssh
// directory that are not private keys: the hosts it knows, the keys it
// lets in, its configuration (and files it includes) and a login's
// environment and rc. Public halves (.pub) are excluded before.
func sshNotKey(base string) bool {
	switch {
	case hasPrefixFold(base, "known_hosts"), hasPrefixFold(base, "authorized_keys"), hasPrefixFold(base, "authorized_principals"),
		equalFoldASCII(base, "config"), hasSuffixFold(base, ".conf"), hasSuffixFold(base, ".config"),
		equalFoldASCII(base, "environment"), equalFoldASCII(base, "rc"), equalFoldASCII(base, "allowed_signers"):
		return true
	}
	return false
}

// hiveName reports whether base names a copy of the registry hives that
// hold Windows' local password hashes and the keys to them: SAM, SECURITY
// and SYSTEM, also as reg save's users name them (sam.save, system.hiv).
// Bare, they are common words: on Linux they count only spelled as Windows
// spells them, in capitals.
func hiveName(base string, style PathStyle) bool {
	stem := base
	suffixed := false
	for _, ext := range []string{".save", ".sav", ".hiv"} {
		if hasSuffixFold(stem, ext) {
			stem, suffixed = stem[:len(stem)-len(ext)], true
			break
		}
	}
	for _, hive := range []string{"SAM", "SECURITY", "SYSTEM"} {
		if stem == hive || ((suffixed || style.folds()) && equalFoldASCII(stem, hive)) {
			return true
		}
	}
	return false
}

// lowerInto writes s folded to lower case (ASCII) into buf, which must be
// long enough, and returns the bytes written.
func lowerInto(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		buf[i] = lowerASCII(s[i])
	}
	return buf[:len(s)]
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalFoldASCII(s[len(s)-len(suffix):], suffix)
}
