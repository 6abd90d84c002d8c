package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"github.com/camrelay/camrelay/codec"
)

// ErrTracksChanged ends a publish session because the source came back with
// different tracks: the caller publishes again at once, with a new ANNOUNCE.
var ErrTracksChanged = errors.New("source tracks changed: re-announcing")

// ErrIdle ends a publish session that received no packets for the publish
// timeout: the camera is gone for longer than viewers should wait.
var ErrIdle = errors.New("no packets from the source within the publish timeout")

// RTSPPublisher publishes one camera into an RTSP server (MediaMTX) with
// ANNOUNCE and RECORD over TCP.
//
// It is not gortsplib's client, for three reasons: it batches a frame's
// packets into one write (one syscall per frame instead of one per packet),
// it sends keepalives while the camera is away so the server keeps the
// session (a TCP publisher that sends nothing is closed after the server's
// readTimeout), and it rebases sequence numbers and timestamps so the server
// sees one continuous stream across camera reconnects: viewers stay
// connected. Its requests go through rtspConn, as those of camrelay's TCP
// camera client do (Basic, Digest with or without qop, a fresh nonce).
type RTSPPublisher struct {
	// URL to publish to, credentials included.
	URL string
	// URLFunc, when set, gives the URL at each connection instead of URL:
	// for credentials that change, such as tokens camrelay mints for its
	// own publishing.
	URLFunc func() (string, error)
	// ReadTimeout bounds dialing, every request and every write. Zero means
	// 10 s.
	ReadTimeout time.Duration
	// PublishTimeout is how long the session is held open while the source
	// sends nothing (a camera reconnecting). Zero means 10 s.
	PublishTimeout time.Duration
	// KeepAlive is the period of OPTIONS keepalives. Zero means 5 s; it must
	// stay under the server's read timeout (MediaMTX: 10 s). A session
	// timeout the server announces shortens it to 80% of that.
	KeepAlive time.Duration
	// FlushDelay is how long a partial frame may wait in the write buffer
	// for the rest of its packets. Zero means 2 ms. A frame's last packet
	// (marker bit) is always flushed at once.
	FlushDelay time.Duration
	// Stats, when set, receives the counters.
	Stats *SinkStats
	// Log, when set, gets debug messages (never credentials).
	Log *slog.Logger

	// resumeAfter is when the last packet published before an ErrIdle
	// ending was received (codec.Now): the next Run publishes only media
	// newer than it. Run is called again after it returns, never
	// concurrently.
	resumeAfter int64
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Run waits for the source's first keyframe, publishes until ctx ends (nil),
// the session fails, the source changes tracks (ErrTracksChanged) or stays
// silent past the publish timeout (ErrIdle). Errors never contain
// credentials.
//
// After ErrIdle, the next Run connects only once the source delivers a
// keyframe newer than the last packet published: a dead camera's last
// seconds still in the ring are not published again, and the server's path
// stays down until the camera is back.
func (p *RTSPPublisher) Run(ctx context.Context, r PacketReader) error {
	var used string
	err := p.run(ctx, r, &used)
	if ctx.Err() != nil {
		return nil
	}
	return Scrub(err, p.URL, used)
}

func (p *RTSPPublisher) run(ctx context.Context, r PacketReader, used *string) error {
	stats := p.Stats
	if stats == nil {
		stats = &SinkStats{}
	}
	pkt := codec.Packet{Payload: make([]byte, codec.MaxPayload)}

	// Start at a keyframe of the newest source session that is newer than
	// what was published before going idle. Anything else is read past, not
	// resynced from: Resync would land on the same packet again at once.
	r.Resync()
	var tracks []codec.Track
	for {
		if !waitPacket(ctx, r, &pkt) {
			return nil
		}
		var epoch uint32
		epoch, tracks = r.Tracks()
		if pkt.Epoch == epoch && pkt.Flags&codec.FlagSync != 0 && pkt.Received > p.resumeAfter && len(tracks) > 0 {
			break
		}
		stats.Skipped.Add(1)
	}

	raw := p.URL
	if p.URLFunc != nil {
		var err error
		if raw, err = p.URLFunc(); err != nil {
			return fmt.Errorf("output credentials: %w", err)
		}
	}
	*used = raw
	u, err := base.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("invalid output URL %s: %w", RedactURL(raw), err)
	}
	s, err := p.dial(ctx, u, tracks)
	if err != nil {
		return err
	}
	defer s.close()
	stats.Sessions.Add(1)
	if p.Log != nil {
		p.Log.Debug("publishing", "url", RedactURL(raw), "tracks", fmt.Sprint(tracks))
	}
	s.stats = stats
	s.tl = newTimeline(tracks, pkt.Epoch, stats)
	s.flushDelay = orDefault(p.FlushDelay, 2*time.Millisecond)
	publishTimeout := orDefault(p.PublishTimeout, 10*time.Second)
	s.flushTimer = time.NewTimer(time.Hour)
	s.flushTimer.Stop()
	defer s.flushTimer.Stop()
	s.droppedBase = r.Dropped()

	// On a plain TCP connection the ring's writer (the camera's goroutine)
	// writes each finished frame itself, without blocking: no goroutine
	// hand-off per frame. What it cannot write at once (a full socket
	// buffer, a frame still waiting for its last packet, errors) falls back
	// to this goroutine, which holds the reader's lock while it works.
	ir, inline := r.(InlineReader)
	inline = inline && s.raw != nil
	lock, unlock := func() {}, func() {}
	if inline {
		lock, unlock = ir.Lock, ir.Unlock
		ir.SetInline(func() bool { return s.drainInline(r) })
		defer func() {
			ir.SetInline(nil)
			ir.Lock()
			s.closed = true // a drain that loaded the hook before does nothing
			s.drop()
			ir.Unlock()
		}()
	} else {
		defer s.drop()
	}

	lock()
	err = s.first(r, &pkt)
	unlock()
	if err != nil {
		return err
	}
	keep := time.NewTicker(s.rc.KeepAlivePeriod(orDefault(p.KeepAlive, 5*time.Second)))
	defer keep.Stop()
	for {
		lock()
		err := s.drain(r, false)
		unlock()
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			lock()
			s.teardown()
			unlock()
			return nil
		case err := <-s.readErr:
			return fmt.Errorf("server closed the session: %w", err)
		case <-r.Ready():
		case <-s.flushTimer.C:
			lock()
			s.flushArmed = false
			err := s.flush()
			s.release()
			unlock()
			if err != nil {
				return err
			}
		case <-keep.C:
			lock()
			idle := time.Duration(codec.Now()-s.lastPacket) > publishTimeout
			if idle {
				s.teardown()
				p.resumeAfter = s.lastPacket
			} else {
				err = s.keepAlive()
			}
			unlock()
			if idle {
				return ErrIdle
			}
			if err != nil {
				return err
			}
		}
	}
}

