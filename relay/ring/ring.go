// Package ring is the packet ring between a camera's source and its sinks: one
// writer that never blocks, any number of readers, no locks and no allocation
// per packet.
//
// Packets are stored back to back in a byte arena (a record is a 32-byte
// header and the payload, 8-byte aligned), so a ring of small audio packets
// and one of 1400-byte video packets use the same memory well. Readers read
// optimistically, seqlock style: they copy a record, then check that the
// writer has not started to overwrite it. A reader that the writer laps skips
// forward to a sync point (a keyframe): the newest one still in the ring, or
// else the next one written; it counts the packets it missed.
//
// The arena starts small (InitialSize) and doubles, up to the size asked
// for, when a reader falls more than half of it behind (or is lapped): a
// camera whose sink keeps up holds a small ring, one whose sink stalls gets
// the full one before it loses anything. Positions are absolute byte
// offsets, so growing copies the live window to the same positions in the
// new arena; wrap markers carry their own skip, so records laid out in the
// old arena read the same from the new one. Readers load the arena once per
// read and check against its size; one that read the old arena while the
// writer grew retries with the new one.
//
// Memory ordering: the writer publishes "reserve" (how far it may be writing)
// before touching bytes and "commit" (how far records are complete) after.
// A reader loads commit before reading and reserve after; a full barrier
// between its byte loads and the reserve load keeps weakly ordered CPUs
// (arm64 edge boxes) from satisfying the bytes after the check.
package ring

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/camrelay/camrelay/codec"
)

const (
	hdrLen     = 32
	wrapMarker = 0xffff
	// MinSize is the smallest arena: it must hold a few full-size packets.
	MinSize = 16 << 10
	// InitialSize is where an arena starts (when the ring may grow that
	// far): about three frames of a 2 Mbit/s camera, more than a sink that
	// keeps up ever lags.
	InitialSize = 32 << 10
	// DefaultSize holds about half a second of a 2 Mbit/s camera.
	DefaultSize = 128 << 10
)

// tracks is what the source announced for one session (epoch).
type tracks struct {
	Epoch  uint32
	Tracks []codec.Track
	next   chan struct{} // closed when a newer session replaces this one
}

// Ring is a single-writer, multi-reader packet ring. Its zero value is not
// usable; call New.
type Ring struct {
	// shared is the arena as readers see it; arena, size and mask are the
	// writer's copy of it.
	shared atomic.Pointer[arena]
	arena  []byte
	size   uint64
	mask   uint64
	max    uint64 // the arena grows up to this size
	// grows counts arena growths; wantGrow is set by a lapped reader.
	grows    atomic.Uint32
	wantGrow atomic.Bool

	// written by the writer, read by readers
	reserve  atomic.Uint64 // end of the bytes the writer may be writing
	commit   atomic.Uint64 // end of the complete records
	lastSync atomic.Uint64 // 1 + position of the newest FlagSync record; 0 = none
	tracks   atomic.Pointer[tracks]
	packets  atomic.Uint64 // records written
	tooBig   atomic.Uint64 // packets refused for a payload over codec.MaxPayload

	// writer-private
	wpos      uint64
	epoch     uint32
	index     uint32
	unwoken   int
	lastTS    uint32
	lastTrack uint8
	// unit[t] is set for tracks whose every packet is a unit of its own
	// (not video: audio, metadata): readers are woken after each.
	unit [maxTracks]bool

	mu      sync.Mutex // serializes reader registration, never taken per packet
	readers atomic.Pointer[[]*Reader]
}

// arena is one generation of the ring's memory.
type arena struct {
	buf  []byte
	size uint64
	mask uint64
	// from is the oldest position the arena ever held: a grown arena holds
	// only what its predecessor held, not all that its size would span.
	from uint64
}

// oldest is the oldest position a holds when the writer is at commit.
func (a *arena) oldest(commit uint64) uint64 {
	if commit > a.size {
		return max(a.from, commit-a.size)
	}
	return a.from
}

// New returns a ring whose arena may grow to size bytes (rounded up to a
// power of two, at least MinSize); it starts at InitialSize or size when
// that is smaller.
func New(size int) *Ring { return NewSized(size, InitialSize) }

// NewSized is New with the arena starting at start bytes (rounded up to a
// power of two, at least MinSize, at most size).
func NewSized(size, start int) *Ring {
	s := uint64(MinSize)
	for s < uint64(size) {
		s <<= 1
	}
	st := uint64(MinSize)
	for st < uint64(start) && st < s {
		st <<= 1
	}
	start = int(min(st, s))
	r := &Ring{max: s}
	r.setArena(&arena{buf: make([]byte, start), size: uint64(start), mask: uint64(start) - 1})
	r.tracks.Store(&tracks{next: make(chan struct{})})
	r.readers.Store(&[]*Reader{})
	return r
}

