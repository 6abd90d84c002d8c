#!/usr/bin/env bash
# make demo: simulated cameras relayed by camrelay into a real MediaMTX that
# refuses anonymous publishers. Prints the URLs to watch; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."

RTSP_PORT=${DEMO_RTSP_PORT:-8554}
WEBRTC_PORT=${DEMO_WEBRTC_PORT:-8889}
HLS_PORT=${DEMO_HLS_PORT:-8888}
API_PORT=${DEMO_API_PORT:-9997}
CAMSIM_PORT=${DEMO_CAMSIM_PORT:-8555}
CAMSIM_HD_PORT=${DEMO_CAMSIM_HD_PORT:-8556}
MJPEG_PORT=${DEMO_MJPEG_PORT:-8081}
SERVE_PORT=${DEMO_SERVE_PORT:-8557}

dir=.demo
mkdir -p "$dir"
mtx=$(scripts/build-mediamtx.sh)

for p in "$RTSP_PORT" "$WEBRTC_PORT" "$HLS_PORT" "$API_PORT" "$CAMSIM_PORT" "$CAMSIM_HD_PORT" "$MJPEG_PORT" "$SERVE_PORT" 9990 8000 8001 8189; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "demo: port $p on 127.0.0.1 is in use; stop what uses it or set DEMO_*_PORT (see scripts/demo.sh)" >&2
    exit 1
  fi
done

# Fresh secrets every run: they reach camrelay through the environment
# only, the way production configs keep passwords out of files.
secret() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16; }
export RELAY_PASS CAM_PASS SERVE_PASS
RELAY_PASS=$(secret)
CAM_PASS=$(secret)
SERVE_PASS=$(secret)

cat > "$dir/mediamtx.yml" <<YML
logLevel: info
logDestinations: [stdout]
authMethod: internal
authInternalUsers:
  # camrelay publishes; only from this machine, only with the password.
  - user: relay
    pass: ${RELAY_PASS}
    ips: ['127.0.0.1', '::1']
    permissions: [{action: publish}]
  # Viewers read anonymously.
  - user: any
    pass:
    permissions: [{action: read}, {action: playback}]
  - user: any
    pass:
    ips: ['127.0.0.1', '::1']
    permissions: [{action: api}, {action: metrics}]
api: yes
apiAddress: 127.0.0.1:${API_PORT}
rtsp: yes
rtspAddress: 127.0.0.1:${RTSP_PORT}
rtspTransports: [tcp, udp]
rtpAddress: 127.0.0.1:8000
rtcpAddress: 127.0.0.1:8001
rtmp: no
srt: no
hls: yes
hlsAddress: 127.0.0.1:${HLS_PORT}
webrtc: yes
webrtcAddress: 127.0.0.1:${WEBRTC_PORT}
webrtcLocalUDPAddress: 127.0.0.1:8189
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
paths:
  all_others:
YML

