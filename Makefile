# camrelay: `make demo` runs simulated cameras through camrelay into MediaMTX;
# `make test` runs every test. Both install what they need first.

SHELL := /bin/bash
GO ?= go
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Debian 12 packages: the FFmpeg libraries for the libav build, ffmpeg and
# ffprobe as independent clients in tests, pkg-config for cgo, and etcd
# (3.4) for the fleet tests, which run a real etcd cluster, and chromium for
# the status page's browser test (cmd/camrelay/browser_test.go).
DEB_PKGS := pkg-config ffmpeg libavcodec-dev libavformat-dev libavutil-dev \
	libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev etcd-server \
	chromium

# Packages whose tests exercise concurrency run again under the race detector.
RACE_PKGS := ./relay/... ./transport/... ./codec/... ./bench/camsim/... ./cmd/camrelay/...

STATICCHECK_VERSION := v0.8.2

# Build with libav (in-process transcoding) when the FFmpeg development
# libraries are there; without them camrelay is pure Go and refuses
# transcoding cameras. Evaluated in each recipe, after `deps` ran.
TAGS = $$(pkg-config --exists libavcodec libavformat libavutil libswscale libavfilter libswresample 2>/dev/null && echo -tags libav)

.PHONY: all deps mediamtx build test demo bench lint clean image image-test

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

test: deps mediamtx fuzz-smoke
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

# Fuzz targets (every parser of camera, server, file and API bytes):
# fuzz-smoke runs each for a few seconds from its committed corpus (part of
# make test); make fuzz runs each for FUZZTIME. See scripts/fuzz.sh.
FUZZTIME ?= 60s
.PHONY: fuzz fuzz-smoke soak
fuzz-smoke:
	@GO=$(GO) scripts/fuzz.sh 3s

fuzz:
	@GO=$(GO) FUZZ_MINIMIZE=10s scripts/fuzz.sh $(FUZZTIME)

# The long fault run (not part of make test): SOAK_FLAGS passes flags to
# cmd/soak, e.g. make soak SOAK_FLAGS='-cameras 40 -duration 30m'.
SOAK_FLAGS ?=
soak: deps mediamtx
	$(GO) build $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/camrelay ./cmd/soak
	$(BIN)/soak -camrelay $(BIN)/camrelay -mediamtx "$$(scripts/build-mediamtx.sh)" $(SOAK_FLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS) ./...
	@command -v staticcheck >/dev/null || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck $(TAGS) ./...
	CGO_ENABLED=0 staticcheck ./...

# Container images (Dockerfile): camrelay:latest (libav, Debian 12 slim) and
# camrelay:static (pure Go on an empty base), also tagged with the version.
# Uses podman (installed as root when missing), or Docker when that is what
# runs here; scripts/base-images.sh makes the base images locally when no
# registry is reachable (DESIGN.md, "Containers on these machines").
IMAGE ?= camrelay
REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_ARGS = --network=host --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	$(if $(GOPROXY),--build-arg GOPROXY=$(GOPROXY))

# podman writes OCI images by default, which have no HEALTHCHECK; the
# Docker format keeps it.
image: export BUILDAH_FORMAT = docker
image:
	@engine=$$(scripts/base-images.sh) && set -x && \
	$$engine build $(IMAGE_ARGS) --target static -t $(IMAGE):static -t $(IMAGE):$(VERSION)-static . && \
	$$engine build $(IMAGE_ARGS) -t $(IMAGE):latest -t $(IMAGE):$(VERSION) . && \
	{ set +x; } 2>/dev/null && \
	for t in latest static; do \
		echo "image: $(IMAGE):$$t $$($$engine image inspect --format '{{.Size}}' $(IMAGE):$$t | awk '{printf "%.1f MB", $$1/1e6}')"; \
	done

# The compose stack built from the Dockerfile, run through docker-compose
# against podman's Docker API on loopback: see scripts/image-test.sh.
image-test:
	@scripts/image-test.sh

clean:
	rm -rf $(BIN)
