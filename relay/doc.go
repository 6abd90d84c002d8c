// Package relay is camrelay's engine: one pipeline per camera (a source, an
// optional transcoder, a ring, one or more sinks), a supervisor that starts,
// stops and restarts them, backoff between attempts, and the status and
// counters of every camera. App runs the engine from a configuration file:
// it loads, watches and reloads it, applies the control API's camera edits,
// provisions MediaMTX paths and starts the JWT issuer.
//
// A pipeline's goroutines belong to it and end when it stops; a panic or an
// error in one camera is recovered, reported and retried with backoff, and
// never touches another camera. relay wires transport's sources and sinks
// through transport's registries and knows nothing of RTSP itself.
//
// Procs, which camrelay run starts, keeps the Go scheduler's processors to
// what the process's load needs: a copy relay's per-frame work is two
// system calls and a few microseconds of Go, and idle processors woken for
// every camera read cost more than the work.
package relay
