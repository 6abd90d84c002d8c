package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
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
	if err := s.handle(r, &pkt); err != nil {
		return err
	}

	flush := time.NewTimer(time.Hour)
	flush.Stop()
	flushArmed := false
	keep := time.NewTicker(s.rc.KeepAlivePeriod(orDefault(p.KeepAlive, 5*time.Second)))
	defer keep.Stop()
	droppedBase := r.Dropped()
	for {
		for r.TryRead(&pkt) {
			if err := s.handle(r, &pkt); err != nil {
				return err
			}
		}
		if d := r.Dropped(); d != droppedBase {
			stats.Dropped.Add(d - droppedBase)
			droppedBase = d
		}
		if s.bw.Buffered() > 0 {
			if s.frameDone {
				if err := s.flush(); err != nil {
					return err
				}
			} else if !flushArmed {
				flush.Reset(s.flushDelay)
				flushArmed = true
			}
		}
		select {
		case <-ctx.Done():
			s.teardown()
			return nil
		case err := <-s.readErr:
			return fmt.Errorf("server closed the session: %w", err)
		case <-r.Ready():
		case <-flush.C:
			flushArmed = false
			if err := s.flush(); err != nil {
				return err
			}
		case <-keep.C:
			if time.Duration(codec.Now()-s.lastPacket) > publishTimeout {
				s.teardown()
				p.resumeAfter = s.lastPacket
				return ErrIdle
			}
			if err := s.keepAlive(); err != nil {
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
type pubSession struct {
	rc      *rtspConn     // requests (handshake, keepalives) and the read loop
	nc      net.Conn      // rc's connection, written through bw
	bw      *bufio.Writer // media and keepalives, a frame per write
	u       *base.URL
	timeout time.Duration
	tl      *timeline
	stats   *SinkStats

	frameDone bool  // the last packet written ended a frame
	frameRecv int64 // when the camera delivered that frame's last packet
	// deadlineSet is when the write deadline was last renewed (codec.Now).
	deadlineSet int64
	lastPacket  int64
	flushDelay  time.Duration
	hdr         [16]byte

	readErr chan error
	wg      sync.WaitGroup
}

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
	// Room for a P-frame in one write; keyframes take a few.
	s.bw = bufio.NewWriterSize(nc, 32<<10)
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

// handle writes one packet from the ring into the session.
func (s *pubSession) handle(r PacketReader, p *codec.Packet) error {
	t, seq, ts, err := s.tl.next(r, p)
	if t == nil {
		return err
	}
	n := 12 + len(p.Payload)
	h := &s.hdr
	h[0], h[1] = '$', 2*p.Track
	binary.BigEndian.PutUint16(h[2:], uint16(n))
	h[4] = 0x80
	h[5] = t.track.PayloadType & 0x7f
	if p.Marker() {
		h[5] |= 0x80
	}
	binary.BigEndian.PutUint16(h[6:], seq)
	binary.BigEndian.PutUint32(h[8:], ts)
	binary.BigEndian.PutUint32(h[12:], t.ssrc)
	if s.bw.Available() < 16+len(p.Payload) {
		s.writeDeadline()
	}
	if _, err := s.bw.Write(h[:]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := s.bw.Write(p.Payload); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	s.lastPacket = p.Received
	s.stats.Packets.Add(1)
	s.stats.Bytes.Add(uint64(len(p.Payload)))
	s.frameDone = p.Marker()
	if s.frameDone && t.track.Kind == codec.KindVideo {
		s.stats.Frames.Add(1)
		s.frameRecv = p.Received
	}
	return nil
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

func (s *pubSession) flush() error {
	s.writeDeadline()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if s.frameRecv != 0 {
		s.stats.Latency.Observe(time.Duration(codec.Now() - s.frameRecv))
		s.frameRecv = 0
	}
	return nil
}

func (s *pubSession) keepAlive() error {
	b, err := s.rc.Marshal(base.Options, s.u, nil)
	if err != nil {
		return err
	}
	if _, err := s.bw.Write(b); err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	return s.flush()
}

func (s *pubSession) teardown() {
	if b, err := s.rc.Marshal(base.Teardown, s.u, nil); err == nil {
		s.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = s.bw.Write(b)
		_ = s.bw.Flush()
	}
}

func (s *pubSession) close() {
	s.nc.Close()
	s.wg.Wait()
}
