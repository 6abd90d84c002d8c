#!/usr/bin/env bash
# Builds MediaMTX from its Go module (no prebuilt download is reachable here) and
# caches the binary outside the clone so that fresh clones and CI reuse it.
# Prints the binary's path on stdout; everything else goes to stderr.
set -euo pipefail

version="${MEDIAMTX_VERSION:-v1.15.3}"
hlsjs_version="1.6.13" # what MediaMTX v1.15.3's hlsjsdownloader/VERSION pins
cache="${CAMRELAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/camrelay}"
bin="$cache/mediamtx-$version"

if [ -x "$bin" ] && "$bin" --help >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-mediamtx: go is not on PATH" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

echo "build-mediamtx: fetching github.com/bluenviron/mediamtx@$version" >&2
src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/bluenviron/mediamtx@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] && [ -d "$src" ] || { echo "build-mediamtx: go mod download gave no source folder" >&2; exit 1; }

cp -r "$src" "$work/mediamtx"
chmod -R u+w "$work/mediamtx"
cd "$work/mediamtx"
echo "$version" > internal/core/VERSION

# hls.min.js is embedded; its go:generate step downloads from a host that is not
# reachable, so take it from the npm package when npm is there, else a stub
# (HLS playback in a browser then needs another player; nothing else changes).
hls=internal/servers/hls/hls.min.js
if command -v npm >/dev/null 2>&1 && (cd "$work" && npm pack --silent "hls.js@$hlsjs_version" >/dev/null 2>&1); then
  tar -xzf "$work"/hls.js-*.tgz -C "$work" package/dist/hls.min.js
  cp "$work/package/dist/hls.min.js" "$hls"
else
  echo "build-mediamtx: npm or hls.js@$hlsjs_version not available; embedding a placeholder hls.min.js" >&2
  echo '/* hls.js placeholder: npm was not available when this MediaMTX was built */' > "$hls"
fi

echo "build-mediamtx: go build (about 90 s on two cores)" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/mediamtx.bin" .
mv "$work/mediamtx.bin" "$bin"
echo "$bin"