// waitPacket blocks until r yields a packet or ctx ends.
func waitPacket(ctx context.Context, r PacketReader, pkt *codec.Packet) bool {
	for !r.TryRead(pkt) {
		select {
		case <-ctx.Done():
			return false
		case <-r.Ready():
		}
	}
	return true
}

// pubSession is one RECORD session on one TCP connection.
//
// Its output state (out, the timeline, the flush timer) is touched by the
// publisher's goroutine and, on a plain TCP connection, by the ring's
// writer draining the reader inline; the reader's lock (InlineReader)
// serializes them.
type pubSession struct {
	rc      *rtspConn       // requests (handshake, keepalives) and the read loop
	nc      net.Conn        // rc's connection
	raw     syscall.RawConn // nc's, for non-blocking writes; nil over TLS
	u       *base.URL
	timeout time.Duration
	tl      *timeline
	stats   *SinkStats

	// out holds interleaved RTP packets (and keepalives) not written yet,
	// out[sent:]: a frame per write. Its buffer comes from outBufs while
	// there is something to write and goes back once it is written, so
	// idle cameras hold none.
	out  []byte
	outp *[]byte
	sent int
	pkt  codec.Packet // the packet being placed; its payload is in out

	frameDone bool  // the last packet written ended a frame (or was audio)
	frameRecv int64 // when the camera delivered that frame's last packet
	// deadlineSet is when the write deadline was last renewed (codec.Now).
	deadlineSet int64
	lastPacket  int64
	flushDelay  time.Duration
	flushTimer  *time.Timer
	flushArmed  bool
	droppedBase uint64
	// err is a failure an inline drain met; the publisher's goroutine
	// returns it. closed is set when the session is over: a late inline
	// drain does nothing.
	err    error
	closed bool
	// writeRaw is writeOnce as a func value, wN and wErr its results.
	writeRaw func(fd uintptr) bool
	wN       int
	wErr     error

	readErr chan error
	wg      sync.WaitGroup
}