func (r *Ring) setArena(a *arena) {
	r.arena, r.size, r.mask = a.buf, a.size, a.mask
	r.shared.Store(a)
}

// Size is the arena's size in bytes now; MaxSize what it may grow to.
func (r *Ring) Size() int    { return int(r.shared.Load().size) }
func (r *Ring) MaxSize() int { return int(r.max) }

// Grows is how many times the arena grew.
func (r *Ring) Grows() int { return int(r.grows.Load()) }

// maybeGrow doubles the arena when a reader has fallen more than half of
// it behind or was lapped. Writer side, when it wakes readers.
func (r *Ring) maybeGrow(readers []*Reader) {
	if r.size >= r.max {
		return
	}
	need := r.wantGrow.Load() && r.wantGrow.Swap(false)
	for _, rd := range readers {
		// Half the arena behind, or so far that the packets written before
		// the next wake-up (wakeBatch at most) could lap it.
		if at := rd.at.Load(); at != 0 {
			if lag := r.wpos - (at - 1); lag > r.size/2 || lag+growMargin > r.size {
				need = true
			}
		}
	}
	if !need {
		return
	}
	old := r.shared.Load()
	// The live window, positions [wpos-size, wpos) (or from the oldest
	// position the old arena holds, when it grew less than its size ago),
	// to the same positions.
	p := old.oldest(r.wpos)
	n := &arena{buf: make([]byte, 2*old.size), size: 2 * old.size, mask: 2*old.size - 1, from: p}
	for p < r.wpos {
		so, no := p&old.mask, p&n.mask
		l := min(old.size-so, n.size-no, r.wpos-p)
		copy(n.buf[no:no+l], old.buf[so:so+l])
		p += l
	}
	r.setArena(n)
	r.grows.Add(1)
}

// SetTracks starts a new source session: packets written from now on belong
// to the returned epoch and are described by tracks. Writer side only.
func (r *Ring) SetTracks(t []codec.Track) uint32 {
	r.epoch++
	for i := range r.unit {
		r.unit[i] = i < len(t) && t[i].Kind != codec.KindVideo
	}
	old := r.tracks.Swap(&tracks{Epoch: r.epoch, Tracks: t, next: make(chan struct{})})
	close(old.next)
	r.wake()
	return r.epoch
}

// Tracks returns the newest announced tracks and their epoch.
func (r *Ring) Tracks() (uint32, []codec.Track) {
	t := r.tracks.Load()
	return t.Epoch, t.Tracks
}

// Session is Tracks with a channel that is closed when a newer session
// replaces this one: how a waiter for a source session sleeps.
func (r *Ring) Session() (epoch uint32, t []codec.Track, changed <-chan struct{}) {
	s := r.tracks.Load()
	return s.Epoch, s.Tracks, s.next
}

// Packets is the number of packets written.
func (r *Ring) Packets() uint64 { return r.packets.Load() }

