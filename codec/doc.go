// Package codec is the bottom floor of camrelay: the packet and track types
// that move through a pipeline, and bitstream helpers for H.264, H.265 and
// MJPEG (keyframe detection, re-fragmentation of oversized RTP packets, the
// SEI send-time stamp that camsim writes and readers measure latency with).
//
// codec imports nothing of camrelay and no RTSP library: sources, the ring,
// transcoders and sinks all speak in these types, so each can be tested alone.
package codec
