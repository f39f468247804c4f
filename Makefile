# ProTrader5 real-time gateway. `make run` and `make test` are the two
# commands a new machine needs (README.md).

GO      ?= go
BINARY  ?= bin/protrader5-ws
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Node projects whose lockfiles `make test` installs from.
NODE_PROJECTS := $(patsubst %/package-lock.json,%,$(shell git ls-files '*package-lock.json' 2>/dev/null))
TEST_FLAGS ?= -race -shuffle=on -timeout 20m
# The soak (bench/README.md); every other knob is a SOAK_* variable the
# soak reads itself (go run ./bench/loadgen soak -h).
SOAK_DURATION ?= 10m
SOAK_CLIENTS  ?= 5000
# A nested Go module (deploy/README.md#tests): `go test ./...` does not enter it.
KITCHECK := deploy/kitcheck
NETPOLL := engine/netpollpatch

.PHONY: run build test test-deps lint bench load soak clean

run: ## Gateway on :4000 with the embedded bus and the demo feed (no Redis).
	$(GO) run ./cmd/protrader5-ws serve

build: ## Static binary in bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/protrader5-ws

test: test-deps lint ## Everything CI runs: vet, gofmt, race tests, allocation gates.
	$(GO) test $(TEST_FLAGS) ./...
	@# Allocation budgets run without -race: the race detector makes
	@# sync.Pool drop items on purpose.
	$(GO) test -count=1 -run 'Alloc' ./wire ./engine ./ingest
	@# The operator kit's checks (chart vs kustomize, PromQL vs a live
	@# scrape) are a module of their own to keep Helm, kustomize and
	@# Prometheus out of go.mod; no -race: they test files, not concurrency.
	cd $(KITCHECK) && $(GO) test -count=1 -timeout 10m ./...
	@# The patched netpoll is a module of its own too: its suite, with the
	@# tests that pin the patch (engine/netpollpatch/README.md).
	cd $(NETPOLL) && $(GO) vet . && $(GO) test -count=1 -timeout 5m .

test-deps: ## Installs what the tests need: redis-server and redis-cli, node modules, chromium.
	@# redis-cli forms the Redis Cluster of the cluster tests; Debian's
	@# redis-server package brings it (redis-tools).
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
		echo "installing redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@for project in $(NODE_PROJECTS); do \
		if [ ! -d $$project/node_modules ] || [ $$project/package-lock.json -nt $$project/node_modules ]; then \
			echo "npm ci in $$project"; \
			(cd $$project && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
			touch $$project/node_modules; \
		fi; \
	done

lint: ## gofmt and go vet (Linux and macOS).
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd $(KITCHECK) && $(GO) vet ./...
	@# macOS is a development platform: the tree must build and vet there.
	GOOS=darwin $(GO) vet ./...

bench: ## go test benchmarks, output ready for benchstat.
	$(GO) test -run '^$$' -bench . -benchmem -count $${COUNT:-5} ./wire ./engine ./bench/...

load: build ## Side-by-side load scenarios: gateway vs Node.js reference vs floor relay.
	bash bench/scenarios.sh gateway=$(BINARY) node floor

soak: build ## Soak: healthy clients through a storm of churn and abuse; FAIL unless the gateway returns to its baseline. Not in `make test`.
	$(GO) run ./bench/loadgen soak -gateway $(BINARY) -duration $(SOAK_DURATION) -clients $(SOAK_CLIENTS)

clean:
	rm -rf bin logs
