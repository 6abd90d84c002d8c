// Package camsim simulates IP cameras over RTSP and MJPEG-over-HTTP: the
// test and benchmark peer of camrelay. One Server listens on one loopback
// TCP port for RTSP (plus one shared UDP port pair) and one for HTTP, and
// serves any number of cameras by URL path. RTSP cameras loop an H.264 or
// H.265 clip (optionally with G.711 or AAC audio) at their frame rate, with every
// frame stamped by an SEI send-time message (codec.AppendH264StampSEI,
// codec.AppendH265StampSEI), or send MJPEG over RTP (RFC 2435). MJPEG
// pictures, over RTP or HTTP, carry their send time as a pixel barcode
// (codec.DrawBarcode) that survives transcoding. Readers downstream measure
// latency and loss with either stamp.
//
// camsim is a fixture: tests on any floor of the design may import it (the
// one exception to imports pointing down, checked by
// bench.TestImportsPointDown); production code never does.
//
// # Why not gortsplib.Server
//
// camsim has to behave like real, quirky cameras, and gortsplib's Server is
// built to be a correct one: its ServerStream rewrites the SSRC of every
// packet, refuses RTP packets over 1472 bytes (cameras send 10 KB packets
// over TCP), and gives no hook to answer a correct Authorization with a
// second 401 or to keep RTCP flowing while media stops. Benchmarks also run
// hundreds of cameras on two cores, which asks for one packetization per
// frame shared by all sessions and one write per frame per TCP session.
// So camsim speaks RTSP itself on top of gortsplib's protocol packages
// (pkg/conn, pkg/base, pkg/headers, pkg/description, pkg/format).
//
// # Behaviour worth knowing
//
//   - Each camera has one clock goroutine, owned by the Server, that paces
//     frames, audio packets and RTCP sender reports. It keeps running while
//     nobody watches, as a camera's encoder does; a new session starts at the
//     current frame (P-frames until the next IDR).
//   - Video RTP timestamp = random base + n*90000/FPS, n counting frames since
//     the camera (re)started, so timestamps keep increasing across clip loops.
//     If the process falls more than a second behind schedule (an overloaded
//     machine), the clock re-anchors instead of bursting the backlog: the RTP
//     timestamps stay regular, wall-clock time slips.
//   - A session lives as long as its RTSP connection: closing the connection
//     (or TEARDOWN) ends it. UDP sessions also end after 90 s without any
//     RTSP request (the Session header advertises timeout=60).
//   - Credentials are checked on every request but OPTIONS, which cameras
//     commonly answer without them and clients use as keepalive.
//   - Digest nonces belong to a connection: a nonce from another connection
//     gets a fresh 401 with stale=true.
//
// # MJPEG frames
//
// A camera's MJPEG pictures cycle through a few pre-encoded moving
// backgrounds (shared by every camera of a size); per frame only the MCU
// rows under the barcode are encoded, and the rest of the scan is spliced
// on bit-exactly (see jpegframes.go). A 720p frame costs about 0.35 ms, so
// benchmarks can run many MJPEG cameras beside the relay on two cores.
//
// # MJPEG over HTTP
//
// MJPEG cameras (AddMJPEGCamera) answer GET on their path with an endless
// multipart/x-mixed-replace stream, or a bare one, written as firmware
// writes it: HTTP/1.1 without chunked encoding, the connection closing at
// the end. Quirks switch on boundary styles, missing lengths, junk,
// corrupt and cut-short frames and size changes (MJPEGConfig).
package camsim
