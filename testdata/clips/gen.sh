#!/usr/bin/env bash
# Regenerates the committed test clips (see README.md here).
set -euo pipefail
cd "$(dirname "$0")"
q="-hide_banner -loglevel error -y"
ffmpeg $q -f lavfi -i testsrc2=size=1280x720:rate=25 -t 4 -c:v libx264 -preset medium -profile:v main -pix_fmt yuv420p \
  -b:v 2M -maxrate 2.2M -bufsize 1M -x264-params keyint=50:min-keyint=50:scenecut=0:bframes=0:repeat-headers=1:aud=0 \
  -bsf:v h264_mp4toannexb -f h264 h264_1280x720_25.h264
ffmpeg $q -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -c:v libx264 -preset medium -profile:v baseline -pix_fmt yuv420p \
  -b:v 200k -maxrate 250k -bufsize 200k -x264-params keyint=25:min-keyint=25:scenecut=0:bframes=0:repeat-headers=1 \
  -f h264 h264_320x240_25.h264
ffmpeg $q -f lavfi -i testsrc2=size=640x360:rate=25 -t 2 -c:v libx265 -preset fast -pix_fmt yuv420p -b:v 300k \
  -x265-params keyint=25:min-keyint=25:scenecut=0:bframes=0:repeat-headers=1:log-level=error -f hevc h265_640x360_25.h265
ffmpeg $q -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=2" -c:a pcm_mulaw -f mulaw g711u_8000.ulaw
ffmpeg $q -f lavfi -i "sine=frequency=660:sample_rate=16000:duration=2" -c:a aac -b:a 32k -ac 1 -f adts aac_16000.aac
