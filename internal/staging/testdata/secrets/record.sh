#!/bin/bash
# Re-records the fixtures of TestSecretFormat: the first bytes of files made
# by the tools that make them, as the Linux file watcher reads them.
#
# Each secret is cut right after its header and the start of the line after
# it, so that no fixture holds key material: what SecretFormat reads is the
# header. The line after it is kept whole where it is no key material (a
# legacy PEM's Proc-Type, PuTTY's Encryption), its first 52 characters for
# an OpenSSH key (they name its cipher and KDF: aes256-ctr and bcrypt when
# encrypted), and 8 characters of other base64 bodies (the ASN.1 header; an
# EC or Ed25519 key's secret follows within the first line). The files that
# are no secrets (a certificate, public keys) keep their first 160 bytes.
#
# Needs ssh-keygen (openssh-client), openssl, gpg, puttygen (putty-tools),
# age-keygen (age) and keepassxc-cli (keepassxc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# secret NAME FILE: the lines of FILE up to its first header line, and the
# start of the line after it.
secret() {
	awk '{ print }
	/PRIVATE KEY|PuTTY-User-Key-File-/ {
		if ((getline line) > 0) {
			if ($0 ~ /OPENSSH/) line = substr(line, 1, 52)
			else if (line ~ /^[A-Za-z0-9+\/=]+$/) line = substr(line, 1, 8)
			print line
		}
		exit
	}' "$2" >"$here/$1"
}
# plain NAME FILE: a file that is no secret, its first 160 bytes.
plain() { head -c 160 "$2" >"$here/$1"; }

ssh-keygen -q -t ed25519 -N '' -C fixture -f ed25519
secret openssh-ed25519 ed25519
plain openssh-ed25519.pub ed25519.pub
ssh-keygen -q -t ed25519 -N 'fixture passphrase' -C fixture -f ed25519-enc
secret openssh-ed25519-encrypted ed25519-enc
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C fixture -f rsa
secret pem-rsa rsa
openssl genrsa -traditional -aes128 -passout pass:fixture -out rsa-enc.pem 2048 2>/dev/null
secret pem-rsa-encrypted-legacy rsa-enc.pem
openssl dsaparam -genkey -noout -out dsa-key.pem 2048 2>/dev/null
openssl pkey -traditional -in dsa-key.pem -out dsa.pem
secret pem-dsa dsa.pem
openssl ecparam -genkey -name prime256v1 -out ec.pem
secret pem-ec-with-parameters ec.pem
openssl genpkey -algorithm ed25519 -out pkcs8.pem
secret pem-pkcs8 pkcs8.pem
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:fixture -out pkcs8-enc.pem
secret pem-pkcs8-encrypted pkcs8-enc.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -subj /CN=fixture -days 1 -out tls.crt 2>/dev/null
plain pem-certificate tls.crt
openssl pkey -in tls.key -pubout -out tls.pub
plain pem-public-key tls.pub
openssl pkcs12 -export -inkey tls.key -in tls.crt -passout pass:fixture -out tls.p12
openssl pkcs12 -in tls.p12 -passin pass:fixture -nodes -nocerts -out from-p12.pem
secret pem-from-pkcs12-bag-attributes from-p12.pem

export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key 'Fixture <fixture@example.invalid>' ed25519 sign never 2>/dev/null
gpg -q --batch --pinentry-mode loopback --passphrase '' --armor --export-secret-keys >pgp-secret.asc
secret pgp-private-key-block pgp-secret.asc
gpg -q --armor --export >pgp-public.asc
plain pgp-public-key-block pgp-public.asc

puttygen -q -t ed25519 -C fixture -o putty.ppk --new-passphrase /dev/null
secret putty-ed25519.ppk putty.ppk

age-keygen -o age.txt 2>/dev/null
# The secret key is the whole line: keep its prefix only.
grep -v '^AGE-SECRET-KEY-' age.txt >"$here/age-identity"
grep '^AGE-SECRET-KEY-' age.txt | cut -c1-24 >>"$here/age-identity"

printf 'fixture\nfixture\n' | keepassxc-cli db-create -q -p vault.kdbx >/dev/null 2>&1
# Signatures and format version; the rest of the header is the database's.
head -c 12 vault.kdbx >"$here/keepass.kdbx"
