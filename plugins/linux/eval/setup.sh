#!/bin/bash
# The world the stories run in, generated here and nowhere else: the login
# user sweval and its home (documents, mail, keys, cloud and browser
# credentials, data, a checkout of the team repository), a mounted volume
# (/mnt/finance-share) and a world-writable scratch directory (/mnt/scratch),
# a service (/opt-like tree under $EVAL), two versions of a Debian package,
# and what the local web server serves ($EVAL/www: downloads, a git
# repository over dumb HTTP, a container registry's v2 API). Nothing is
# downloaded. Idempotent: it rebuilds what the stories change.
#
#   setup.sh EVAL USER
set -euo pipefail
EVAL=$1
U=$2
umask 022
export LC_ALL=C SOURCE_DATE_EPOCH=1735689600
export GIT_AUTHOR_NAME="Dana Dev" GIT_AUTHOR_EMAIL=dana@acme.example GIT_COMMITTER_NAME="Dana Dev" GIT_COMMITTER_EMAIL=dana@acme.example
export GIT_AUTHOR_DATE="2025-01-01T09:00:00Z" GIT_COMMITTER_DATE="2025-01-01T09:00:00Z"

mkdir -p "$EVAL"/{run,var,etc,artifacts,debs,www/files,www/git,opt/acme/bin,gen}
gen=$EVAL/gen

# zipdir OUT DIR: a zip-based document (docx, xlsx, odt, pptx) of DIR.
zipdir() { (cd "$2" && rm -f "$1" && zip -qrX "$1" .); }

# lines N FORMAT: N lines of generated text.
lines() { awk -v n="$1" -v f="$2" 'BEGIN { srand(41); for (i = 1; i <= n; i++) printf f "\n", i, int(rand() * 100000), substr("emeaapacamer", 1 + 4 * int(rand() * 3), 4) }'; }

pdf() {
	printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n4 0 obj << /Length 44 >> stream\nBT /F1 12 Tf 72 712 Td (%s) Tj ET\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' "$1" >"$2"
}

office() { # office OUT KIND TEXT
	local d
	d=$(mktemp -d "$gen/office.XXXXXX")
	mkdir -p "$d/_rels" "$d/$2"
	printf '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>\n' >"$d/[Content_Types].xml"
	printf '<?xml version="1.0"?><doc><p>%s</p></doc>\n' "$3" >"$d/$2/document.xml"
	zipdir "$1" "$d"
	rm -rf "$d"
}

# ---- The login user.
if ! id "$U" >/dev/null 2>&1; then
	useradd -m -s /bin/bash -c "Stagewatch Eval" "$U"
fi
H=$(getent passwd "$U" | cut -d: -f6)
G=$(id -gn "$U")
rm -rf "$H"/{Documents,Mail,.ssh,.aws,.config,.azure,.password-store,.mozilla,data,src,Downloads,reports,try-web,.local,.npm,.cache,top-clients.txt,go}
mkdir -p "$H"/{Documents,Mail/Exports,.ssh,.aws,.config/gcloud,.azure,.password-store,data,Downloads}

office "$H/Documents/report-q3.docx" word "Q3 revenue forecast, confidential"
office "$H/Documents/budget-2025.xlsx" xl "Budget 2025 by cost centre"
office "$H/Documents/minutes.odt" text "Board minutes, acquisition discussion"
pdf "Merger terms, draft 4" "$H/Documents/merger-terms.pdf"
{ echo "employee,grade,salary"; lines 200 "E%04d,%d,%s"; } >"$H/Documents/salaries.csv"
printf 'call the lawyers on monday\n' >"$H/Documents/notes.txt"

for box in INBOX Sent Drafts; do
	for i in 1 2 3; do
		printf 'From dana@acme.example Mon Jan  6 09:0%d:00 2025\nFrom: dana@acme.example\nTo: cfo@acme.example\nSubject: %s %d\n\nSee the attached figures.\n\n' "$i" "$box" "$i"
	done >"$H/Mail/$box.mbox"
done
for i in 1 2 3 4; do
	printf 'From: legal@acme.example\nTo: dana@acme.example\nSubject: Contract %d\n\nTerms attached.\n' "$i" >"$H/Mail/Exports/contract-$i.eml"
done

