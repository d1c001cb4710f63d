package eval

// A story is one labelled run: a staging story, which must raise exactly
// the detections it expects, or a benign activity, which must raise none.
// Scripts are bash; they see HTTP (the local web server's base URL) and
// EVAL (the suite's work directory, Base) in their environment, HOME for
// the user's.
type Story struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // staging or benign
	// As is who runs it: "user", the login user on a terminal (a login uid,
	// an audit session, a pty), or "root", root without a login uid in a
	// process tree of its own, as a service or cron job runs.
	As     string `json:"as"`
	What   string `json:"what"`
	Script string `json:"-"`
	// Daemon, when set, is a service started in its own process tree before
	// Script runs and stopped after it; Script starts once DaemonReady
	// exists.
	Daemon      string `json:"-"`
	DaemonReady string `json:"-"`
	// Background stories start before every other story and end after
	// them: the copy and the archive minutes apart.
	Background bool `json:"-"`
	// Leaves are what the story leaves behind (globs), removed before the
	// suite starts and after it ends.
	Leaves []string   `json:"-"`
	Expect []Expected `json:"expect"`
}

// Story kinds and actors.
const (
	Staging = "staging"
	Benign  = "benign"
	User    = "user"
	Root    = "root"
)

// Expected is one detection a staging story must raise, exactly once.
type Expected struct {
	StagingPath string `json:"staging_path"`
	// ArchivePaths are the archive_path values accepted: one, or for an
	// archive compressed again after it was made (gzip of a tar) the first
	// archive or the compressed one.
	ArchivePaths []string `json:"archive_paths"`
	FileCount    int64    `json:"file_count"`
	// Severity, when set, is the severity it must have.
	Severity string `json:"severity,omitempty"`
	// Secrets, when set, is how many of the staged files are keys or
	// secrets, as the reason counts them.
	Secrets int `json:"secrets,omitempty"`
	// EncryptedBy, when set, is the tool whose encryption of the archive
	// must update the same detection.
	EncryptedBy string `json:"encrypted_by,omitempty"`
}

func expect(staging string, files int64, archives ...string) Expected {
	return Expected{StagingPath: staging, ArchivePaths: archives, FileCount: files}
}

