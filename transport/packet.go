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
	// TryReadAppend is TryRead with the payload appended to dst (which has
	// room for codec.MaxPayload more bytes) and p.Payload set to it.
	TryReadAppend(dst []byte, p *codec.Packet) ([]byte, bool)
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

// InlineReader is a PacketReader whose writer can drain it on the writer's
// own goroutine (relay/ring.Reader): SetInline registers the drain, which
// runs with the reader's lock held; the reader's goroutine takes the lock
// (Lock, Unlock) whenever it touches what the drain touches. A publisher on
// a plain TCP connection writes each frame as the source finishes it this
// way, without a goroutine hand-off.
type InlineReader interface {
	PacketReader
	SetInline(f func() bool)
	Lock()
	Unlock()
}