ssh-keygen -q -t ed25519 -N '' -C "$U@workstation" -f "$H/.ssh/id_ed25519"
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C deploy -f "$H/.ssh/deploy_rsa"
printf 'git.acme.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx2y5JgZ1TQvHV4fGm3Pzq9g4vGmEXAMPLEKEY0000\n' >"$H/.ssh/known_hosts"
printf 'Host deploy\n  HostName deploy.acme.example\n  IdentityFile ~/.ssh/deploy_rsa\n' >"$H/.ssh/config"
cp "$H/.ssh/id_ed25519.pub" "$H/.ssh/authorized_keys"
chmod 700 "$H/.ssh"; chmod 600 "$H/.ssh/id_ed25519" "$H/.ssh/deploy_rsa"

printf '[default]\naws_access_key_id = AKIAEVALEXAMPLE00000\naws_secret_access_key = evalEXAMPLEsecretKEY0000000000000000000000\n' >"$H/.aws/credentials"
printf '[default]\nregion = eu-west-1\n' >"$H/.aws/config"
printf '{"client_id": "eval.apps.googleusercontent.com", "client_secret": "eval-secret", "refresh_token": "1//eval-refresh", "type": "authorized_user"}\n' >"$H/.config/gcloud/application_default_credentials.json"
printf '{"AccessToken": {"eval": {"secret": "eyJ0eXAiOiJKV1Qi.eval"}}}\n' >"$H/.azure/msal_token_cache.json"
printf 'dana@acme.example\n' >"$H/.password-store/.gpg-id"
head -c 300 /dev/urandom >"$H/.password-store/bank.gpg"
head -c 300 /dev/urandom >"$H/.password-store/vpn.gpg"

ff=$H/.mozilla/firefox/k3x9w2ab.default-release
cr=$H/.config/google-chrome/Default
mkdir -p "$ff" "$cr"
printf '{"nextId":3,"logins":[{"hostname":"https://intranet.acme.example","encryptedUsername":"MDoEEPgAAAAA","encryptedPassword":"MDoEEPgAAAAB"}]}\n' >"$ff/logins.json"
printf 'SQLite format 3\000' >"$ff/key4.db"; head -c 4000 /dev/urandom >>"$ff/key4.db"
for f in "Login Data" Cookies History; do
	printf 'SQLite format 3\000' >"$cr/$f"; head -c 8000 /dev/urandom >>"$cr/$f"
done

{ echo "date,region,amount"; lines 3000 "2025-01-%02.0f,%s,%s"; } | awk -F, 'NR==1 {print; next} {print $1 "," $3 "," $2}' >"$H/data/sales.csv"
awk 'BEGIN { srand(7); for (i = 0; i < 60000; i++) printf "10.%d.%d.%d - - [06/Jan/2025:10:%02d:%02d +0000] \"GET /api/orders/%d HTTP/1.1\" 200 %d\n", int(rand()*4), int(rand()*20), int(rand()*250), (i/60)%60, i%60, int(rand()*9999), int(rand()*5000) }' >"$H/data/access.log"
printf '[user]\n\tname = Dana Dev\n\temail = dana@acme.example\n[init]\n\tdefaultBranch = main\n' >"$H/.gitconfig"

# ---- The team repository: Go, C, Node and Python subprojects, served over dumb HTTP.
repo=$gen/inventory
rm -rf "$repo"; mkdir -p "$repo"/{go,c,web,py/inventory,py/tests}
cat >"$repo/go/go.mod" <<'EOF'
module example.com/inventory

go 1.22
EOF
cat >"$repo/go/main.go" <<'EOF'
// Command inventory exports the stock list as CSV.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	version := flag.Bool("version", false, "print the version")
	flag.Parse()
	if *version {
		fmt.Println("inventory 1.0")
		return
	}
	if err := WriteCSV(os.Stdout, []Item{{"widget", 4}, {"gadget", 2}}); err != nil {
		os.Exit(1)
	}
}
EOF
cat >"$repo/go/export.go" <<'EOF'
package main

