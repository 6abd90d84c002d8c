# camrelay: `make demo` runs simulated cameras through camrelay into MediaMTX;
# `make test` runs every test. Both install what they need first.

SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Debian 12 packages: the FFmpeg libraries for the libav build, ffmpeg and
# ffprobe as independent clients in tests, pkg-config for cgo.
DEB_PKGS := pkg-config ffmpeg libavcodec-dev libavformat-dev libavutil-dev \
	libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev

# Packages whose tests exercise concurrency run again under the race detector.
RACE_PKGS := ./relay/... ./transport/... ./codec/... ./bench/camsim/... ./cmd/camrelay/...

STATICCHECK_VERSION := v0.8.2

# Build with libav (in-process transcoding) when the FFmpeg development
# libraries are there; without them camrelay is pure Go and refuses
# transcoding cameras. Evaluated in each recipe, after `deps` ran.
TAGS = $$(pkg-config --exists libavcodec libavformat libavutil libswscale libavfilter libswresample 2>/dev/null && echo -tags libav)

.PHONY: all deps mediamtx build test demo bench lint clean

all: build

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "deps: missing:$$missing"; \
		echo "deps: install them with: sudo apt-get install -y$$missing"; exit 1; \
	fi; \
	echo "deps: installing$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

mediamtx:
	@scripts/build-mediamtx.sh >/dev/null && echo "mediamtx: $$(scripts/build-mediamtx.sh)"

build:
	$(GO) build $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

test: deps mediamtx
	$(GO) vet $(TAGS) ./...
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test $(TAGS) -count=1 -timeout 30m ./...
	$(GO) test $(TAGS) -count=1 -race -short -timeout 30m $(RACE_PKGS)

demo: deps mediamtx build
	@scripts/demo.sh

bench: deps mediamtx
	$(GO) test $(TAGS) -run '^$$' -bench . -benchmem -count 1 ./relay/ring/ ./codec/ ./codec/libav/ ./transport/ ./bench/ ./bench/camsim/
	# a short harness run (a few minutes): camrelay vs ffmpeg vs MediaMTX direct
	$(GO) run $(TAGS) ./cmd/relaybench

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS) ./...
	@command -v staticcheck >/dev/null || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck $(TAGS) ./...
	CGO_ENABLED=0 staticcheck ./...

clean:
	rm -rf $(BIN)