// TooBig is the number of packets refused because their payload exceeded
// codec.MaxPayload (sources fragment what they can before writing).
func (r *Ring) TooBig() uint64 { return r.tooBig.Load() }

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// WritePacket appends p to the ring. It never blocks and never allocates;
// p.Epoch is replaced by the current epoch. Writer side only: one goroutine
// at a time.
func (r *Ring) WritePacket(p *codec.Packet) {
	plen := len(p.Payload)
	if plen > codec.MaxPayload {
		r.tooBig.Add(1)
		return
	}
	// Wake readers when a frame is complete: at its marker, or, for
	// cameras that never set the marker, when the next access unit (a new
	// timestamp or track) begins, before that packet is written, so a
	// reader gets the finished frame and not the first packet of the next
	// one; after a keyframe's first packet (readers waiting for one); after
	// a packet of a track whose packets are units of their own (audio);
	// or when enough packets wait. Not for every packet of a frame: a sink
	// wakes (and writes) about once per frame instead of once per packet.
	if r.unwoken > 0 && (p.Timestamp != r.lastTS || p.Track != r.lastTrack) {
		r.unwoken = 0
		r.wake()
	}
	sz := align8(uint64(hdrLen + plen))
	pos := r.wpos
	off := pos & r.mask
	if off+sz > r.size {
		// Not enough room before the end: leave a marker and start over at
		// the beginning of the arena. Offsets are 8-aligned, so at least the
		// 2-byte marker always fits.
		skip := r.size - off
		pos += skip
		r.reserve.Store(pos)
		var m [8]byte
		binary.LittleEndian.PutUint16(m[:], wrapMarker)
		binary.LittleEndian.PutUint32(m[4:], uint32(skip))
		copyIn(r.arena[off:off+8], m[:])
		off = 0
	}
	r.reserve.Store(pos + sz)

	var h [hdrLen]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(plen))
	h[2] = p.Track
	h[3] = byte(p.Flags)
	h[4] = p.PayloadType
	binary.LittleEndian.PutUint16(h[6:], p.SequenceNumber)
	binary.LittleEndian.PutUint32(h[8:], p.Timestamp)
	binary.LittleEndian.PutUint32(h[12:], r.epoch)
	binary.LittleEndian.PutUint64(h[16:], uint64(p.Received))
	binary.LittleEndian.PutUint32(h[24:], r.index)
	rec := r.arena[off : off+sz]
	copyIn(rec[:hdrLen], h[:])
	copyIn(rec[hdrLen:hdrLen+plen], p.Payload)

	r.wpos = pos + sz
	r.index++
	r.commit.Store(r.wpos)
	if p.Flags&codec.FlagSync != 0 {
		r.lastSync.Store(pos + 1)
	}
	r.packets.Add(1)
	r.unwoken++
	r.lastTS, r.lastTrack = p.Timestamp, p.Track
	if p.Flags&(codec.FlagMarker|codec.FlagSync) != 0 || r.unwoken >= wakeBatch || r.unit[p.Track&(maxTracks-1)] {
		r.unwoken = 0
		r.wake()
	}
}

// wakeBatch bounds how many packets a reader may not be told about.
const wakeBatch = 16

// growMargin is the most the writer can write between two wake-ups, when it
// next considers growing the arena.
const growMargin = wakeBatch * (hdrLen + codec.MaxPayload + 8)

// maxTracks bounds the tracks a ring tells apart for waking (a power of
// two: track numbers are masked).
const maxTracks = 16

// wake nudges every reader that may be waiting. Non-blocking: a reader
// with an inline drain (SetInline) whose lock is free is drained here, on
// the writer's goroutine; the others, and an inline drain that left work,
// get a signal on Ready.
func (r *Ring) wake() {
	readers := *r.readers.Load()
	for _, rd := range readers {
		if f := rd.inline.Load(); f != nil && rd.mu.TryLock() {
			if rd.runInline(*f) {
				continue
			}
		}
		select {
		case rd.ready <- struct{}{}:
		default:
		}
	}
	r.maybeGrow(readers) // after the drains: a reader that caught up has no lag
}

// runInline runs an inline drain with the reader's lock held (TryLock
// took it) and releases the lock even if the drain panics.
func (rd *Reader) runInline(f func() bool) bool {
	defer rd.mu.Unlock()
	return f()
}

// StartAt says where a new reader begins.
type StartAt int

const (
	// NextSync waits for the next sync point written after the reader is
	// created: live, with no backlog.
	NextSync StartAt = iota
	// LatestSync starts at the newest sync point still in the ring, so a new
	// sink gets a picture at once, then catches up to live.
	LatestSync
)

// Reader reads packets from a ring. One goroutine uses a Reader; Close it
// when done so the writer stops waking it.
type Reader struct {
	r          *Ring
	pos        uint64
	resync     bool
	resyncFrom uint64
	// syncEpoch, after Resync, is the source session the reader resumes
	// in: sync points of older sessions do not count. 0 once it resumed.
	syncEpoch uint32
	nextIndex uint32
	started   bool
	ready     chan struct{}
	// mu serializes the reader's owner with the writer running its inline
	// drain; inline is that drain (SetInline), nil when none.
	mu      sync.Mutex
	inline  atomic.Pointer[func() bool]
	dropped atomic.Uint64
	// at is 1 + the position up to which the reader had read when it last
	// caught up, 0 while it waits for a sync point: how far behind it is,
	// for the writer's decision to grow the arena.
	at    atomic.Uint64
	laps  atomic.Uint64
	fence atomic.Uint32
}