import (
	"archive/zip"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Item is one stock line.
type Item struct {
	Name  string
	Count int
}

// WriteCSV writes items as CSV.
func WriteCSV(w io.Writer, items []Item) error {
	c := csv.NewWriter(w)
	for _, it := range items {
		if err := c.Write([]string{it.Name, strconv.Itoa(it.Count)}); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}

// Bundle zips the named files into out.
func Bundle(out string, files []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	z := zip.NewWriter(f)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		w, err := z.Create(filepath.Base(name))
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	if err := z.Close(); err != nil {
		return err
	}
	return f.Close()
}
EOF
cat >"$repo/go/export_test.go" <<'EOF'
package main

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestBundle(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := 0; i < 4; i++ {
		name := filepath.Join(dir, fmt.Sprintf("stock-%d.csv", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteCSV(f, []Item{{"widget", i}}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		files = append(files, name)
	}
	out := filepath.Join(dir, "stock.zip")
	if err := Bundle(out, files); err != nil {
		t.Fatal(err)
	}
	r, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.File) != 4 {
		t.Fatalf("%d files in the zip", len(r.File))
	}
}
EOF
cat >"$repo/c/Makefile" <<'EOF'
CC ?= cc
CFLAGS ?= -O2 -Wall
VERSION = 1.0
DISTDIR ?= dist

all: invtool

libinv.a: libinv.o
	ar rcs $@ $^

invtool: invtool.o libinv.a
	$(CC) $(CFLAGS) -o $@ invtool.o libinv.a

test_inv: test_inv.o libinv.a
	$(CC) $(CFLAGS) -o $@ test_inv.o libinv.a

check: test_inv
	./test_inv

dist: invtool
	rm -rf $(DISTDIR)/invtool-$(VERSION)
	install -d $(DISTDIR)/invtool-$(VERSION)/bin $(DISTDIR)/invtool-$(VERSION)/lib $(DISTDIR)/invtool-$(VERSION)/include $(DISTDIR)/invtool-$(VERSION)/share/doc
	install -m 755 invtool $(DISTDIR)/invtool-$(VERSION)/bin/
	install -m 644 libinv.a $(DISTDIR)/invtool-$(VERSION)/lib/
	install -m 644 libinv.h $(DISTDIR)/invtool-$(VERSION)/include/
	install -m 644 README $(DISTDIR)/invtool-$(VERSION)/share/doc/
	tar czf $(DISTDIR)/invtool-$(VERSION).tar.gz -C $(DISTDIR) invtool-$(VERSION)

clean:
	rm -f *.o *.a invtool test_inv

.PHONY: all check dist clean
EOF
cat >"$repo/c/libinv.h" <<'EOF'
int inv_total(const int *counts, int n);
EOF
cat >"$repo/c/libinv.c" <<'EOF'
#include "libinv.h"
int inv_total(const int *counts, int n) { int t = 0; for (int i = 0; i < n; i++) t += counts[i]; return t; }
EOF
cat >"$repo/c/invtool.c" <<'EOF'
#include <stdio.h>
#include "libinv.h"
int main(void) { int c[] = {4, 2, 7}; printf("total %d\n", inv_total(c, 3)); return 0; }
EOF
cat >"$repo/c/test_inv.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "libinv.h"
int main(void) {
	char path[] = "/tmp/inv-test-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) return 1;
	FILE *f = fdopen(fd, "w");
	fprintf(f, "4\n2\n7\n");
	fclose(f);
	unlink(path);
	int c[] = {4, 2, 7};
	if (inv_total(c, 3) != 13) { fprintf(stderr, "bad total\n"); return 1; }
	puts("ok");
	return 0;
}
EOF
printf 'invtool: the inventory command-line tool.\n' >"$repo/c/README"
cat >"$repo/web/package.json" <<'EOF'
{
  "name": "inventory-web",
  "version": "1.0.0",
  "description": "Inventory web front end",
  "main": "dist/app.js",
  "files": ["dist/"],
  "scripts": {"build": "node build.js", "test": "node test.js"},
  "license": "MIT"
}
EOF
cat >"$repo/web/build.js" <<'EOF'
// Bundles src/*.js into dist/app.js and dist/app.js.gz through a scratch
// directory in os.tmpdir(), as bundlers do.
const fs = require("fs"), os = require("os"), path = require("path"), zlib = require("zlib");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "inventory-build-"));
const chunks = fs.readdirSync("src").sort().map((name, i) => {
  const out = path.join(scratch, `chunk-${i}.js`);
  fs.writeFileSync(out, `// ${name}\n` + fs.readFileSync(path.join("src", name), "utf8"));
  return out;
});
const bundle = chunks.map((c) => fs.readFileSync(c, "utf8")).join("\n");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/app.js", bundle);
fs.writeFileSync("dist/app.js.gz", zlib.gzipSync(bundle));
fs.rmSync(scratch, { recursive: true });
EOF
mkdir -p "$repo/web/src"
printf 'exports.total = (xs) => xs.reduce((a, b) => a + b, 0);\n' >"$repo/web/src/a-total.js"
printf 'exports.render = (n) => `<b>${n}</b>`;\n' >"$repo/web/src/b-render.js"
printf 'exports.fmt = (n) => n.toFixed(2);\n' >"$repo/web/src/c-format.js"
cat >"$repo/web/test.js" <<'EOF'
const assert = require("assert"), fs = require("fs");
assert.ok(fs.readFileSync("dist/app.js", "utf8").includes("exports.total"));
console.log("ok");
EOF
cat >"$repo/py/setup.py" <<'EOF'
from setuptools import setup

setup(name="inventory", version="1.0", packages=["inventory"])
EOF
cat >"$repo/py/inventory/__init__.py" <<'EOF'
import csv
import os
import zipfile


def export(items, directory):
    paths = []
    for region, rows in items.items():
        path = os.path.join(directory, region + ".csv")
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
        paths.append(path)
    out = os.path.join(directory, "export.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, os.path.basename(p))
    return out
EOF
touch "$repo/py/tests/__init__.py"
cat >"$repo/py/tests/test_export.py" <<'EOF'
import tempfile
import unittest
import zipfile

import inventory


class ExportTest(unittest.TestCase):
    def test_export(self):
        with tempfile.TemporaryDirectory() as d:
            out = inventory.export({"emea": [["a", 1]], "apac": [["b", 2]], "amer": [["c", 3]]}, d)
            self.assertEqual(len(zipfile.ZipFile(out).namelist()), 3)


if __name__ == "__main__":
    unittest.main()
EOF
printf 'bin/\ndist/\nnode_modules/\n*.o\n*.a\n' >"$repo/.gitignore"
(
	cd "$repo"
	git init -q -b main .
	git add -A go c .gitignore
	git commit -q -m "inventory: Go and C tools"
	GIT_COMMITTER_DATE="2025-01-02T09:00:00Z" GIT_AUTHOR_DATE="2025-01-02T09:00:00Z"
	git add -A web py
	git commit -q -m "inventory: web front end and Python exporter"
)
rm -rf "$EVAL/www/git/inventory.git"
git clone -q --bare "$repo" "$EVAL/www/git/inventory.git"
git -C "$EVAL/www/git/inventory.git" update-server-info

# ---- Downloads served by the web server.
f=$EVAL/www/files
rm -rf "$f"; mkdir -p "$f"
pdf "Invoice 2291" "$f/invoice-2291.pdf"
office "$f/slides-q3.pptx" ppt "Q3 all-hands"
d=$gen/dl; rm -rf "$d"; mkdir -p "$d/dataset-2024"
for m in 01 02 03; do lines 500 "%d,%d,%s" >"$d/dataset-2024/month-$m.csv"; done
(cd "$d" && zip -qrX "$f/dataset-2024.zip" dataset-2024)
mkdir -p "$d/tool-2.1/bin" "$d/tool-2.1/share"
printf '#!/bin/sh\necho tool 2.1\n' >"$d/tool-2.1/bin/tool"; chmod 755 "$d/tool-2.1/bin/tool"
printf 'tool manual\n' >"$d/tool-2.1/share/tool.1"
tar czf "$f/tool-2.1.tar.gz" -C "$d" tool-2.1
cat >"$f/install-tool.sh" <<'EOF'
#!/bin/sh
set -e
mkdir -p "$HOME/.local/bin" "$HOME/.local/share/man/man1"
install -m 755 tool-2.1/bin/tool "$HOME/.local/bin/tool"
install -m 644 tool-2.1/share/tool.1 "$HOME/.local/share/man/man1/tool.1"
"$HOME/.local/bin/tool"
EOF
(cd "$f" && sha256sum tool-2.1.tar.gz install-tool.sh >SHA256SUMS)
mkdir -p "$d/libfoo-1.2/src" "$d/libfoo-1.2/include"
printf '#define MAX_CONN 64\n#define TIMEOUT 30\n' >"$d/libfoo-1.2/src/config.h"
printf 'int foo(void) { return 1; }\n' >"$d/libfoo-1.2/src/foo.c"
printf 'int foo(void);\n' >"$d/libfoo-1.2/include/foo.h"
printf 'all:\n\tcc -c src/foo.c\n' >"$d/libfoo-1.2/Makefile"
tar czf "$f/libfoo-1.2.tar.gz" -C "$d" libfoo-1.2

# ---- A container registry's v2 API: a manifest, a config blob, three gzip layers.
v2=$EVAL/www/v2/acme/webapp
rm -rf "$EVAL/www/v2"; mkdir -p "$v2/manifests" "$v2/blobs"
l=$gen/layers; rm -rf "$l"; mkdir -p "$l/1/etc" "$l/1/usr/bin" "$l/2/app/static" "$l/3/app"
printf 'webapp:x:1000:1000::/app:/bin/sh\n' >"$l/1/etc/passwd"
printf '#!/bin/sh\n' >"$l/1/usr/bin/entrypoint"
printf 'console.log("v1")\n' >"$l/2/app/server.js"
printf 'body{}\n' >"$l/2/app/static/site.css"
printf 'old\n' >"$l/2/app/legacy.js"
printf 'console.log("v2")\n' >"$l/3/app/server.js"
touch "$l/3/app/.wh.legacy.js"
layers=
for n in 1 2 3; do
	tar czf "$l/$n.tgz" --owner=0 --group=0 -C "$l/$n" .
	dg=$(sha256sum "$l/$n.tgz" | cut -d' ' -f1)
	cp "$l/$n.tgz" "$v2/blobs/sha256:$dg"
	layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$(stat -c %s "$l/$n.tgz")}"
done
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/bin/entrypoint"]}}\n' >"$l/config.json"
cd_=$(sha256sum "$l/config.json" | cut -d' ' -f1)
cp "$l/config.json" "$v2/blobs/sha256:$cd_"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}\n' \
	"$cd_" "$(stat -c %s "$l/config.json")" "$layers" >"$v2/manifests/1.4"

# ---- Two versions of a Debian package whose maintainer scripts save the
# configuration to /var/tmp and tar it, and unpack bundled assets.
for v in 1.0 1.1; do
	p=$gen/pkg-$v; rm -rf "$p"
	mkdir -p "$p/DEBIAN" "$p/usr/bin" "$p/etc/stagewatch-evaltool" "$p/usr/share/stagewatch-evaltool"
	printf 'Package: stagewatch-evaltool\nVersion: %s\nArchitecture: all\nMaintainer: Acme Ops <ops@acme.example>\nSection: admin\nPriority: optional\nDescription: inventory agent\n An agent that reports the stock levels.\n' "$v" >"$p/DEBIAN/control"
	printf '#!/bin/sh\necho "stagewatch-evaltool %s"\n' "$v" >"$p/usr/bin/stagewatch-evaltool"; chmod 755 "$p/usr/bin/stagewatch-evaltool"
	printf 'listen = 127.0.0.1:9100\n' >"$p/etc/stagewatch-evaltool/agent.conf"
	printf 'admin = ops\n' >"$p/etc/stagewatch-evaltool/users.conf"
	printf 'cert = /etc/ssl/certs/agent.pem\n' >"$p/etc/stagewatch-evaltool/tls.conf"
	(cd "$p" && find etc -type f | sed 's|^|/|') >"$p/DEBIAN/conffiles"
	a=$gen/assets-$v; rm -rf "$a"; mkdir -p "$a/templates"
	for t in index report detail; do printf '<h1>%s %s</h1>\n' "$t" "$v" >"$a/templates/$t.html"; done
	tar czf "$p/usr/share/stagewatch-evaltool/assets.tgz" -C "$a" templates
	cat >"$p/DEBIAN/preinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = upgrade ] && [ -d /etc/stagewatch-evaltool ]; then
	rm -rf /var/tmp/stagewatch-evaltool.conf-save
	cp -a /etc/stagewatch-evaltool /var/tmp/stagewatch-evaltool.conf-save
fi
EOF
	cat >"$p/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	mkdir -p /var/lib/stagewatch-evaltool /var/backups
	tar xzf /usr/share/stagewatch-evaltool/assets.tgz -C /var/lib/stagewatch-evaltool
	if [ -d /var/tmp/stagewatch-evaltool.conf-save ]; then
		tar czf /var/backups/stagewatch-evaltool.conf-save.tgz -C /var/tmp stagewatch-evaltool.conf-save
		rm -rf /var/tmp/stagewatch-evaltool.conf-save
	fi
fi
EOF
	cat >"$p/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ] || [ "$1" = remove ]; then
	rm -rf /var/lib/stagewatch-evaltool
	rm -f /var/backups/stagewatch-evaltool.conf-save.tgz
fi
EOF
	chmod 755 "$p/DEBIAN/preinst" "$p/DEBIAN/postinst" "$p/DEBIAN/postrm"
	dpkg-deb -Zgzip --root-owner-group -b "$p" "$EVAL/debs/stagewatch-evaltool_${v}_all.deb" >/dev/null
done
dpkg --purge stagewatch-evaltool >/dev/null 2>&1 || true

# ---- The service: exports written by a daemon, its logs, its data.
cat >"$EVAL/opt/acme/bin/acme-exporter" <<'EOF'
#!/usr/bin/python3
"""Writes the order exports, one CSV a tick, as a reporting service does."""
import os
import time

out = "/var/tmp/acme-exports"
os.makedirs(out, exist_ok=True)
n = 0
while True:
    n += 1
    tmp = os.path.join(out, ".export-%04d.csv.tmp" % n)
    with open(tmp, "w") as f:
        for i in range(200):
            f.write("%d,%d,customer-%d\n" % (n, i, i % 17))
    os.rename(tmp, os.path.join(out, "export-%04d.csv" % n))
    time.sleep(0.2 if n < 6 else 5)
EOF
chmod 755 "$EVAL/opt/acme/bin/acme-exporter"
rm -rf /var/tmp/acme-exports
mkdir -p /var/lib/acme /var/log/acme /var/backups
awk 'BEGIN { srand(3); for (i = 0; i < 40000; i++) printf "%d,%d,customer-%d,%d\n", i, int(rand()*500), int(rand()*900), int(rand()*10000) }' >/var/lib/acme/orders.csv
printf 'orders_db = /var/lib/acme/orders.csv\n' >/var/lib/acme/acme.conf
rm -f /var/log/acme/*
lines 2000 '%d GET /orders/%d %s' >/var/log/acme/access.log
lines 300 '%d ERROR order %d region %s' >/var/log/acme/error.log
cat >"$EVAL/etc/logrotate-acme.conf" <<'EOF'
/var/log/acme/*.log {
	rotate 3
	compress
	delaycompress
	copytruncate
	missingok
	notifempty
}
EOF
rm -f "$EVAL/var/logrotate.state"

# ---- The mounted volume and the scratch directory.
mkdir -p /mnt/finance-share /mnt/scratch
if ! mountpoint -q /mnt/finance-share; then
	mount -t tmpfs -o size=64m,mode=0755 finance-share /mnt/finance-share
fi
rm -rf /mnt/finance-share/*
mkdir -p /mnt/finance-share/{db,reports,hr}
for t in customers orders; do
	{ echo "CREATE TABLE $t (id int, name text, amount numeric);"; lines 400 "INSERT INTO $t VALUES (%d, 'n%d', '%s');"; } >"/mnt/finance-share/db/$t.sql"
done
python3 - /mnt/finance-share/db <<'EOF'
import sqlite3, sys
for name in ("ledger.sqlite", "payroll.sqlite", "crm.db"):
    c = sqlite3.connect(sys.argv[1] + "/" + name)
    c.execute("CREATE TABLE t (id INTEGER, v TEXT)")
    c.executemany("INSERT INTO t VALUES (?, ?)", [(i, "row %d" % i) for i in range(500)])
    c.commit()
    c.close()
EOF
for r in pnl-2024 forecast-2025 cashflow; do office "/mnt/finance-share/reports/$r.xlsx" xl "$r"; done
pdf "Reviews 2024" /mnt/finance-share/hr/reviews-2024.pdf
pdf "Org chart" /mnt/finance-share/hr/org-chart.pdf
chmod -R a+rX /mnt/finance-share
chmod 1777 /mnt/scratch
rm -rf /mnt/scratch/.m /mnt/scratch/m.tar*

# ---- sudo for the developer's package installs.
printf '%s ALL=(root) NOPASSWD: /usr/bin/dpkg\n' "$U" >/etc/sudoers.d/stagewatch-eval
chmod 0440 /etc/sudoers.d/stagewatch-eval

chown -R "$U:$G" "$H"
chmod -R a+rX "$EVAL/debs" "$EVAL/www"
chmod 755 "$EVAL"
rm -rf "$gen"
echo "setup: $U ($H), $EVAL"
