// Package relay is camrelay's engine: one pipeline per camera (a source, a
// ring, one or more sinks), a supervisor that starts, stops and restarts them,
// backoff between attempts, and the status and counters of every camera.
//
// A pipeline's goroutines belong to it and end when it stops; a panic or an
// error in one camera is recovered, reported and retried with backoff, and
// never touches another camera. relay wires transport's sources and sinks by
// URL scheme and knows nothing of RTSP itself.
package relay
