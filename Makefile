# edgetriage: `make run` starts the appliance on its embedded defaults,
# `make test` runs the whole suite. Both install what they need first.
GO        ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN       := bin/edgetriage
PKG       := ./appliance/cmd/edgetriage

.PHONY: all deps build run demo test bench vet clean

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

bench: deps
	bash scripts/s3server.sh start
	eval "$$(bash scripts/s3server.sh env)" && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

clean:
	rm -rf bin
