#!/usr/bin/env bash
# Prepares a container engine for `make image` and `make image-test`, and
# makes the base images the Dockerfile and the compose file name when they
# are missing, under their official names, so that the Dockerfile stays what
# Docker users build (see "Containers on these machines" in DESIGN.md):
#
#   docker.io/library/debian:bookworm-slim   mmdebstrap --variant=minbase bookworm, imported
#   docker.io/library/golang:1.26-bookworm   the same plus git, gcc, libc6-dev, pkg-config,
#                                            ca-certificates and this machine's /usr/local/go
#   docker.io/bluenviron/mediamtx:1.15.3     the cached MediaMTX binary (scripts/build-mediamtx.sh)
#                                            on the Debian base, with the real image's entrypoint
#
# With podman (installed here as root when missing, with buildah, runc,
# mmdebstrap and docker-compose, --no-install-recommends) it also writes
# /etc/containers/containers.conf when it is missing: runc (crun fails on
# hybrid cgroups) and fixed ulimits (raising the defaults is refused here).
# With a working Docker daemon and no podman nothing is made: Docker pulls
# the official images.
#
# Prints the engine to use (podman or docker) on stdout; everything else
# goes to stderr. FORCE=1 remakes the images.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

log() { echo "base-images: $*" >&2; }

DEB_PKGS=(podman buildah runc mmdebstrap docker-compose)
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
GOLANG_IMAGE=docker.io/library/golang:1.26-bookworm
MEDIAMTX_IMAGE=docker.io/bluenviron/mediamtx:1.15.3
GO_ROOT=${GO_ROOT:-/usr/local/go}

install_packages() {
  local missing=()
  for p in "${DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing Debian packages: ${missing[*]}"
    log "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

write_containers_conf() {
  local f=/etc/containers/containers.conf
  if [ -e "$f" ]; then
    grep -q '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$f" ||
      log "note: $f exists and does not set runtime = \"runc\" (crun fails on hybrid cgroups)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || { log "note: $f is missing; see DESIGN.md for what it needs"; return 0; }
  log "writing $f"
  mkdir -p /etc/containers
  cat > "$f" <<'EOF'
# Written by camrelay's scripts/base-images.sh (see DESIGN.md, "Containers on these machines").
[containers]
# The defaults try to raise the limits, which is refused on this machine.
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
# crun fails on this machine's hybrid cgroups.
runtime = "runc"
EOF
}

engine=""
if command -v podman >/dev/null; then
  engine=podman
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  engine=docker
fi
if [ "$engine" != docker ]; then
  install_packages
  write_containers_conf
  engine=podman
fi
if [ "$engine" = docker ]; then
  log "using Docker's daemon; the official base images are pulled by the build"
  echo docker
  exit 0
fi
# docker-compose is needed by image-test only, but installing it with the
# rest keeps one list.

exists() { [ "${FORCE:-}" != 1 ] && podman image exists "$1"; }

work=$(mktemp -d /tmp/camrelay-base.XXXXXX)
trap 'rm -rf "$work"' EXIT

PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
# What the official slim image leaves out of every package it installs
# (its /etc/dpkg/dpkg.cfg.d/docker), so that image sizes measured here are
# close to what Docker users get.
SLIM=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*')

if ! exists "$DEBIAN_IMAGE"; then
  log "making $DEBIAN_IMAGE (mmdebstrap --variant=minbase bookworm, about 30 s)"
  mmdebstrap --quiet --variant=minbase "${SLIM[@]}" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$work/debian.tar" >&2
  podman import --change "$PATH_ENV" --change 'CMD ["bash"]' \
    "$work/debian.tar" "$DEBIAN_IMAGE" >/dev/null
  rm -f "$work/debian.tar"
fi

if ! exists "$GOLANG_IMAGE"; then
  [ -x "$GO_ROOT/bin/go" ] || { log "no Go at $GO_ROOT (set GO_ROOT)"; exit 1; }
  log "making $GOLANG_IMAGE (the Debian base + $("$GO_ROOT/bin/go" version | cut -d' ' -f3) from $GO_ROOT)"
  # What golang:bookworm has for cgo and modules: git, gcc, libc6-dev,
  # pkg-config, make, ca-certificates.
  # This machine's own CA certificates (/usr/local/share/ca-certificates,
  # e.g. a TLS-inspecting egress proxy's) are added as separate files in
  # /etc/ssl/certs, which Go reads besides the bundle, so that `go mod
  # download` in the builder reaches the module proxy as it does on the
  # host. The bundle itself (ca-certificates.crt, what the static image
  # copies) stays Debian's, and the runtime images are not affected.
  mmdebstrap --quiet --variant=minbase "${SLIM[@]}" \
    --include=ca-certificates,git,gcc,libc6-dev,pkg-config,make \
    --customize-hook="mkdir -p \"\$1\"/usr/local \"\$1\"/go/bin" \
    --customize-hook="copy-in $GO_ROOT /usr/local" \
    --customize-hook='for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] || continue; cp "$f" "$1/etc/ssl/certs/host-local-$(basename "$f" .crt).pem"; done' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$work/golang.tar" >&2
  podman import \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV GOLANG_VERSION=1.26' --change 'ENV GOPATH=/go' --change 'ENV GOTOOLCHAIN=local' \
    --change 'WORKDIR /go' --change 'CMD ["bash"]' \
    "$work/golang.tar" "$GOLANG_IMAGE" >/dev/null
  rm -f "$work/golang.tar"
fi

if ! exists "$MEDIAMTX_IMAGE"; then
  mtx=$(scripts/build-mediamtx.sh)
  log "making $MEDIAMTX_IMAGE ($mtx on the Debian base)"
  mkdir -p "$work/mtx"
  cp "$mtx" "$work/mtx/mediamtx"
  # The release archive's default configuration, as in the official image.
  src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json github.com/bluenviron/mediamtx@v1.15.3 2>/dev/null |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' || true)
  if [ -n "$src" ] && [ -f "$src/mediamtx.yml" ]; then
    cp "$src/mediamtx.yml" "$src/LICENSE" "$work/mtx/"
  else
    printf 'paths:\n  all_others:\n' > "$work/mtx/mediamtx.yml"
    : > "$work/mtx/LICENSE"
  fi
  cat > "$work/mtx/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY mediamtx mediamtx.yml LICENSE /
ENTRYPOINT ["/mediamtx"]
EOF
  podman build --network=host --pull=never -q -t "$MEDIAMTX_IMAGE" -f "$work/mtx/Containerfile" "$work/mtx" >/dev/null
fi

echo podman
