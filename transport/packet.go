package transport

import "github.com/camrelay/camrelay/codec"

// PacketWriter is where a source puts what it receives (codec.PacketWriter:
// transcoders write into the same kind of place). One goroutine writes at a
// time.
type PacketWriter = codec.PacketWriter

// PacketReader is how a sink takes packets out of a camera's ring.
type PacketReader interface {
	// TryRead copies the next packet into p (whose Payload must have a
	// capacity of at least codec.MaxPayload) and reports whether there was one.
	TryRead(p *codec.Packet) bool
	// Ready receives after new packets were written.
	Ready() <-chan struct{}
	// Tracks returns the newest tracks the source announced, and their epoch.
	Tracks() (uint32, []codec.Track)
	// Resync skips to the newest keyframe (or the next one), so that a new
	// publish session starts with a decodable picture.
	Resync()
	// Dropped counts packets the reader lost because it fell behind.
	Dropped() uint64
}
