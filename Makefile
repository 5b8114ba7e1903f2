# edgetriage: `make run` starts the appliance on its embedded defaults,
# `make test` runs the whole suite. Both install what they need first.
SHELL     := /bin/bash
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
FUZZTIME  ?= 10s
BIN       := bin/edgetriage
PKG       := ./appliance/cmd/edgetriage
# The version stamped into the binary (edgetriage version, edgetriage_build_info).
VERSION   ?= $(shell bash scripts/version.sh)

.PHONY: all deps build run demo test test-central test-daemon-race bench soak capacity fuzz vet clean deb install-test

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) $(PKG)
	CGO_ENABLED=0 $(GO) build -o bin/edgetriage-verify ./appliance/cmd/edgetriage-verify

# dist/edgetriage_<version>_amd64.deb (scripts/deb.sh, packaging/).
deb: deps
	GO=$(GO) bash scripts/deb.sh --out dist

# The package installed, started, upgraded and purged in a fresh Debian 12
# root (scripts/install-test.sh; needs root and debootstrap).
install-test: deps
	GO=$(GO) $(GO) test -count=1 -timeout 60m -run 'TestInstall' -v ./packaging

run: build
	./$(BIN) serve

# run, plus a local RTSP camera and a docked sample body camera.
demo: build
	bash scripts/demo.sh

# The whole suite against real components; see scripts/test.sh.
test: deps
	GO=$(GO) bash scripts/test.sh

# The central service's tests alone, with the servers they need.
test-central: deps
	GO=$(GO) bash scripts/test.sh central

# The command's tests with the daemon they start built with -race.
test-daemon-race: deps
	GO=$(GO) bash scripts/test.sh daemon-race

# Every benchmark once (-benchtime 1x: each op is a whole figure), then the
# summary table of every figure against its goal (scripts/bench-goals.tsv).
bench: deps
	bash scripts/s3server.sh start
	bash scripts/pgserver.sh start
	eval "$$(bash scripts/s3server.sh env)" && eval "$$(bash scripts/pgserver.sh env)" && $(GO) test -run '^$$' -bench . -skip '^Benchmark(Soak|Capacity)$$' -benchtime 1x -timeout 60m ./... 2>&1 | tee bench.out; \
	status=$${PIPESTATUS[0]}; bash scripts/bench-summary.sh bench.out; exit $$status

# The daemon for EDGETRIAGE_TEST_SOAK_DURATION (default 10m) with four RTSP
# cameras and repeated docks: memory, goroutines, descriptors, gaps, errors.
soak: deps
	bash scripts/s3server.sh start
	eval "$$(bash scripts/s3server.sh env)" && $(GO) test -run '^$$' -bench '^BenchmarkSoak$$' -benchtime 1x -timeout 90m -v $(PKG)

# How many RTSP cameras the appliance keeps up with: see scripts/capacity.sh.
capacity: deps
	GO=$(GO) bash scripts/capacity.sh

# Every fuzz target for FUZZTIME each (default 10s; see scripts/fuzz.sh).
fuzz: deps
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

clean:
	rm -rf bin dist
