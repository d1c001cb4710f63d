# stagewatch — every entry point CI and developers use. `make test` is what .ci/run calls.
SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -buildvcs=false


BUILD := build
VERSION ?= $(shell cat VERSION 2>/dev/null || echo 0.1.0)
LDFLAGS := -s -w -X github.com/stagewatch/stagewatch/internal/version.Version=$(VERSION)

# Pinned code generators (make proto).
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
GOBIN_DIR := $(CURDIR)/$(BUILD)/tools

# Debian packages the tests drive for real (archivers and a compiler for the
# end-to-end and benign-activity tests, and what the evaluation's stories
# run: copy and archive tools, a developer's toolchains, sudo, an editor).
# Chromium loads the HTML report in internal/view's browser test.
# Installed only when missing. auditd is needed only to re-record fixtures.
TEST_DEBS := zip unzip xz-utils gcc make logrotate python3 python3-setuptools python3-wheel python3-pip \
	rsync p7zip-full gnupg vim sudo git curl nodejs openssh-client util-linux bsdutils chromium

.PHONY: all build run test vet cross bench proto deps packs packs-check docs package clean eval eval-record

all: build

# stagewatchd and stagewatch.ext carry the analytics built in (plugins/registry
# lists them). Each plugins/<name>/main.go is also built as the external
# plugin binary stagewatch-<name>, which replaces the built-in analytic when
# it is found in plugin_dir.
PLUGIN_MAINS := $(patsubst %/main.go,%,$(wildcard plugins/*/main.go))

build:
	@mkdir -p $(BUILD)/plugins
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/stagewatchd ./host/cmd/stagewatchd
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/stagewatch.ext ./extensions/stagewatch-ext
	@for d in $(PLUGIN_MAINS); do \
		echo "CGO_ENABLED=0 $(GO) build -o $(BUILD)/plugins/stagewatch-$$(basename $$d) ./$$d"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/plugins/stagewatch-$$(basename $$d) ./$$d || exit 1; \
	done

# The main job on this machine: live Linux analytics on the built-in engine,
# DET0014 pack scheduled, osquery-format results on stdout. Needs root.
run: build
	./$(BUILD)/stagewatchd run --pack packs/det0014.conf

deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	fi
	$(GO) mod download

vet:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

# Windows and macOS code must build for its GOOS.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

# Packages that drive the kernel's audit subsystem and fanotify share one
# machine-wide state (the audit socket, the audit rules), so test binaries
# run one at a time (-p 1); each package still runs its own tests in parallel.
test: deps vet cross build
	$(GO) test -race -count=1 -p 1 ./...

# AN0041's labelled evaluation (docs/eval.md): every staging story and
# benign activity run live on this machine against stagewatchd run, then
# the same replayed from the auditd recordings in plugins/linux/testdata/eval.
# Prints a table per mode; fails on any miss, duplicate or alert. Needs root
# and no audit daemon running. EVAL_MODES=replay replays only.
EVAL_MODES ?= live,replay
eval: deps build
	$(GO) run ./plugins/linux/eval/cmd/stagewatch-eval -stagewatchd $(BUILD)/stagewatchd -modes $(EVAL_MODES)

# Re-records the evaluation's fixtures with a real auditd (needs root, the
# auditd package, and no audit daemon running).
eval-record: deps
	plugins/linux/testdata/eval/record.sh

# Packs: regenerate from packs/source, and check them (also part of `make test`).
packs:
	$(GO) run ./packs/gen

packs-check:
	$(GO) test -count=1 ./packs/...

# docs/tables.md from the definitions the extension registers.
docs:
	$(GO) run ./extensions/cmd/gendocs

# What an osquery/Fleet admin deploys: dist/stagewatch-<version>-linux-amd64.tar.gz
package: build
	$(GO) run ./extensions/cmd/package --version $(VERSION) --build $(BUILD) --out dist

bench:
	@mkdir -p $(BUILD)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=1s ./... | tee $(BUILD)/bench.txt

proto:
	@mkdir -p $(GOBIN_DIR)
	GOBIN=$(GOBIN_DIR) GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(GOBIN_DIR) GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@command -v protoc >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	protoc --plugin=$(GOBIN_DIR)/protoc-gen-go --plugin=$(GOBIN_DIR)/protoc-gen-go-grpc \
		--go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. \
		proto/stagewatch/v1/analytic.proto

clean:
	rm -rf $(BUILD) dist
