#!/usr/bin/env bash
# make image-test: the compose stack (deploy/compose) built from the real
# Dockerfile, run through docker-compose against podman's Docker-compatible
# API, with the demo profile's simulated cameras. Checks:
#   1. ffprobe sees every demo camera at MediaMTX, reading with a token
#      camrelay issued (POST /v1/token), and a reader without a token is
#      refused;
#   2. the camrelay container's health check turns healthy;
#   3. the camrelay process runs as a non-root user;
#   4. keys and state survive `docker-compose restart camrelay`: same JWKS
#      kid, same files in the volume, and a token minted before the restart
#      still lets a reader in after it.
# Everything listens on 127.0.0.1, on ports chosen to stay clear of
# `make demo` and MediaMTX's defaults (IMAGE_TEST_PORT_BASE, default 27000).
# Runs as root on a fresh Debian 12 machine: installs what it needs, makes
# the base images when they are missing (scripts/base-images.sh). Tears
# everything down at the end, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

T0=$(date +%s)
say() { echo "image-test: $*" >&2; }
failures=()
fail() { failures+=("$*"); say "FAIL: $*"; }
pass() { say "ok: $*"; }

# --- what it needs ---------------------------------------------------------
engine=$(scripts/base-images.sh)
need=()
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then say "missing: ${need[*]} (sudo apt-get install ${need[*]})"; exit 1; fi
  say "installing ${need[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# --- ports -----------------------------------------------------------------
base=${IMAGE_TEST_PORT_BASE:-27000}
API_PORT=$((base + 990))   # camrelay API (9990)
RTSP_PORT=$((base + 554))  # MediaMTX RTSP (8554)
MTXAPI_PORT=$((base + 997)) # MediaMTX API (9997)
HLS_PORT=$((base + 888))   # MediaMTX HLS (8888)
WEBRTC_PORT=$((base + 889)) # MediaMTX WebRTC (8889; off in this test)
WEBRTC_UDP_PORT=$((base + 189))
CAMSIM_PORT=$((base + 555)) # camsim (8555)
for p in "$API_PORT" "$RTSP_PORT" "$MTXAPI_PORT" "$HLS_PORT" "$CAMSIM_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    say "port $p on 127.0.0.1 is in use; set IMAGE_TEST_PORT_BASE to move all ports"
    echo "image-test: FAIL (port $p in use)"
    exit 1
  fi
done

# --- the stack's folder: deploy/compose as shipped, ports moved ---------------
work=$(mktemp -d /tmp/camrelay-image-test.XXXXXX)
project="camrelay-imagetest-$$"
sock="$work/podman.sock"
svc_pid=""
compose() { DOCKER_HOST="unix://$sock" COMPOSE_PROJECT_NAME="$project" docker-compose --project-directory "$work" -f "$work/compose.yaml" "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$svc_pid" ]; then
    if [ "${KEEP_LOGS:-}" != "" ] || [ ${#failures[@]} -gt 0 ]; then
      compose --profile demo logs --no-color --tail=40 >&2 2>/dev/null || true
    fi
    compose --profile demo down -v --remove-orphans >/dev/null 2>&1 || true
    kill "$svc_pid" 2>/dev/null || true
    wait "$svc_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp deploy/compose/compose.yaml "$work/"
sed -e "s/127\.0\.0\.1:9990/127.0.0.1:$API_PORT/g; s/127\.0\.0\.1:8554/127.0.0.1:$RTSP_PORT/g; s/127\.0\.0\.1:8555/127.0.0.1:$CAMSIM_PORT/g" \
  deploy/compose/camrelay.yml > "$work/camrelay.yml"
# WebRTC off: MediaMTX's WebRTC server joins multicast groups for each
# session, and this machine allows loopback traffic only (DESIGN.md,
# "Network hygiene"); RTSP and HLS are what the test reads.
sed -e "s/127\.0\.0\.1:9990/127.0.0.1:$API_PORT/g; s/127\.0\.0\.1:8554/127.0.0.1:$RTSP_PORT/g; s/127\.0\.0\.1:9997/127.0.0.1:$MTXAPI_PORT/g" \
    -e "s/127\.0\.0\.1:8888/127.0.0.1:$HLS_PORT/g; s/127\.0\.0\.1:8889/127.0.0.1:$WEBRTC_PORT/g; s/127\.0\.0\.1:8189/127.0.0.1:$WEBRTC_UDP_PORT/g" \
    -e 's/^webrtc: yes/webrtc: no/' \
  deploy/compose/mediamtx.yml > "$work/mediamtx.yml"
for f in camrelay.yml mediamtx.yml; do
  if grep -qE '127\.0\.0\.1:(9990|8554|8555|9997|8888|8889|8189)\b' "$work/$f"; then
    say "$f: a default port was left after moving the ports"; exit 1
  fi
done

# --- the image, from the real Dockerfile -------------------------------------
# podman writes OCI images by default, which drop the HEALTHCHECK; the
# Docker format keeps it (as Docker users get it).
export BUILDAH_FORMAT=docker
IMAGE=localhost/camrelay:image-test
[ "$engine" = docker ] && IMAGE=camrelay:image-test
say "building $IMAGE from the Dockerfile ($engine)"
tb=$(date +%s)
$engine build --network=host -q -t "$IMAGE" \
  --build-arg VERSION="image-test" ${GOPROXY:+--build-arg GOPROXY="$GOPROXY"} . >/dev/null
say "built in $(( $(date +%s) - tb ))s"
hc=$($engine image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null || true)
case "$hc" in
  *'"camrelay","healthcheck"'*) pass "the image's HEALTHCHECK: $hc" ;;
  *) fail "the image has no HEALTHCHECK running camrelay healthcheck: ${hc:-none}" ;;
