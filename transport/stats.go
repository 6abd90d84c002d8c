package transport

import "sync/atomic"

// SourceStats are a source's counters, updated on the packet path with
// atomics and read by status, metrics and tests at any time.
type SourceStats struct {
	Packets   atomic.Uint64 // RTP packets received
	Bytes     atomic.Uint64 // payload bytes received
	Frames    atomic.Uint64 // video frames received (RTP marker on a video track)
	Lost      atomic.Uint64 // packets the camera sent that never arrived (sequence gaps)
	Oversized atomic.Uint64 // packets too large to relay that could not be fragmented
	Split     atomic.Uint64 // packets fragmented because they exceeded codec.MaxPayload
	Corrupt   atomic.Uint64 // packets or frames that could not be decoded
	Last      atomic.Int64  // codec.Now() of the newest packet; 0 before the first
	Width     atomic.Int32  // picture size from the newest SPS or JPEG header
	Height    atomic.Int32
}

// SinkStats are a sink's counters.
type SinkStats struct {
	Packets  atomic.Uint64 // RTP packets written to the server
	Bytes    atomic.Uint64 // payload bytes written
	Frames   atomic.Uint64 // video frames written
	Dropped  atomic.Uint64 // packets lost: the source lapped the sink in the ring
	Skipped  atomic.Uint64 // packets passed over waiting for a keyframe (session start, camera reconnect): not a loss
	Sessions atomic.Uint64 // publish sessions opened (ANNOUNCE accepted)
	Rebases  atomic.Uint64 // timestamp/sequence rebases (camera reconnects and jumps)
	// Latency is the time from the last packet of a frame read off the
	// camera socket to that packet written to the server socket.
	Latency Histogram
}
