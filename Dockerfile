# syntax=docker/dockerfile:1
#
# camrelay container images.
#
#   docker build -t camrelay .                  camrelay with libav (transcoding), on debian:bookworm-slim
#   docker build --target static -t camrelay:static .
#                                               the pure-Go build (copy, direct, on-demand cameras; no
#                                               transcoding) on an empty base with CA certificates and tzdata
#
# `make image` builds both (with podman where Docker's daemon is not there;
# see "Deploy" in README.md). Build arguments: VERSION (what `camrelay
# version` prints and the version label), REVISION (the source commit),
# GOPROXY (where Go modules come from).

############################################################################
# Builder: Go plus Debian's FFmpeg 5.1 development packages (go-astiav
# v0.16.0 is built for FFmpeg 5.1, which is what Debian 12 ships).
FROM golang:1.26-bookworm AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      libavfilter-dev libavdevice-dev libswresample-dev ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
# The run-time user, its home (the volume) and the default configuration
# folder, prepared here so that the static image (no shell) gets them too.
RUN mkdir -p /out/rootfs/etc /out/rootfs/var/lib/camrelay \
 && printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ncamrelay:x:10001:10001:camrelay:/var/lib/camrelay:/usr/sbin/nologin\n' > /out/rootfs/etc/passwd \
 && printf 'root:x:0:\ncamrelay:x:10001:\n' > /out/rootfs/etc/group
ARG GOPROXY=https://proxy.golang.org,direct
ENV GOPROXY=${GOPROXY} GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,id=camrelay-gomod,target=/go/pkg/mod \
    go mod download
COPY . .

FROM builder AS build-libav
ARG VERSION=dev
RUN --mount=type=cache,id=camrelay-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=camrelay-gobuild,target=/root/.cache/go-build \
    go build -trimpath -tags libav -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/bin/ ./cmd/camrelay ./cmd/camsim \
 && /out/bin/camrelay version

FROM builder AS build-static
ARG VERSION=dev
RUN --mount=type=cache,id=camrelay-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=camrelay-gobuild,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/bin/ ./cmd/camrelay ./cmd/camsim \
 && /out/bin/camrelay version

############################################################################
# static: the pure-Go build for copy-only deployments: CA certificates,
# time zones, the two binaries, nothing else (no shell, no libc).
FROM scratch AS static
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="camrelay (static, no transcoding)" \
      org.opencontainers.image.description="Relays IP cameras (RTSP, MJPEG over HTTP) into MediaMTX with authentication; pure-Go build without libav" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/camrelay/camrelay" \
      org.opencontainers.image.url="https://github.com/camrelay/camrelay" \
      org.opencontainers.image.documentation="https://github.com/camrelay/camrelay#deploy" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=builder /out/rootfs/etc/passwd /out/rootfs/etc/group /etc/
COPY --from=builder --chown=10001:10001 /out/rootfs/var/lib/camrelay /var/lib/camrelay
COPY deploy/camrelay.yml /etc/camrelay/camrelay.yml
# camsim's clips, for the compose file's demo profile.
COPY testdata/clips/h264_320x240_25.h264 testdata/clips/g711u_8000.ulaw /usr/share/camrelay/clips/
COPY --from=build-static /out/bin/camrelay /out/bin/camsim /usr/local/bin/
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 10001:10001
WORKDIR /var/lib/camrelay
VOLUME ["/var/lib/camrelay"]
# API (health, JWKS, tokens, metrics) and the on-demand RTSP server.
EXPOSE 9990/tcp 8556/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["camrelay", "healthcheck"]
ENTRYPOINT ["camrelay"]
CMD ["run", "-c", "/etc/camrelay/camrelay.yml"]

############################################################################
# The default image: camrelay with libav on Debian 12, with the FFmpeg
# runtime libraries it links (objdump -p: libavcodec.so.59,
# libavformat.so.59, libavutil.so.57, libswscale.so.6, libavfilter.so.8,
# libavdevice.so.59) and what they need, nothing else.
FROM debian:bookworm-slim AS libav
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libavcodec59 libavformat59 libavutil57 libswscale6 libavfilter8 libavdevice59 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 camrelay \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/camrelay --no-create-home \
      --shell /usr/sbin/nologin camrelay \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/camrelay \
 && install -d -m 0755 /etc/camrelay
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="camrelay" \
      org.opencontainers.image.description="Relays IP cameras (RTSP, MJPEG over HTTP) into MediaMTX with authentication; transcodes in-process through libav" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/camrelay/camrelay" \
      org.opencontainers.image.url="https://github.com/camrelay/camrelay" \
      org.opencontainers.image.documentation="https://github.com/camrelay/camrelay#deploy" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
COPY deploy/camrelay.yml /etc/camrelay/camrelay.yml
# camsim's clips, for the compose file's demo profile.
COPY testdata/clips/h264_320x240_25.h264 testdata/clips/g711u_8000.ulaw /usr/share/camrelay/clips/
COPY --from=build-libav /out/bin/camrelay /out/bin/camsim /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/camrelay
VOLUME ["/var/lib/camrelay"]
EXPOSE 9990/tcp 8556/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["camrelay", "healthcheck"]
ENTRYPOINT ["camrelay"]
CMD ["run", "-c", "/etc/camrelay/camrelay.yml"]
