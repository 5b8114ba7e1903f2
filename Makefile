# edgetriage: `make run` starts the appliance on its embedded defaults,
# `make test` runs the whole suite. Both install what they need first.
SHELL     := /bin/bash
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN       := bin/edgetriage
PKG       := ./appliance/cmd/edgetriage

.PHONY: all deps build run demo test bench soak capacity vet clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -o $(BIN) $(PKG)

run: build
	./$(BIN) serve

# run, plus a local RTSP camera and a docked sample body camera.
demo: build
	bash scripts/demo.sh

# The whole suite against real components; see scripts/test.sh.
test: deps
	GO=$(GO) bash scripts/test.sh

# Every benchmark once (-benchtime 1x: each op is a whole figure), then the
# summary table of every figure against its goal (scripts/bench-goals.tsv).
bench: deps
	bash scripts/s3server.sh start
	eval "$$(bash scripts/s3server.sh env)" && $(GO) test -run '^$$' -bench . -skip '^Benchmark(Soak|Capacity)$$' -benchtime 1x -timeout 60m ./... 2>&1 | tee bench.out; \
	status=$${PIPESTATUS[0]}; bash scripts/bench-summary.sh bench.out; exit $$status

# The daemon for EDGETRIAGE_TEST_SOAK_DURATION (default 10m) with four RTSP
# cameras and repeated docks: memory, goroutines, descriptors, gaps, errors.
soak: deps
	bash scripts/s3server.sh start
	eval "$$(bash scripts/s3server.sh env)" && $(GO) test -run '^$$' -bench '^BenchmarkSoak$$' -benchtime 1x -timeout 90m -v $(PKG)

# How many RTSP cameras the appliance keeps up with: see scripts/capacity.sh.
capacity: deps
	GO=$(GO) bash scripts/capacity.sh

clean:
	rm -rf bin
