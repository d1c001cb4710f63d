package staging

import "testing"

func TestCategorize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path  string
		style PathStyle
		want  category
	}{
		// SSH private keys under ssh-keygen's names and people's own.
		{"/dev/shm/x/.ssh/id_ed25519", Posix, catKey},
		{"/tmp/l/id_rsa", Posix, catKey},
		{"/tmp/l/id_ecdsa_sk", Posix, catKey},
		{"/tmp/l/id_rsa.bak", Posix, catKey},
		{"/tmp/l/id_github", Posix, catKey},
		{"/tmp/l/deploy_rsa", Posix, catKey},
		{"/tmp/l/gitlab_ed25519", Posix, catKey},
		{"/tmp/l/ci_ecdsa", Posix, catKey},
		{"/tmp/l/etc/ssh/ssh_host_ed25519_key", Posix, catKey},
		{"/tmp/l/work.ppk", Posix, catKey},
		// Any file below .ssh but those ssh keeps there beside keys.
		{"/dev/shm/x/.ssh/github", Posix, catKey},
		{"/dev/shm/x/.ssh/keys/prod", Posix, catKey},
		{"/dev/shm/x/.ssh/id_ed25519.pub", Posix, catNone},
		{"/dev/shm/x/.ssh/known_hosts", Posix, catNone},
		{"/dev/shm/x/.ssh/known_hosts.old", Posix, catNone},
		{"/dev/shm/x/.ssh/config", Posix, catNone},
		{"/dev/shm/x/.ssh/config.d/work", Posix, catNone},
		{"/dev/shm/x/.ssh/work.conf", Posix, catNone},
		{"/dev/shm/x/.ssh/authorized_keys", Posix, catNone},
		{"/dev/shm/x/.ssh/authorized_keys2", Posix, catNone},
		{"/dev/shm/x/.ssh/environment", Posix, catNone},
		{"/tmp/l/id_rsa.pub", Posix, catNone},
		{"/tmp/l/id_rsa-cert.pub", Posix, catNone},
		{"/tmp/l/deploy_rsa.pub", Posix, catNone},
		{"/tmp/l/known_hosts", Posix, catNone},
		{"/tmp/l/id_card.jpg", Posix, catNone},
		{"/tmp/l/valid_rsa.txt", Posix, catNone},
		// Linux directories compare as Linux does: .SSH is not .ssh.
		{"/tmp/l/.SSH/github", Posix, catNone},
		// Cloud and tool credentials.
		{"/tmp/loot/.aws/credentials", Posix, catKey},
		{"/tmp/loot/.aws/config", Posix, catNone},
		{"/tmp/loot/.aws/sso/cache/3f1e.json", Posix, catKey},
		{"/tmp/loot/.aws/cli/cache/ab12.json", Posix, catKey},
		{"/tmp/loot/other/cli/cache/ab12.json", Posix, catNone},
		{"/tmp/loot/gcloud/application_default_credentials.json", Posix, catKey},
		{"/tmp/loot/gcloud/credentials.db", Posix, catKey},
		{"/tmp/loot/gcloud/access_tokens.db", Posix, catKey},
		{"/tmp/loot/gcloud/legacy_credentials/bob@example.com/adc.json", Posix, catKey},
		{"/tmp/loot/gcloud/legacy_credentials/bob@example.com/.boto", Posix, catKey},
		{"/tmp/loot/.azure/accessTokens.json", Posix, catKey},
		{"/tmp/loot/.azure/msal_token_cache.json", Posix, catKey},
		{"/tmp/loot/.azure/service_principal_entries.json", Posix, catKey},
		{"/tmp/loot/.azure/azureProfile.json", Posix, catNone},
		{"/tmp/loot/.kube/config", Posix, catKey},
		{"/tmp/loot/config", Posix, catNone},
		{"/tmp/loot/.docker/config.json", Posix, catKey},
		{"/tmp/loot/app/config.json", Posix, catNone},
		{"/tmp/loot/.git-credentials", Posix, catKey},
		{"/tmp/loot/.netrc", Posix, catKey},
		{"/tmp/loot/.pgpass", Posix, catKey},
		{"/tmp/loot/.vault-token", Posix, catKey},
		// Password stores.
		{"/tmp/l/Passwords.kdbx", Posix, catKey},
		{"/tmp/l/old.KDB", Posix, catKey},
		{"/tmp/l/pwsafe.psafe3", Posix, catKey},
		{"/tmp/l/.password-store/bank/alice.gpg", Posix, catKey},
		{"/tmp/l/vault.enpassdb", Posix, catKey},
		{"/tmp/l/1Password/1password.sqlite", Posix, catKey},
		{"/tmp/l/Bitwarden/data.json", Posix, catKey},
		{"/tmp/l/login.keychain-db", Posix, catKey},
		{"/tmp/l/Old.keychain", Posix, catKey},
		// Browsers' logins and sessions.
		{"/tmp/l/Default/Login Data", Posix, catKey},
		{"/tmp/l/Default/Login Data For Account", Posix, catKey},
		{"/tmp/l/Default/Network/Cookies", Posix, catKey},
		{"/tmp/l/Default/Web Data", Posix, catKey},
		{"/tmp/l/Local State", Posix, catKey},
		{"/tmp/l/ff/logins.json", Posix, catKey},
		{"/tmp/l/ff/key4.db", Posix, catKey},
		{"/tmp/l/ff/key3.db", Posix, catKey},
		{"/tmp/l/ff/cookies.sqlite", Posix, catKey},
		{"/tmp/l/ff/places.sqlite", Posix, catDatabase},
		{"/tmp/l/Default/History", Posix, catNone},
		// Password hashes.
		{"/tmp/l/shadow", Posix, catKey},
		{"/tmp/l/gshadow", Posix, catKey},
		{"/tmp/l/master.passwd", Posix, catKey},
		{"/tmp/l/ntds.dit", Posix, catKey},
		{"/tmp/l/SAM", Posix, catKey},
		{"/tmp/l/SYSTEM", Posix, catKey},
		{"/tmp/l/SECURITY", Posix, catKey},
		{"/tmp/l/sam.save", Posix, catKey},
		{"/tmp/l/system.hiv", Posix, catKey},
		// Bare, the hive names are words: on Linux only in capitals.
		{"/tmp/l/system", Posix, catNone},
		{"/tmp/l/security", Posix, catNone},
		// Certificates are not keys; a .pem is one by its name (AWS key
		// pairs, bundles ending with their key).
		{"/tmp/l/server.crt", Posix, catNone},
		{"/tmp/l/ca.cer", Posix, catNone},
		{"/tmp/l/ec2-prod.pem", Posix, catKey},
		{"/tmp/l/server.key", Posix, catKey},
		// Unchanged: documents, databases, mail.
		{"/tmp/l/q3.docx", Posix, catDocument},
		{"/tmp/l/Q3.PDF", Posix, catDocument},
		{"/tmp/l/dump.sql", Posix, catDatabase},
		{"/tmp/l/box.pst", Posix, catMail},
		{"/tmp/l/notes.txt", Posix, catNone},
		{"/tmp/l/", Posix, catNone},
		{"", Posix, catNone},

		// Windows: either separator, any case.
		{`C:\Users\Bob\AppData\Local\Temp\x\.ssh\id_ed25519`, Windows, catKey},
		{`c:\users\bob\appdata\local\temp\x\.SSH\GitHub`, Windows, catKey},
		{`C:\Users\Bob\AppData\Local\Temp\x\.ssh\KNOWN_HOSTS`, Windows, catNone},
		{`C:\Users\Bob\AppData\Local\Temp\x\.ssh\id_rsa.PUB`, Windows, catNone},
		{`C:\Users\Public\x\ID_RSA`, Windows, catKey},
		{`C:/Users/Public/x/.AWS/Credentials`, Windows, catKey},
		{`C:\Users\Public\x\.aws\sso\cache\a.json`, Windows, catKey},
		{`C:\Users\Public\x\gcloud\Legacy_Credentials\bob\adc.json`, Windows, catKey},
		{`C:\Users\Public\x\.azure\msal_token_cache.bin`, Windows, catKey},
		{`C:\Users\Public\x\.KUBE\config`, Windows, catKey},
		{`C:\Users\Public\x\Bitwarden\data.json`, Windows, catKey},
		{`C:\Users\Public\x\pgpass.conf`, Windows, catKey},
		{`C:\Users\Public\x\_netrc`, Windows, catKey},
		{`C:\Users\Public\x\Default\Login Data`, Windows, catKey},
		{`C:\Users\Public\x\default\LOGIN DATA`, Windows, catKey},
		{`C:\Users\Public\x\Profiles\abc.default\logins.json`, Windows, catKey},
		{`C:\Users\Public\x\NTDS.dit`, Windows, catKey},
		{`C:\Users\Public\x\sam`, Windows, catKey},
		{`C:\Users\Public\x\System`, Windows, catKey},
		{`C:\Users\Public\x\security.save`, Windows, catKey},
		{`C:\Users\Public\x\Work.PPK`, Windows, catKey},
		{`C:\Users\Public\x\report.DOCX`, Windows, catDocument},
		{`\\fs01\share\x\.ssh\deploy`, Windows, catKey},

		// macOS: / separators, any case.
		{"/Users/Shared/x/.ssh/id_ed25519", Mac, catKey},
		{"/users/shared/x/.SSH/work", Mac, catKey},
		{"/Users/Shared/x/Library/Keychains/login.keychain-db", Mac, catKey},
		{"/Users/Shared/x/Library/Cookies/Cookies.binarycookies", Mac, catKey},
		{"/Users/Shared/x/Chrome/Default/Login Data", Mac, catKey},
		{"/Users/Shared/x/system", Mac, catKey},
		{"/Users/Shared/x/known_hosts", Mac, catNone},
	}
	for _, tc := range tests {
		if got := categorize(tc.path, tc.style); got != tc.want {
			t.Errorf("categorize(%q, %v) = %d, want %d", tc.path, tc.style, got, tc.want)
		}
	}
}

// TestCategorizeDoesNotAllocate: it runs for each file staged.
func TestCategorizeDoesNotAllocate(t *testing.T) {
	paths := []struct {
		p string
		s PathStyle
	}{
		{"/dev/shm/x/.ssh/id_ed25519", Posix}, {"/dev/shm/x/.ssh/known_hosts", Posix}, {"/tmp/l/a/b/c/report.docx", Posix},
		{"/tmp/loot/.aws/sso/cache/3f1e.json", Posix}, {"/tmp/l/Default/Login Data For Account", Posix},
		{`c:\users\bob\appdata\local\temp\x\.ssh\github`, Windows}, {"/users/shared/x/library/keychains/login.keychain-db", Mac},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			categorize(p.p, p.s)
		}
	})
	if allocs != 0 {
		t.Errorf("categorize allocates %.1f times", allocs)
	}
}
