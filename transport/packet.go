package transport

import "github.com/camrelay/camrelay/codec"

// PacketWriter is where a source puts what it receives. One goroutine writes
// at a time. WritePacket must not block and must not keep p or its payload.
type PacketWriter interface {
	// SetTracks starts a new source session described by tracks and returns
	// its epoch; packets written afterwards belong to it.
	SetTracks(tracks []codec.Track) uint32
	WritePacket(p *codec.Packet)
}

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
