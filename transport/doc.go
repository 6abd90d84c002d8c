// Package transport moves media in and out of camrelay: the RTSP source (a
// gortsplib v4 client that pulls a camera), the RTSP publisher (ANNOUNCE and
// RECORD into MediaMTX over TCP), and the helpers they share (track
// descriptions, digest authentication with qop, URL redaction).
//
// transport never imports relay. A source writes packets through a
// PacketWriter and a sink pulls them through a PacketReader; relay's ring
// satisfies both, and relay wires them per camera. Each Run method handles one
// session and returns when it ends: retrying with backoff is the caller's job.
package transport