esac
img_user=$($engine image inspect --format '{{.Config.User}}' "$IMAGE")
case "$img_user" in ""|0|0:*|root|root:*) fail "the image's user is \"$img_user\", want non-root" ;; *) pass "the image's user: $img_user" ;; esac

# --- secrets: a fresh .env, the way .env.example says -------------------------
secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }
VIEWER_PASS=$(secret)
CAMERA_PASS=$(secret)
HASH=$(printf %s "$VIEWER_PASS" | $engine run --rm -i --network=none $([ "$engine" = podman ] && echo --no-healthcheck) "$IMAGE" passwd)
case "$HASH" in argon2:*) ;; *) say "camrelay passwd gave no argon2 hash"; exit 1 ;; esac
cat > "$work/.env" <<EOF
CAMRELAY_VIEWER_HASH='$HASH'
DEMO_CAMERA_PASS='$CAMERA_PASS'
CAMRELAY_IMAGE=$IMAGE
CAMRELAY_API=127.0.0.1:$API_PORT
DEMO_CAMSIM_ADDR=127.0.0.1:$CAMSIM_PORT
EOF
chmod 600 "$work/.env"

# --- podman's Docker API -------------------------------------------------------
if [ "$engine" = podman ]; then
  podman system service --time=0 "unix://$sock" >"$work/podman-service.log" 2>&1 &
  svc_pid=$!
  for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { say "podman system service did not open $sock"; exit 1; }
else
  sock=/var/run/docker.sock
  svc_pid=none
fi

say "docker-compose --profile demo up -d (project $project)"
compose --profile demo up -d --no-build >&2

api="http://127.0.0.1:$API_PORT"
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 1
  done
}
wait_for 60 "camrelay API" curl -fsS "$api/healthz" || { fail "camrelay's API did not answer at $api/healthz within 60 s"; }

ctr() { # the container of a service
  local id
  id=$(compose ps -q "$1")
  echo "$id"
}
relay_ctr=$(ctr camrelay)

token() {
  curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"viewer\",\"password\":\"$VIEWER_PASS\"}" "$api/v1/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
probe() { # probe PATH [TOKEN]: codec,width,height of the video stream
  local url="rtsp://127.0.0.1:$RTSP_PORT/$1"
  # ffmpeg keeps only 127 bytes of a URL's password, so the token travels
  # as ?jwt= (MediaMTX: authJWTInHTTPQuery).
  [ -n "${2:-}" ] && url="$url?jwt=$2"
  timeout 15 ffprobe -v error -rtsp_transport tcp -select_streams v:0 \
    -show_entries stream=codec_name,width,height -of csv=p=0 "$url"
}
kid() { curl -fsS "$api/.well-known/jwks.json" | python3 -c 'import json,sys; print(",".join(sorted(k["kid"] for k in json.load(sys.stdin)["keys"])))'; }

# 1. Cameras at MediaMTX, read with camrelay's token; refused without.
TOKEN=$(token) || true
if [ -z "${TOKEN:-}" ]; then
  fail "POST /v1/token gave no token for the configured user"
else
  pass "POST /v1/token: a token of ${#TOKEN} bytes"
  for cam in lobby garage door; do
    if wait_for 60 "$cam" probe "$cam" "$TOKEN"; then
      pass "ffprobe with the token: $cam = $(probe "$cam" "$TOKEN" | head -1)"
    else
      fail "ffprobe did not see camera $cam at rtsp://127.0.0.1:$RTSP_PORT/$cam within 60 s"
    fi
  done
fi
if out=$(probe lobby 2>&1); then
  fail "a reader without a token was let in ($out)"
else
  case "$out" in
    *401*|*Unauthorized*) pass "a reader without a token is refused (${out//$'\n'/ })" ;;
    *) fail "a reader without a token failed, but not with 401: $out" ;;
  esac