// Stories is the evaluation, in the order it runs: a server's day and a
// developer's day, then the staging stories, with the background story
// spanning them all.
var Stories = []Story{
	// ---- A server's day: root without a login uid, each job its own tree.
	{
		Name: "srv-package-install-upgrade-purge", Kind: Benign, As: Root,
		What: "dpkg installs a package, upgrades it (its preinst copies the config to /var/tmp, its postinst tars it into /var/backups and unpacks bundled assets), apt-get reinstalls it from the local file, dpkg purges it",
		Script: `
cd "$EVAL/debs"
dpkg -i stagewatch-evaltool_1.0_all.deb
dpkg -i stagewatch-evaltool_1.1_all.deb
apt-get install -y -q --reinstall --no-install-recommends -o DPkg::Lock::Timeout=60 ./stagewatch-evaltool_1.1_all.deb
stagewatch-evaltool --version
dpkg --purge stagewatch-evaltool
`,
	},
	{
		Name: "srv-service-exports-nightly-backup", Kind: Benign, As: Root,
		What: "a service (its own tree) writes CSV exports into /var/tmp/acme-exports; the nightly backup job (another tree) tars /etc, /var/lib/acme and the exports into /var/backups and gzips all but the newest exports",
		Daemon: `
echo $$ >"$EVAL/run/acme-exporter.pid"
exec /usr/bin/python3 "$EVAL/opt/acme/bin/acme-exporter"
`,
		DaemonReady: "/var/tmp/acme-exports/export-0006.csv",
		Script: `
stamp=$(date +%Y%m%d)
tar czf /var/backups/etc-$stamp.tgz -C / etc || [ $? -eq 1 ]
tar czf /var/backups/acme-$stamp.tgz -C / var/lib/acme var/tmp/acme-exports
ls -1t /var/tmp/acme-exports/export-*.csv | tail -n +3 | xargs -r gzip -9
find /var/backups -name 'acme-*.tgz' -mtime +14 -delete
`,
		Leaves: []string{"/var/tmp/acme-exports", "/var/backups/etc-*.tgz", "/var/backups/acme-*.tgz"},
	},
	{
		Name: "srv-logrotate", Kind: Benign, As: Root,
		What: "logrotate rotates and compresses the service's logs under /var/log/acme (copytruncate), twice",
		Script: `
logrotate -f -s "$EVAL/var/logrotate.state" "$EVAL/etc/logrotate-acme.conf"
echo "$(date) request served" >>/var/log/acme/access.log
logrotate -f -s "$EVAL/var/logrotate.state" "$EVAL/etc/logrotate-acme.conf"
ls /var/log/acme
`,
	},
	{
		Name: "srv-container-image-pull-extract", Kind: Benign, As: Root,
		What: "an image pull as podman does it: manifest and layer blobs fetched into /var/tmp/container_images_storage.*, checked, the three gzip layers extracted in order into a bundle under /var/tmp with whiteouts applied, the pull directory removed",
		Script: `
pull=$(mktemp -d /var/tmp/container_images_storage.XXXXXX)
base="$HTTP/v2/acme/webapp"
curl -sSf -o "$pull/manifest.json" "$base/manifests/1.4"
digests=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$pull/manifest.json")
for d in $digests; do
	curl -sSf -o "$pull/${d#sha256:}" "$base/blobs/$d"
	echo "${d#sha256:}  $pull/${d#sha256:}" | sha256sum -c --quiet -
done
bundle=/var/tmp/webapp-bundle
rm -rf "$bundle"; mkdir -p "$bundle/rootfs"
set -- $digests
cp "$pull/${1#sha256:}" "$bundle/config.json"
shift
for d in "$@"; do
	tar -xzf "$pull/${d#sha256:}" -C "$bundle/rootfs"
	find "$bundle/rootfs" -name '.wh.*' | while read -r wh; do
		rm -rf "$(dirname "$wh")/$(basename "$wh" | sed 's/^\.wh\.//')" "$wh"
	done
done
rm -rf "$pull"
find "$bundle/rootfs" -type f | sort
`,
		Leaves: []string{"/var/tmp/webapp-bundle", "/var/tmp/container_images_storage.*"},
	},
	{
		Name: "srv-ci-build-release-tarball", Kind: Benign, As: Root,
		What: "a CI job clones the repository into a mktemp workspace in /tmp, builds and tests the C tool with make, and make dist installs the build's outputs into a release tree there and tars it; the tarball is published out of /tmp",
		Script: `
ws=$(mktemp -d /tmp/ci-job.XXXXXX)
git clone -q "$HTTP/git/inventory.git" "$ws/src"
make -C "$ws/src/c" all check
make -C "$ws/src/c" dist DISTDIR="$ws/out"
install -d "$EVAL/artifacts"
cp "$ws/out/invtool-1.0.tar.gz" "$EVAL/artifacts/"
rm -rf "$ws"
`,
	},
	{
		Name: "srv-report-job-sort-spills", Kind: Benign, As: Root,
		What: "a report job sorts a large CSV with sort -S 64K -T in a mktemp directory under /var/tmp (sort spills temporary files there and deletes them), tars the one sorted result into /var/backups, removes the directory",
		Script: `
work=$(mktemp -d /var/tmp/acme-report.XXXXXX)
sort -S 64K -T "$work" -t, -k3,3 -k1,1n /var/lib/acme/orders.csv >"$work/orders-by-customer.csv"
tar czf /var/backups/acme-orders-$(date +%F).tgz -C "$work" orders-by-customer.csv
rm -rf "$work"
`,
		Leaves: []string{"/var/backups/acme-orders-*.tgz"},
	},

	// ---- A developer's day: the login user on a terminal.
	{
		Name: "dev-git-clone-gc", Kind: Benign, As: User,
		What: "git clone of the team repository into ~/src and a review clone into /tmp, a branch, git gc --aggressive there, the review clone removed",
		Script: `
mkdir -p ~/src
git clone -q "$HTTP/git/inventory.git" ~/src/inventory
git clone -q "$HTTP/git/inventory.git" /tmp/review-inventory
cd /tmp/review-inventory
git log --oneline -3
git checkout -q -b review HEAD~1
git gc -q --aggressive --prune=now
cd ~
rm -rf /tmp/review-inventory
`,
		Leaves: []string{"/tmp/review-inventory"},
	},
	{
		Name: "dev-go-build-test", Kind: Benign, As: User,
		What: "go build and go test of a Go module with a cold cache (compiler work in /tmp/go-build*); its test writes CSV files in t.TempDir() and zips them",
		Script: `
cd ~/src/inventory/go
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod
go build -o bin/inventory .
go test -count=1 ./...
./bin/inventory -version
`,
	},
	{
		Name: "dev-c-build", Kind: Benign, As: User,
		What: "make and make check of a C tool and library (gcc's temporaries in /tmp; the test writes and removes mkstemp files in /tmp), make clean",
		Script: `
cd ~/src/inventory/c
make
make check
make clean
`,
	},
	{
		Name: "dev-node-build-pack", Kind: Benign, As: User,
		What: "npm run build (the build script writes chunks into an os.tmpdir() directory, bundles and gzips them into dist/, removes the directory), npm test, npm pack --pack-destination /tmp, and npm install of that tarball into a scratch project",
		Script: `
cd ~/src/inventory/web
npm run -s build
npm test -s
npm pack -s --pack-destination /tmp
mkdir -p ~/try-web && cd ~/try-web
npm init -y >/dev/null
npm install -s --offline --no-audit --no-fund /tmp/inventory-web-1.0.0.tgz
ls node_modules/inventory-web
`,
		Leaves: []string{"/tmp/inventory-web-1.0.0.tgz"},
	},
	{
		Name: "dev-python-test-wheel-sdist", Kind: Benign, As: User,
		What: "python3 -m unittest (a test writes CSV files in a TemporaryDirectory under /tmp and zips them with zipfile), pip wheel into /tmp/wheelhouse, setup.py sdist into the same directory",
		Script: `
cd ~/src/inventory/py
python3 -m unittest discover -s tests -t . -q
python3 -m pip wheel -q --no-deps --no-build-isolation --no-index -w /tmp/wheelhouse .
python3 setup.py -q sdist -d /tmp/wheelhouse 2>/dev/null
ls /tmp/wheelhouse
`,
		Leaves: []string{"/tmp/wheelhouse"},
	},
	{
		Name: "dev-browser-downloads-unzip-tmp", Kind: Benign, As: User,
		What: "downloads opened from the browser's temp directory /tmp/mozilla_sweval0 (a PDF, a PPTX, a zip saved as .part and renamed when complete), the zip unpacked into /tmp/.fr-* as an archive manager does",
		Script: `
dl=/tmp/mozilla_sweval0
mkdir -p -m 700 "$dl"
curl -sSf -o "$dl/invoice-2291.pdf" "$HTTP/files/invoice-2291.pdf"
curl -sSf -o "$dl/slides-q3.pptx" "$HTTP/files/slides-q3.pptx"
curl -sSf -o "$dl/dataset-2024.zip.part" "$HTTP/files/dataset-2024.zip"
mv "$dl/dataset-2024.zip.part" "$dl/dataset-2024.zip"
ex=$(mktemp -d /tmp/.fr-XXXXXX)
unzip -q "$dl/dataset-2024.zip" -d "$ex"
wc -l "$ex"/dataset-2024/*.csv
`,
		Leaves: []string{"/tmp/mozilla_sweval0", "/tmp/.fr-*"},
	},
	{
		Name: "dev-download-copied-to-tmp-unpacked", Kind: Benign, As: User,
		What: "a release tarball downloaded to ~/Downloads, its installer and checksums downloaded into /tmp, the tarball copied to /tmp, checked, extracted there and installed into ~/.local",
		Script: `
curl -sSf -o ~/Downloads/tool-2.1.tar.gz "$HTTP/files/tool-2.1.tar.gz"
curl -sSf -o /tmp/install-tool.sh "$HTTP/files/install-tool.sh"
curl -sSf -o /tmp/SHA256SUMS "$HTTP/files/SHA256SUMS"
cp ~/Downloads/tool-2.1.tar.gz /tmp/
cd /tmp
sha256sum -c --ignore-missing SHA256SUMS
tar xzf tool-2.1.tar.gz
sh install-tool.sh
`,
		Leaves: []string{"/tmp/install-tool.sh", "/tmp/SHA256SUMS", "/tmp/tool-2.1.tar.gz", "/tmp/tool-2.1"},
	},
	{
		Name: "dev-vim-patch-source-tarball", Kind: Benign, As: User,
		What: "a source tarball downloaded and extracted in /tmp, one header edited with vim (swap file, backup and write-test files written and deleted), the patched tree tarred again",
		Script: `
curl -sSf -o /tmp/libfoo-1.2.tar.gz "$HTTP/files/libfoo-1.2.tar.gz"
cd /tmp
tar xzf libfoo-1.2.tar.gz
vim -c '%s/MAX_CONN 64/MAX_CONN 256/' -c 'wq' /tmp/libfoo-1.2/src/config.h
grep MAX_CONN /tmp/libfoo-1.2/src/config.h
tar czf /tmp/libfoo-1.2-patched.tar.gz -C /tmp libfoo-1.2
`,
		Leaves: []string{"/tmp/libfoo-1.2.tar.gz", "/tmp/libfoo-1.2", "/tmp/libfoo-1.2-patched.tar.gz"},
	},
	{
		Name: "dev-mktemp-report-script", Kind: Benign, As: User,
		What: "a report script: mktemp -d in /tmp, one CSV per region, concatenated, the parts removed, the report gzipped and moved home, the directory removed",
		Script: `
tmp=$(mktemp -d)
for region in emea apac amer; do
	awk -F, -v r=$region '$2 == r' ~/data/sales.csv >"$tmp/$region.csv"
done
cat "$tmp"/emea.csv "$tmp"/apac.csv "$tmp"/amer.csv >"$tmp/report.csv"
rm "$tmp"/emea.csv "$tmp"/apac.csv "$tmp"/amer.csv
gzip "$tmp/report.csv"
mkdir -p ~/reports
mv "$tmp/report.csv.gz" ~/reports/sales-$(date +%F).csv.gz
rmdir "$tmp"
`,
	},
	{
		Name: "dev-sort-spills-tmp", Kind: Benign, As: User,
		What: "sort -S 200K -T /tmp over a large log (spill files directly in /tmp, deleted), twice, the results written and gzipped at home",
		Script: `
sort -S 200K -T /tmp -k1,1 ~/data/access.log | cut -d' ' -f1 | uniq -c | sort -rn | head -5 >~/top-clients.txt
sort -S 200K -T /tmp -o ~/data/access.sorted ~/data/access.log
gzip -f ~/data/access.sorted
cat ~/top-clients.txt
`,
	},
	{
		Name: "dev-sudo-package-install-upgrade", Kind: Benign, As: User,
		What: "sudo dpkg -i of a package, sudo dpkg -i of its upgrade (config saved to /var/tmp and tarred by its maintainer scripts), sudo dpkg -r",
		Script: `
cd "$EVAL/debs"
sudo -n dpkg -i stagewatch-evaltool_1.0_all.deb
sudo -n dpkg -i stagewatch-evaltool_1.1_all.deb
stagewatch-evaltool --version
sudo -n dpkg -r stagewatch-evaltool
`,
	},

	// ---- Staging: documents, keys, databases and mail gathered and archived.
	{
		Name: "stage-etc-find-exec-tar-xz-tmp", Kind: Staging, As: Root,
		What: "root (no login uid) copies account and host files from /etc into /tmp/.font-unix-cache with find -exec cp, then tar cJf",
		Script: `
mkdir -p /tmp/.font-unix-cache
find /etc -maxdepth 1 -type f \( -name passwd -o -name shadow -o -name group -o -name gshadow -o -name login.defs -o -name hosts \) -exec cp {} /tmp/.font-unix-cache/ \;
tar cJf /tmp/.font-unix-cache.tar.xz -C /tmp .font-unix-cache
`,
		Leaves: []string{"/tmp/.font-unix-cache", "/tmp/.font-unix-cache.tar.xz"},
		Expect: []Expected{withSecrets(expect("/tmp/.font-unix-cache", 6, "/tmp/.font-unix-cache.tar.xz"), 2)},
	},
	{
		Name: "stage-volume-databases-python-zipfile-shm", Kind: Staging, As: Root,
		What: "root copies the databases of a mounted volume (/mnt/finance-share) into /dev/shm/.db with a Python script (shutil), then a Python zipfile script writes /dev/shm/.db.zip",
		Script: `
python3 - /mnt/finance-share/db /dev/shm/.db <<'EOF'
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for name in sorted(os.listdir(src)):
    if name.endswith((".sqlite", ".db", ".sql")):
        shutil.copy2(os.path.join(src, name), dst)
EOF
python3 - /dev/shm/.db <<'EOF'
import os, sys, zipfile
src = sys.argv[1]
with zipfile.ZipFile(src + ".zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src)):
        z.write(os.path.join(src, name), name)
EOF
`,
		Leaves: []string{"/dev/shm/.db", "/dev/shm/.db.zip"},
		Expect: []Expected{expect("/dev/shm/.db", 5, "/dev/shm/.db.zip")},
	},
	{
		Name: "stage-home-documents-tar-pipe-gzip-mnt", Kind: Staging, As: Root,
		What: "root copies a user's documents and mailboxes with cp -a into /mnt/.snapshot, then tar cf - | gzip > /mnt/.snapshot.tar.gz",
		Script: `
mkdir -p /mnt/.snapshot
cp -a /home/sweval/Documents /mnt/.snapshot/
cp -a /home/sweval/Mail/INBOX.mbox /home/sweval/Mail/Sent.mbox /mnt/.snapshot/
tar cf - -C /mnt .snapshot | gzip >/mnt/.snapshot.tar.gz
`,
		Leaves: []string{"/mnt/.snapshot", "/mnt/.snapshot.tar.gz"},
		Expect: []Expected{expect("/mnt/.snapshot", 8, "/mnt/.snapshot.tar.gz")},
	},
	{
		Name: "stage-volume-databases-zip-password-var-tmp", Kind: Staging, As: Root,
		What: "root copies SQL dumps and SQLite databases from the mounted volume into /var/tmp/.pgdump, then zip -r -P",
		Script: `
mkdir -p /var/tmp/.pgdump
cp /mnt/finance-share/db/*.sql /mnt/finance-share/db/*.sqlite /var/tmp/.pgdump/
cd /var/tmp
zip -q -r -P 'Winter2024' /var/tmp/.pgdump.zip .pgdump
`,
		Leaves: []string{"/var/tmp/.pgdump", "/var/tmp/.pgdump.zip"},
		Expect: []Expected{expect("/var/tmp/.pgdump", 4, "/var/tmp/.pgdump.zip")},
	},
	{
		Name: "stage-documents-cp-tar-tmp", Kind: Staging, As: User,
		What: "the user copies five documents from ~/Documents into /tmp/.q3-review with cp, then tar czf",
		Script: `
mkdir /tmp/.q3-review
cp ~/Documents/*.docx ~/Documents/*.xlsx ~/Documents/*.pdf ~/Documents/*.csv ~/Documents/*.odt /tmp/.q3-review/
tar czf /tmp/.q3-review.tgz -C /tmp .q3-review
`,
		Leaves: []string{"/tmp/.q3-review", "/tmp/.q3-review.tgz"},
		Expect: []Expected{expect("/tmp/.q3-review", 5, "/tmp/.q3-review.tgz")},
	},
	{
		Name: "stage-ssh-dir-cp-r-tar-shm", Kind: Staging, As: User,
		What: "the user copies ~/.ssh (two private keys, one named deploy_rsa with a PEM header) with cp -r into /dev/shm/.s, then tar czf: high severity",
		Script: `
cp -r ~/.ssh /dev/shm/.s
tar czf /dev/shm/.s.tgz -C /dev/shm .s
`,
		Leaves: []string{"/dev/shm/.s", "/dev/shm/.s.tgz"},
		Expect: []Expected{func() Expected {
			e := withSecrets(expect("/dev/shm/.s", 7, "/dev/shm/.s.tgz"), 2)
			e.Severity = "high"
			return e
		}()},
	},
	{
		Name: "stage-T1560-zip-password-gpg-tmp", Kind: Staging, As: User,
		What: "Atomic Red Team T1560.001: the user copies ~/Documents into /tmp/T1560, zip --password P /tmp/T1560/T1560 ./* (writing /tmp/T1560/T1560.zip), then gpg -c of the zip, which must update the same detection",
		Script: `
mkdir -p /tmp/T1560
cp ~/Documents/* /tmp/T1560/
cd /tmp/T1560
zip --password 'T1560!pass' /tmp/T1560/T1560 ./*
gpg --batch --yes --pinentry-mode loopback --passphrase 'T1560!pass' -c /tmp/T1560/T1560.zip
gpgconf --kill gpg-agent
`,
		Leaves: []string{"/tmp/T1560"},
		Expect: []Expected{func() Expected {
			e := expect("/tmp/T1560", 6, "/tmp/T1560/T1560.zip")
			e.EncryptedBy = "gpg"
			return e
		}()},
	},
	{
		Name: "stage-documents-mail-rsync-7z-var-tmp", Kind: Staging, As: User,
		What: "the user rsyncs ~/Documents and three mailboxes into /var/tmp/.cache-sync, then 7z a -p -mhe=on",
		Script: `
mkdir -p /var/tmp/.cache-sync
rsync -a ~/Documents ~/Mail/INBOX.mbox ~/Mail/Sent.mbox ~/Mail/Drafts.mbox /var/tmp/.cache-sync/
cd /var/tmp
7z a -bd -p'Sync2024' -mhe=on /var/tmp/.cache-sync.7z .cache-sync >/dev/null
`,
		Leaves: []string{"/var/tmp/.cache-sync", "/var/tmp/.cache-sync.7z"},
		Expect: []Expected{expect("/var/tmp/.cache-sync", 9, "/var/tmp/.cache-sync.7z")},
	},
	{
		Name: "stage-mail-mv-tar-then-gzip-mnt", Kind: Staging, As: User,
		What: "the user moves four exported mails with mv into /mnt/scratch/.m (a world-writable scratch directory), tar cf of them, then gzip of the tar",
		Script: `
mkdir -p /mnt/scratch/.m
mv ~/Mail/Exports/*.eml /mnt/scratch/.m/
cd /mnt/scratch
tar cf /mnt/scratch/m.tar .m
gzip /mnt/scratch/m.tar
`,
		Leaves: []string{"/mnt/scratch/.m", "/mnt/scratch/m.tar", "/mnt/scratch/m.tar.gz"},
		Expect: []Expected{expect("/mnt/scratch", 4, "/mnt/scratch/m.tar", "/mnt/scratch/m.tar.gz")},
	},
	{
		Name: "stage-cloud-creds-password-store-tar-var-tmp", Kind: Staging, As: User,
		What: "the user copies AWS, gcloud and Azure credentials (cp --parents) and the pass password store (cp -r) into /var/tmp/.k, then tar czf",
		Script: `
mkdir -p /var/tmp/.k
cd ~
cp --parents .aws/credentials .aws/config .config/gcloud/application_default_credentials.json .azure/msal_token_cache.json /var/tmp/.k/
cp -r ~/.password-store /var/tmp/.k/
tar czf /var/tmp/.k.tgz -C /var/tmp .k
`,
		Leaves: []string{"/var/tmp/.k", "/var/tmp/.k.tgz"},
		Expect: []Expected{withSecrets(expect("/var/tmp/.k", 7, "/var/tmp/.k.tgz"), 5)},
	},
	{
		Name: "stage-browser-credentials-zip-tmp", Kind: Staging, As: User,
		What: "the user copies Firefox's logins.json and key4.db and Chrome's Login Data, Cookies and History into /tmp/.b, then zip -qr",
		Script: `
mkdir -p /tmp/.b
ff=~/.mozilla/firefox/k3x9w2ab.default-release
cp "$ff/logins.json" "$ff/key4.db" /tmp/.b/
cp ~/.config/google-chrome/Default/"Login Data" ~/.config/google-chrome/Default/Cookies ~/.config/google-chrome/Default/History /tmp/.b/
cd /tmp
zip -qr /tmp/.b.zip .b
`,
		Leaves: []string{"/tmp/.b", "/tmp/.b.zip"},
		Expect: []Expected{withSecrets(expect("/tmp/.b", 5, "/tmp/.b.zip"), 4)},
	},
	{
		Name: "stage-files-directly-in-tmp-tar", Kind: Staging, As: User,
		What: "the user copies three documents directly into /tmp, then tar czf naming exactly them",
		Script: `
cp ~/Documents/salaries.csv ~/Documents/merger-terms.pdf ~/Documents/budget-2025.xlsx /tmp/
cd /tmp
tar czf /tmp/hr-export.tgz salaries.csv merger-terms.pdf budget-2025.xlsx
`,
		Leaves: []string{"/tmp/salaries.csv", "/tmp/merger-terms.pdf", "/tmp/budget-2025.xlsx", "/tmp/hr-export.tgz"},
		Expect: []Expected{expect("/tmp/", 3, "/tmp/hr-export.tgz")},
	},
	{
		Name: "stage-volume-reports-minutes-apart-var-tmp", Kind: Staging, As: User, Background: true,
		What: "the user copies reports from the mounted volume into /var/tmp/.swap-cache first thing, and in the same session two minutes later, after everything else, tar czf",
		Script: `
mkdir -p /var/tmp/.swap-cache
cp /mnt/finance-share/reports/*.xlsx /mnt/finance-share/hr/*.pdf /var/tmp/.swap-cache/
sleep 120
tar czf /var/tmp/.swap-cache.tgz -C /var/tmp .swap-cache
`,
		Leaves: []string{"/var/tmp/.swap-cache", "/var/tmp/.swap-cache.tgz"},
		Expect: []Expected{expect("/var/tmp/.swap-cache", 5, "/var/tmp/.swap-cache.tgz")},
	},
}

func withSecrets(e Expected, n int) Expected {
	e.Secrets = n
	return e
}

// StoryByName returns the story called name.
func StoryByName(name string) *Story {
	for i := range Stories {
		if Stories[i].Name == name {
			return &Stories[i]
		}
	}
	return nil
}
