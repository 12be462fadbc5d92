# lxctl: a daemonless runner for libvirt LXC domain XML.
# `make demo` runs the demo container, `make test` runs every test; both
# install what they need first (as root, with apt) when it is missing.

GO        ?= go
BIN       := bin/lxctl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
# libcontainer's nsenter is C, so cgo stays on; netgo and osusergo keep the
# static binary free of glibc's NSS; seccomp builds libcontainer's seccomp
# support, linked statically from libseccomp.a (libseccomp-dev).
TAGS      := netgo osusergo seccomp
GOFLAGS_STATIC := -tags '$(TAGS)' -trimpath \
	-ldflags "-s -w -extldflags -static -X github.com/lxctl/lxctl/cmd.version=$(VERSION) -X github.com/lxctl/lxctl/cmd.commit=$(COMMIT)"
FUZZTIME  ?= 60s
PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: all build deps test unit demo fuzz lint clean clean-test help bench soak man install

all: build ## build bin/lxctl (the default)

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: deps $(BIN) ## build the static binary bin/lxctl (installs what it needs first, e.g. libseccomp-dev, when missing)

$(BIN): $(shell find . -name '*.go' -not -path './testdata/*') $(wildcard */*/*.c) go.mod go.sum
	@mkdir -p bin
	CGO_ENABLED=1 $(GO) build $(GOFLAGS_STATIC) -o $@ .

deps: ## install what building and testing need (Debian, as root) when missing
	@./.ci/deps.sh

test: deps build ## run every test (as root: the tests start real containers)
	@$(MAKE) --no-print-directory lint
	CGO_ENABLED=1 $(GO) test -tags '$(TAGS)' -count=1 -timeout 20m ./...

unit: ## run the tests that need no root
	$(GO) test -count=1 ./domainxml/ ./state/

demo: deps build ## define and run the demo container from testdata/
	@./testdata/demo.sh

fuzz: ## fuzz the domain XML parser for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./domainxml/

lint: ## gofmt and go vet
	@files=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	  if [ -n "$$files" ]; then echo "gofmt: these need formatting: $$files" >&2; exit 1; fi
	$(GO) vet -tags '$(TAGS)' ./...

soak: deps build ## the long fault tests: 300 model cycles with kills, 20 clients x 60s (as root; prints what it measured)
	LXCTL_SOAK=1 CGO_ENABLED=1 $(GO) test -count=1 -timeout 90m -v -run '^(TestModel|TestConcurrentClients)$$' ./cmd/

bench: build ## lxctl vs runc, crun, LXC: one markdown table (as root; installs what is missing; see bench/run.sh)
	@./bench/run.sh

clean-test: ## remove what an interrupted test run may have left (cgroups, mounts, processes)
	@./.ci/clean-test.sh

man: ## write the man pages (one per command) to man/
	CGO_ENABLED=1 $(GO) run ./cmd/mangen man

install: build man ## install the binary, man pages, bash/zsh/fish completions and the autostart unit under $(DESTDIR)$(PREFIX)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/lxctl
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lxctl
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_lxctl
	$(BIN) completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/lxctl.fish
	@# The boot unit (autostart-all / shutdown-all), naming the binary just installed;
	@# enable it with: systemctl daemon-reload && systemctl enable lxctl-autostart.service
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/lxctl-autostart.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/lxctl-autostart.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/lxctl-autostart.service

clean: ## remove build output
	rm -rf bin man