// NewReader registers a reader that starts as start says.
func (r *Ring) NewReader(start StartAt) *Reader {
	rd := &Reader{r: r, ready: make(chan struct{}, 1), resync: true}
	rd.resyncFrom = r.commit.Load()
	if start == LatestSync {
		if s, a := r.lastSync.Load(), r.shared.Load(); s != 0 && r.reserve.Load() <= s-1+a.size && s-1 >= a.from {
			rd.resyncFrom = s - 1
		}
	}
	r.mu.Lock()
	old := *r.readers.Load()
	next := make([]*Reader, len(old), len(old)+1)
	copy(next, old)
	next = append(next, rd)
	r.readers.Store(&next)
	r.mu.Unlock()
	return rd
}

// Close unregisters the reader.
func (rd *Reader) Close() {
	r := rd.r
	r.mu.Lock()
	old := *r.readers.Load()
	next := make([]*Reader, 0, len(old))
	for _, x := range old {
		if x != rd {
			next = append(next, x)
		}
	}
	r.readers.Store(&next)
	r.mu.Unlock()
}

// SetInline lets the writer drain this reader itself, on the writer's
// goroutine, instead of waking the reader's goroutine: when it would wake
// the reader (a frame is complete) and the reader's lock is free, it takes
// the lock and calls f. f reads what it can (TryRead, TryReadAppend) and
// passes it on without blocking; it returns false to have the reader's
// goroutine woken as well (work it could not finish without blocking). A
// reader whose only consumer is one sink saves a goroutine hand-off per
// frame this way; the ring still takes bursts the sink cannot write at
// once. nil turns it off; a drain already running may still finish, and
// f must therefore check under the lock that its consumer is still there.
// The reader's own goroutine holds the lock (Lock, Unlock) while it reads
// or touches what f touches.
func (rd *Reader) SetInline(f func() bool) {
	if f == nil {
		rd.inline.Store(nil)
		return
	}
	rd.inline.Store(&f)
}

// Lock takes the reader's lock, which the writer's inline drain holds
// while it runs.
func (rd *Reader) Lock() { rd.mu.Lock() }

// Unlock releases the reader's lock.
func (rd *Reader) Unlock() { rd.mu.Unlock() }

// Ready receives after the writer has written since the reader last drained
// the ring. Use it to sleep between TryRead calls that returned false.
func (rd *Reader) Ready() <-chan struct{} { return rd.ready }

// Tracks returns the newest announced tracks and their epoch.
func (rd *Reader) Tracks() (uint32, []codec.Track) { return rd.r.Tracks() }

// Dropped is the number of packets this reader missed because the writer
// lapped it (it then resumed at the next sync point).
func (rd *Reader) Dropped() uint64 { return rd.dropped.Load() }

// Laps is the number of times the writer lapped this reader.
func (rd *Reader) Laps() uint64 { return rd.laps.Load() }

// Resync makes the reader skip to the newest sync point of the current
// source session still in the ring (or the next one written), as if lapped
// but without counting drops. Sinks call it after (re)connecting, so a new
// session starts with a keyframe and a picture at once.
//
// A keyframe of an older session does not count: when the camera has begun
// a new session (SetTracks) and sent no keyframe yet, the reader waits for
// one (TryRead reports false until it is written) instead of getting the
// old session's back, which a sink would refuse, resync, and find again at
// once: a busy loop.
func (rd *Reader) Resync() {
	rd.started = false
	rd.syncEpoch = rd.r.tracks.Load().Epoch
	rd.resync = true
	rd.at.Store(0)
	rd.resyncFrom = rd.r.shared.Load().oldest(rd.r.commit.Load())
}

// TryRead copies the next packet into p and reports true, or reports false
// when there is none yet. p.Payload's capacity must be at least
// codec.MaxPayload; TryRead reslices it.
func (rd *Reader) TryRead(p *codec.Packet) bool {
	if cap(p.Payload) < codec.MaxPayload {
		panic(fmt.Sprintf("ring: TryRead needs a payload buffer of %d bytes", codec.MaxPayload))
	}
	return rd.readInto(p.Payload[:0], p)
}

// TryReadAppend is TryRead that appends the payload to dst instead of
// copying it into p's buffer: a sink reads the ring straight into its output
// buffer. p.Payload is set to the appended bytes. dst must have room for
// codec.MaxPayload bytes beyond its length. It returns dst unchanged and
// false when there is no packet.
func (rd *Reader) TryReadAppend(dst []byte, p *codec.Packet) ([]byte, bool) {
	if cap(dst)-len(dst) < codec.MaxPayload {
		panic(fmt.Sprintf("ring: TryReadAppend needs room for %d bytes", codec.MaxPayload))
	}
	if !rd.readInto(dst, p) {
		return dst, false
	}
	return dst[:len(dst)+len(p.Payload)], true
}