fi
if out=$(probe lobby "not.a.token" 2>&1); then fail "a reader with a forged token was let in"; else pass "a reader with a forged token is refused"; fi

# 2. Health. podman schedules health checks with systemd timers; where
# there is no systemd (containers, CI runners) it runs them when asked, so
# drive the check here: `podman healthcheck run` runs the container's own
# check and records the result in its health status.
health() { $engine inspect --format '{{.State.Health.Status}}' "$relay_ctr" 2>/dev/null; }
deadline=$(( $(date +%s) + 60 ))
status=$(health)
while [ "$status" != healthy ] && [ "$(date +%s)" -lt "$deadline" ]; do
  if [ "$engine" = podman ] && [ ! -d /run/systemd/system ]; then
    podman healthcheck run "$relay_ctr" >/dev/null 2>&1 || true
  fi
  sleep 2
  status=$(health)
done
if [ "$status" = healthy ]; then
  pass "camrelay container health: healthy ($($engine inspect --format '{{json .Config.Healthcheck.Test}}' "$relay_ctr" 2>/dev/null || true))"
else
  fail "camrelay container health is \"$status\", not healthy, after 60 s"
fi

# 3. Non-root.
users=$($engine top "$relay_ctr" user huser args 2>/dev/null | tail -n +2 || true)
pid=$($engine inspect --format '{{.State.Pid}}' "$relay_ctr")
host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
if [ -n "$users" ] && ! awk '{print $1, $2}' <<<"$users" | grep -qwE 'root|0' && [ "$host_uid" != 0 ]; then
  pass "camrelay runs as a non-root user: $(head -1 <<<"$users" | awk '{print $1 " (host uid " $2 "): " $3, $4, $5, $6}'), /proc/$pid uid $host_uid"
else
  fail "camrelay's process user: ${users:-unknown}, host uid $host_uid"
fi

# 4. Keys and state survive a restart.
# A revoked token puts the deny list in the volume too.
TOKEN2=$(token || true)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN2:-none}" -H 'Content-Type: application/json' \
  -d "{\"token\":\"${TOKEN2:-none}\"}" "$api/v1/token/revoke" || true)
case "$code" in 2??) pass "POST /v1/token/revoke: $code (the deny list is written to the volume)" ;; *) fail "POST /v1/token/revoke answered $code" ;; esac
vol_files() { $engine exec "$relay_ctr" sh -c 'cd /var/lib/camrelay && find . -type f | sort | xargs -r sha256sum' 2>/dev/null; }
kid_before=$(kid || true)
files_before=$(vol_files || true)
say "docker-compose restart camrelay"
compose restart camrelay >&2
relay_ctr=$(ctr camrelay)
wait_for 60 "camrelay API after restart" curl -fsS "$api/healthz" || fail "camrelay's API did not come back within 60 s of the restart"
kid_after=$(kid || true)
files_after=$(vol_files || true)
if [ -n "$kid_before" ] && [ "$kid_before" = "$kid_after" ]; then
  pass "same JWKS kid after the restart ($kid_after)"
else
  fail "JWKS kid changed across the restart: \"$kid_before\" -> \"$kid_after\""
fi
if [ -n "$files_before" ] && [ "$files_before" = "$files_after" ]; then
  pass "the volume's files are unchanged across the restart: $(awk '{print $2}' <<<"$files_after" | tr '\n' ' ')"
else
  fail "the volume's files changed across the restart: before [$files_before] after [$files_after]"
fi
if [ -n "${TOKEN:-}" ] && wait_for 60 "lobby after restart" probe lobby "$TOKEN"; then
  pass "the token minted before the restart still reads lobby after it"
else
  fail "no read of lobby with the pre-restart token after the restart"
fi

# --- summary -----------------------------------------------------------------
took=$(( $(date +%s) - T0 ))
if [ ${#failures[@]} -eq 0 ]; then
  echo "image-test: PASS (cameras relayed and read with a camrelay token, unauthenticated reader refused, healthy, non-root, keys and state kept across a restart; ${took}s)"
else
  echo "image-test: FAIL (${#failures[@]} check(s) failed, ${took}s):"
  for f in "${failures[@]}"; do echo "  - $f"; done
  exit 1
fi