cat > "$dir/camrelay.yml" <<'YML'
# The demo's camrelay configuration: passwords come from the environment.
output: rtsp://relay:${RELAY_PASS}@127.0.0.1:RTSP_PORT/{path}
api: {listen: 127.0.0.1:9990}
ui: {whep_url: "http://{host}:8889/{path}/whep"}   # live previews on the status page
mediamtx: {api: http://127.0.0.1:API_PORT}
serve: {listen: 127.0.0.1:SERVE_PORT, user: mediamtx, pass: "${SERVE_PASS}"}
cameras:
  - name: lobby
    source: rtsp://admin:${CAM_PASS}@127.0.0.1:CAMSIM_PORT/lobby
    transport: tcp
  - name: garage
    source: rtsp://admin:${CAM_PASS}@127.0.0.1:CAMSIM_PORT/garage
    transport: udp
  - name: door
    source: rtsp://admin:${CAM_PASS}@127.0.0.1:CAMSIM_PORT/door
  - name: hall-hd
    source: rtsp://127.0.0.1:CAMSIM_HD_PORT/hall
    path: site1/hall
  # connected only while someone watches (MediaMTX pulls it from camrelay)
  - name: backyard
    source: rtsp://admin:${CAM_PASS}@127.0.0.1:CAMSIM_PORT/backyard
    on_demand: true
YML
if bin/camrelay version | grep -q "transcoding: libav"; then
  cat >> "$dir/camrelay.yml" <<'YML'
  # an MJPEG-over-HTTP camera, 640x480 at a variable rate, normalized to H.264 720p25 in-process
  - name: parking
    source: http://admin:${CAM_PASS}@127.0.0.1:MJPEG_PORT/parking
    video: {width: 1280, height: 720, fps: 25, bitrate: 2M}
YML
fi
sed -i "s/CAMSIM_HD_PORT/${CAMSIM_HD_PORT}/; s/CAMSIM_PORT/${CAMSIM_PORT}/g; s/RTSP_PORT/${RTSP_PORT}/; s/MJPEG_PORT/${MJPEG_PORT}/; s/SERVE_PORT/${SERVE_PORT}/; s/API_PORT/${API_PORT}/" "$dir/camrelay.yml"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping camrelay, the cameras and MediaMTX"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

"$mtx" "$dir/mediamtx.yml" > "$dir/mediamtx.log" 2>&1 & pids+=($!)
bin/camsim -listen "127.0.0.1:${CAMSIM_PORT}" -paths lobby,garage,door,backyard -user admin -pass "$CAM_PASS" -auth digest \
  -audio testdata/clips/g711u_8000.ulaw -audio-cams door \
  -mjpeg parking -mjpeg-listen "127.0.0.1:${MJPEG_PORT}" -variable-fps > "$dir/camsim.log" 2>&1 & pids+=($!)
bin/camsim -listen "127.0.0.1:${CAMSIM_HD_PORT}" -paths hall -clip testdata/clips/h264_1280x720_25.h264 \
  > "$dir/camsim-hd.log" 2>&1 & pids+=($!)
bin/camrelay check -c "$dir/camrelay.yml"
bin/camrelay run -c "$dir/camrelay.yml" > >(tee "$dir/camrelay.log") 2>&1 & pids+=($!)

paths=(lobby garage door site1/hall)
grep -q "name: parking" "$dir/camrelay.yml" && paths+=(parking)
for _ in $(seq 1 60); do
  ready=0
  for p in "${paths[@]}"; do
    curl -fsS "http://127.0.0.1:${API_PORT}/v3/paths/get/$p" 2>/dev/null | grep -q '"ready":true' && ready=$((ready+1))
  done
  [ "$ready" = "${#paths[@]}" ] && break
  sleep 0.5
done

cat <<MSG

================================================================
 camrelay demo: ${ready}/${#paths[@]} cameras relayed into MediaMTX
 (MediaMTX refuses anonymous publishers; camrelay publishes as 'relay')

 Watch in a browser (WebRTC, MediaMTX's page):
MSG
for p in "${paths[@]}"; do echo "   http://127.0.0.1:${WEBRTC_PORT}/$p"; done
echo " On demand (connected when you open it):  http://127.0.0.1:${WEBRTC_PORT}/backyard
 Or over HLS:  http://127.0.0.1:${HLS_PORT}/lobby"
echo " Or over RTSP (ffplay, VLC, mpv):"
for p in "${paths[@]}"; do echo "   rtsp://127.0.0.1:${RTSP_PORT}/$p"; done
cat <<MSG
 Status page:     http://127.0.0.1:9990/   (every camera, live, with its figures)
 camrelay API:    http://127.0.0.1:9990/v1/cameras   (status, metrics at /metrics)
 MediaMTX API:    http://127.0.0.1:${API_PORT}/v3/paths/list
 Logs:            $dir/{camrelay,mediamtx,camsim}.log
 Press Ctrl-C to stop everything.
================================================================

MSG
wait