// readInto reads the next packet, its payload copied to the bytes after
// dst's length (room for codec.MaxPayload).
func (rd *Reader) readInto(dst []byte, p *codec.Packet) bool {
	r := rd.r
	for {
		a := r.shared.Load()
		c := r.commit.Load()
		if rd.resync {
			s := r.lastSync.Load()
			if s == 0 || s-1 < rd.resyncFrom {
				return false
			}
			rd.pos = s - 1
			rd.resync = false
			// Tracked from here: a sink that stops after its first packet
			// (to connect) makes the arena grow, not lose its keyframe.
			rd.at.Store(rd.pos + 1)
		}
		if rd.pos >= c {
			rd.at.Store(rd.pos + 1) // caught up: where the writer may measure from
			return false
		}
		if c-rd.pos > a.size || rd.pos < a.from {
			if rd.grown(a) {
				continue
			}
			rd.lapped(c, a)
			continue
		}
		off := rd.pos & a.mask
		var h [hdrLen]byte
		if off+hdrLen <= a.size {
			copyOut(h[:], a.buf[off:off+hdrLen])
		} else {
			copyOut(h[:8], a.buf[off:off+8])
		}
		plen := uint64(binary.LittleEndian.Uint16(h[0:]))
		if plen == wrapMarker {
			skip := uint64(binary.LittleEndian.Uint32(h[4:]))
			if !rd.valid(a) || skip == 0 || skip > a.size-off || skip%8 != 0 {
				if !rd.grown(a) {
					rd.lapped(c, a)
				}
				continue
			}
			rd.pos += skip
			continue
		}
		sz := align8(hdrLen + plen)
		if plen > codec.MaxPayload || off+sz > a.size {
			if !rd.grown(a) {
				rd.lapped(c, a) // garbage: the record was overwritten under us
			}
			continue
		}
		payload := dst[len(dst) : len(dst)+int(plen)]
		copyOut(payload, a.buf[off+hdrLen:off+hdrLen+plen])
		if !rd.valid(a) {
			if !rd.grown(a) {
				rd.lapped(c, a)
			}
			continue
		}
		p.Payload = payload
		p.Track = h[2]
		p.Flags = codec.Flags(h[3])
		p.PayloadType = h[4]
		p.SequenceNumber = binary.LittleEndian.Uint16(h[6:])
		p.Timestamp = binary.LittleEndian.Uint32(h[8:])
		p.Epoch = binary.LittleEndian.Uint32(h[12:])
		if p.Epoch < rd.syncEpoch {
			// A sync point of a session older than the one Resync
			// asked for: wait for the next sync point instead.
			rd.resync = true
			rd.resyncFrom = rd.pos + 1
			return false
		}
		rd.syncEpoch = 0
		p.Received = int64(binary.LittleEndian.Uint64(h[16:]))
		idx := binary.LittleEndian.Uint32(h[24:])
		if rd.started && idx != rd.nextIndex {
			rd.dropped.Add(uint64(idx - rd.nextIndex))
		}
		rd.started = true
		rd.nextIndex = idx + 1
		rd.pos += sz
		return true
	}
}

// valid reports whether the record at rd.pos was still intact in arena a
// after the reader copied it.
func (rd *Reader) valid(a *arena) bool {
	// A locked read-modify-write on a reader-private word is a full barrier:
	// the copies above complete before reserve is loaded below.
	rd.fence.Add(1)
	// A record written after the writer replaced a exists only in the new
	// arena: a's bytes at its position are older ones that the position
	// check alone would pass. The writer publishes a new arena before it
	// writes (and commits) anything into it, so a reader that saw a record
	// committed sees the arena it is in.
	return rd.r.reserve.Load() <= rd.pos+a.size && rd.r.shared.Load() == a
}

// grown reports whether the writer replaced arena a with a larger one
// while the reader used it: the read is retried in the new arena, which
// holds what a did.
func (rd *Reader) grown(a *arena) bool { return rd.r.shared.Load() != a }

// lapped handles the writer overtaking the reader: skip to the newest sync
// point that is still in the ring, or wait for the next one, and ask the
// writer for a larger arena. The packets skipped are counted when reading
// resumes.
func (rd *Reader) lapped(commit uint64, a *arena) {
	rd.laps.Add(1)
	if rd.at.Swap(0) != 0 {
		// It was reading (not waiting for a sync point): a larger arena
		// would have kept what it lost.
		rd.r.wantGrow.Store(true)
	}
	rd.resync = true
	rd.resyncFrom = a.oldest(commit)
}
