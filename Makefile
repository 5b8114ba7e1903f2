# edgetriage: `make run` starts the appliance on its embedded defaults,
# `make test` runs the whole suite. Both install what they need first.
GO        ?= go
BIN       := bin/edgetriage
PKG       := ./appliance/cmd/edgetriage
# gocv's image work is slow under the race detector and its cgo calls are not
# instrumented anyway, so the OpenCV packages run without -race.
CV_PKGS    = $(shell $(GO) list ./... | grep -E '/triage/')
RACE_PKGS  = $(shell $(GO) list ./... | grep -vE '/triage/')
TESTFLAGS ?= -count=1 -timeout 40m

.PHONY: all deps build run test bench vet clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build -o $(BIN) $(PKG)

run: build
	./$(BIN) serve

test: deps
	$(GO) vet ./...
	$(GO) test -race $(TESTFLAGS) $(RACE_PKGS)
	$(if $(strip $(CV_PKGS)),$(GO) test $(TESTFLAGS) $(CV_PKGS))

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

clean:
	rm -rf bin
