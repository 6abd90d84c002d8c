// Package transport moves media in and out of camrelay: the RTSP source
// (gortsplib v4's client for UDP and automatic transport; over TCP camrelay's
// own client, which parses interleaved frames in place so that relaying
// hundreds of cameras makes no garbage per packet), the MJPEG-over-HTTP
// source, the depacketizer that feeds a transcoder, the RTSP publisher
// (ANNOUNCE and RECORD into MediaMTX over TCP, batched per frame), the
// on-demand RTSP server MediaMTX pulls from, a reader probe, and the helpers
// they share (track descriptions, digest authentication with qop, URL
// redaction).
//
// transport never imports relay. A source writes packets through a
// PacketWriter and a sink pulls them through a PacketReader; relay's ring
// satisfies both, and relay wires them per camera. Each Run method handles one
// session and returns when it ends: retrying with backoff is the caller's job.
//
// On a plain TCP output the publisher also registers an inline drain with
// its reader (InlineReader): the source's goroutine, when it completes a
// frame, writes it to the output socket itself without blocking, and the
// publisher's goroutine takes over only what would block.
package transport