// outBufSize is the output buffer: room for a P-frame in one write;
// keyframes take a few.
const outBufSize = 32 << 10

// outBufs are the output buffers, shared by every publisher: a camera
// holds one only while it has something to write.
var outBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, outBufSize)
	return &b
}}

func (p *RTSPPublisher) dial(ctx context.Context, u *base.URL, tracks []codec.Track) (*pubSession, error) {
	timeout := orDefault(p.ReadTimeout, 10*time.Second)
	nc, err := dialRTSP(ctx, u, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &pubSession{rc: newRTSPConn(nc, authenticatorFor(u), timeout, 4<<10), nc: nc, u: u, timeout: timeout, readErr: make(chan error, 1)}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	if err := s.handshake(tracks); err != nil {
		nc.Close()
		return nil, err
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	s.lastPacket = codec.Now()
	s.wg.Add(1)
	go s.readLoop()
	return s, nil
}

func (s *pubSession) handshake(tracks []codec.Track) error {
	desc, err := sessionOf(tracks)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	sdp, err := desc.Marshal(false)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if _, err := s.rc.Do(base.Options, s.u, nil, nil); err != nil {
		return err
	}
	if _, err := s.rc.Do(base.Announce, s.u, base.Header{"Content-Type": base.HeaderValue{"application/sdp"}}, sdp); err != nil {
		return err
	}
	for i := range tracks {
		mode := headers.TransportModeRecord
		th := headers.Transport{
			Protocol:       headers.TransportProtocolTCP,
			Delivery:       ptr(headers.TransportDeliveryUnicast),
			InterleavedIDs: &[2]int{2 * i, 2*i + 1},
			Mode:           &mode,
		}
		mu, err := desc.Medias[i].URL(s.u)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if _, err := s.rc.Do(base.Setup, mu, base.Header{"Transport": th.Marshal()}, nil); err != nil {
			return err
		}
	}
	_, err = s.rc.Do(base.Record, s.u, nil, nil)
	return err
}

// readLoop drains what the server sends while we record (RTCP receiver
// reports, answers to keepalives) and reports the connection's end.
func (s *pubSession) readLoop() {
	defer s.wg.Done()
	for {
		s.nc.SetReadDeadline(time.Now().Add(3 * s.timeout))
		res, err := s.rc.ReadResponse()
		if err != nil {
			s.readErr <- err
			return
		}
		switch {
		case res.StatusCode == base.StatusUnauthorized:
			// The nonce expired: the next keepalive answers the new one.
			s.rc.auth.Challenge(res.Header["WWW-Authenticate"])
		case res.StatusCode >= 400:
			s.readErr <- &StatusError{Method: "KEEPALIVE", Code: int(res.StatusCode), Text: res.StatusMessage}
			return
		}
	}
}

// room makes sure out can take one more packet (interleaved and RTP
// headers and the largest payload): it takes a buffer from the pool, or
// writes out a full one. Blocking unless nb; with nb it reports false when
// the buffer could not be written at once.
func (s *pubSession) room(nb bool) (bool, error) {
	if s.outp == nil {
		s.outp = outBufs.Get().(*[]byte)
		s.out, s.sent = (*s.outp)[:0], 0
	}
	if cap(s.out)-len(s.out) >= 16+codec.MaxPayload {
		return true, nil
	}
	if nb {
		return s.tryFlush(), nil
	}
	return true, s.flush()
}

// release hands an empty output buffer back to the pool.
func (s *pubSession) release() {
	if s.outp != nil && s.sent == len(s.out) {
		*s.outp = s.out[:0]
		outBufs.Put(s.outp)
		s.outp, s.out, s.sent = nil, nil, 0
	}
}

// drop gives up what was not written (the session is over).
func (s *pubSession) drop() {
	s.sent = len(s.out)
	s.release()
}

func (s *pubSession) pending() bool { return s.sent < len(s.out) }

// first writes the packet the session starts with (read before dialing).
func (s *pubSession) first(r PacketReader, p *codec.Packet) error {
	if _, err := s.room(false); err != nil {
		return err
	}
	mark := len(s.out)
	buf := append(s.out[:mark+16], p.Payload...)
	s.pkt = *p
	s.pkt.Payload = buf[mark+16:]
	if err := s.place(r, buf, mark); err != nil {
		return err
	}
	return s.finish(r, false)
}

// readOne reads the next packet of r into out behind room for its headers
// and places it; false when r has none.
func (s *pubSession) readOne(r PacketReader) (bool, error) {
	mark := len(s.out)
	buf, ok := r.TryReadAppend(s.out[:mark+16], &s.pkt)
	if !ok {
		return false, nil
	}
	return true, s.place(r, buf, mark)
}

// place puts s.pkt, whose payload ends buf after 16 bytes left at mark, on
// the output timeline and writes its interleaved and RTP headers there. A
// packet the timeline skips is cut off again (out keeps its length).
func (s *pubSession) place(r PacketReader, buf []byte, mark int) error {
	p := &s.pkt
	t, seq, ts, err := s.tl.next(r, p)
	if t == nil {
		return err
	}
	h := buf[mark : mark+16]
	h[0], h[1] = '$', 2*p.Track
	binary.BigEndian.PutUint16(h[2:], uint16(12+len(p.Payload)))
	h[4] = 0x80
	h[5] = t.track.PayloadType & 0x7f
	if p.Marker() {
		h[5] |= 0x80
	}
	binary.BigEndian.PutUint16(h[6:], seq)
	binary.BigEndian.PutUint32(h[8:], ts)
	binary.BigEndian.PutUint32(h[12:], t.ssrc)
	s.out = buf
	s.lastPacket = p.Received
	s.stats.Packets.Add(1)
	s.stats.Bytes.Add(uint64(len(p.Payload)))
	video := t.track.Kind == codec.KindVideo
	s.frameDone = p.Marker() || !video
	if p.Marker() && video {
		s.stats.Frames.Add(1)
		s.frameRecv = p.Received
	}
	return nil
}

// drain reads everything r has into the session and writes finished
// frames; a partial frame waits for its last packet or the flush timer.
// Under the reader's lock: the publisher's goroutine (blocking writes) or,
// with nb, the ring's writer draining inline, which never blocks and fails
// with errBlocked for a write the socket would not take at once.
func (s *pubSession) drain(r PacketReader, nb bool) error {
	if s.err != nil {
		return s.err
	}
	for {
		ok, err := s.room(nb)
		if err != nil {
			return err
		}
		if !ok {
			return errBlocked
		}
		more, err := s.readOne(r)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	return s.finish(r, nb)
}

// drainInline is drain on the ring writer's goroutine. It reports false
// (the publisher's goroutine is woken) for anything it cannot finish; an
// error is kept for that goroutine to return.
func (s *pubSession) drainInline(r PacketReader) bool {
	if s.closed {
		return false
	}
	err := s.drain(r, true)
	if err != nil && err != errBlocked {
		s.err = err
	}
	return err == nil
}

// finish ends a read of the ring: counts drops, writes out a finished frame
// (a partial one waits for its last packet or the flush timer), hands an
// empty buffer back. With nb it does not block and fails with errBlocked
// when the write could not be completed at once.
func (s *pubSession) finish(r PacketReader, nb bool) error {
	if d := s.droppedNow(r); d != 0 {
		s.stats.Dropped.Add(d)
	}
	switch {
	case !s.pending():
	case !s.frameDone:
		if !s.flushArmed {
			s.flushTimer.Reset(s.flushDelay)
			s.flushArmed = true
		}
		return nil
	case nb:
		if !s.tryFlush() {
			return errBlocked
		}
	default:
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.release()
	return nil
}

var errBlocked = errors.New("the write would block")

// droppedNow is how many packets the reader lost since the last call.
func (s *pubSession) droppedNow(r PacketReader) uint64 {
	d := r.Dropped()
	n := d - s.droppedBase
	s.droppedBase = d
	return n
}

// writeDeadline pushes the write deadline out before a socket write. A
// deadline update is a timer update, so it is renewed at most every quarter
// of the timeout (a second at the most), not for every frame: a write then
// times out after at least three quarters of the timeout.
func (s *pubSession) writeDeadline() {
	now := codec.Now()
	if s.deadlineSet == 0 || time.Duration(now-s.deadlineSet) > min(s.timeout/4, time.Second) {
		s.nc.SetWriteDeadline(time.Now().Add(s.timeout))
		s.deadlineSet = now
	}
}

// flush writes out what out holds, blocking (within the write deadline).
func (s *pubSession) flush() error {
	if !s.pending() {
		return nil
	}
	s.writeDeadline()
	n, err := s.nc.Write(s.out[s.sent:])
	s.sent += n
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	s.written()
	return nil
}

// tryFlush writes out what out holds with one non-blocking write, and
// reports whether all of it went. What did not stays for flush.
func (s *pubSession) tryFlush() bool {
	if !s.pending() {
		return true
	}
	if s.writeRaw == nil {
		s.writeRaw = s.writeOnce // one closure per session, not per write
	}
	if err := s.raw.Write(s.writeRaw); err != nil || s.wErr != nil || s.wN <= 0 {
		return false
	}
	s.sent += s.wN
	if s.pending() {
		return false
	}
	s.written()
	return true
}

// writeOnce is tryFlush's one write(2), in RawConn.Write: it never waits
// for the socket.
func (s *pubSession) writeOnce(fd uintptr) bool {
	for {
		s.wN, s.wErr = syscall.Write(int(fd), s.out[s.sent:])
		if s.wErr != syscall.EINTR {
			return true
		}
	}
}

// written follows a complete write of out.
func (s *pubSession) written() {
	s.out, s.sent = s.out[:0], 0
	if s.flushArmed {
		s.flushTimer.Stop()
		s.flushArmed = false
	}
	if s.frameRecv != 0 {
		s.stats.Latency.Observe(time.Duration(codec.Now() - s.frameRecv))
		s.frameRecv = 0
	}
}

// request writes an RTSP request (a keepalive, the teardown) behind what
// out holds, at once.
func (s *pubSession) request(m base.Method) error {
	b, err := s.rc.Marshal(m, s.u, nil)
	if err != nil {
		return err
	}
	if _, err := s.room(false); err != nil {
		return err
	}
	s.out = append(s.out, b...)
	err = s.flush()
	s.release()
	return err
}

func (s *pubSession) keepAlive() error {
	if err := s.request(base.Options); err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	return nil
}

func (s *pubSession) teardown() {
	s.nc.SetWriteDeadline(time.Now().Add(time.Second))
	s.deadlineSet = codec.Now() // request's writeDeadline keeps this one
	_ = s.request(base.Teardown)
}

func (s *pubSession) close() {
	s.nc.Close()
	s.wg.Wait()
}
