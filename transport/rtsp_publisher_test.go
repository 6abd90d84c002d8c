package transport

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// fakeRecordServer is the smallest RTSP server a publisher records to,
// for unit tests of RTSPPublisher without MediaMTX: it answers OPTIONS,
// ANNOUNCE, SETUP, RECORD, TEARDOWN with 200, optionally asking for Digest
// with qop="auth" (and once more with a fresh nonce, stale=true, after the
// first valid answer), and reports every request and RTP packet it reads.
type fakeRecordServer struct {
	user, pass string // Digest-qop credentials asked on ANNOUNCE; "" asks none
	second     bool   // a second 401 with a fresh nonce after the first valid answer

	ln      net.Listener
	reqs    chan fakeRequest
	packets chan rtp.Packet
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

type fakeRequest struct {
	method string
	header base.Header
	status base.StatusCode // what the server answered
}

func startFakeRecordServer(t *testing.T, user, pass string, second bool) *fakeRecordServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeRecordServer{user: user, pass: pass, second: second, ln: ln,
		reqs: make(chan fakeRequest, 1000), packets: make(chan rtp.Packet, 10000), done: make(chan struct{})}
	s.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer nc.Close()
				s.serve(nc)
			})
		}
	})
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeRecordServer) url(path string) string {
	if s.user == "" {
		return "rtsp://" + s.ln.Addr().String() + "/" + path
	}
	return "rtsp://" + s.user + ":" + s.pass + "@" + s.ln.Addr().String() + "/" + path
}

func testNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *fakeRecordServer) serve(nc net.Conn) {
	br := bufio.NewReader(nc)
	nonce, rechallenged, authorized := testNonce(), false, false
	session := "" // after SETUP
	for {
		b, err := br.Peek(1)
		if err != nil {
			return
		}
		if b[0] == base.InterleavedFrameMagicByte {
			var f base.InterleavedFrame
			if err := f.Unmarshal(br); err != nil {
				return
			}
			var p rtp.Packet
			if f.Channel%2 == 0 && p.Unmarshal(f.Payload) == nil {
				select {
				case s.packets <- p:
				case <-s.done:
					return
				}
			}
			continue
		}
		var req base.Request
		if err := req.Unmarshal(br); err != nil {
			return
		}
		res := &base.Response{StatusCode: base.StatusOK, Header: base.Header{"CSeq": req.Header["CSeq"]}}
		if s.user != "" && req.Method == base.Announce && !authorized {
			stale := false
			switch s.checkDigest(&req, nonce) {
			case "ok":
				authorized = true
				if s.second && !rechallenged {
					rechallenged, authorized, stale, nonce = true, false, true, testNonce()
				}
			case "stale":
				stale, nonce = true, testNonce()
			}
			if !authorized {
				v := `Digest realm="fake", nonce="` + nonce + `", qop="auth"`
				if stale {
					v += ", stale=true"
				}
				res.StatusCode = base.StatusUnauthorized
				res.Header["WWW-Authenticate"] = base.HeaderValue{`Basic realm="fake"`, v}
			}
		}
		if res.StatusCode == base.StatusOK {
			if req.Method == base.Setup {
				res.Header["Transport"] = req.Header["Transport"]
				session = "fake1;timeout=60"
			}
			if session != "" {
				res.Header["Session"] = base.HeaderValue{session}
			}
		}
		select {
		case s.reqs <- fakeRequest{method: string(req.Method), header: req.Header, status: res.StatusCode}:
		case <-s.done:
			return
		}
		out, _ := res.Marshal()
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// checkDigest verifies an RFC 2617 qop=auth answer on its own (not with
// the authenticator under test): "ok", "stale" (right, over an old nonce)
// or "" (missing or wrong).
func (s *fakeRecordServer) checkDigest(req *base.Request, nonce string) string {
	a := req.Header["Authorization"]
	if len(a) != 1 || !strings.HasPrefix(a[0], "Digest ") {
		return ""
	}
	p := map[string]string{}
	for _, kv := range splitParams(strings.TrimPrefix(a[0], "Digest ")) {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1, ha2 := h(s.user+":fake:"+s.pass), h(string(req.Method)+":"+p["uri"])
	if p["qop"] != "auth" || len(p["nc"]) != 8 || p["cnonce"] == "" || p["username"] != s.user ||
		p["uri"] != req.URL.CloneWithoutCredentials().String() ||
		p["response"] != h(ha1+":"+p["nonce"]+":"+p["nc"]+":"+p["cnonce"]+":auth:"+ha2) {
		return ""
	}
	if p["nonce"] != nonce {
		return "stale"
	}
	return "ok"
}

// nextRequest waits for the next request of method (others are skipped).
func (s *fakeRecordServer) nextRequest(t *testing.T, method string) fakeRequest {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-s.reqs:
			if r.method == method {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s within 5 s", method)
		}
	}
}

// nextPacket waits for the next RTP packet.
func (s *fakeRecordServer) nextPacket(t *testing.T) rtp.Packet {
	t.Helper()
	select {
	case p := <-s.packets:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5 s")
	}
	return rtp.Packet{}
}

var (
	h264Tracks = []codec.Track{{Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000, PayloadType: 96, RTPMap: "H264/90000",
		FMTP: map[string]string{"packetization-mode": "1"}}}
	testSPS = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// videoSource writes H.264 frames into a memRing the way an Ingest does:
// a keyframe is SPS (sync), PPS, IDR (marker); a P frame is one or more
// slices, the last with the marker.
type videoSource struct {
	r     *memRing
	seq   uint16
	frame uint32
}

func (v *videoSource) write(payload []byte, flags codec.Flags) {
	v.seq++
	v.r.WritePacket(&codec.Packet{Flags: flags, PayloadType: 96, SequenceNumber: v.seq, Timestamp: v.frame * 3600, Received: codec.Now(), Payload: payload})
}

func (v *videoSource) keyframe() {
	v.frame++
	v.write(testSPS, codec.FlagSync)
	v.write(testPPS, 0)
	v.write([]byte{0x65, 0x88, 0x84, 0x00, 0x10}, codec.FlagMarker)
}

func (v *videoSource) pframe() {
	v.frame++
	v.write([]byte{0x41, 0x9a, 0x02, byte(v.frame)}, codec.FlagMarker)
}

// runPublisher runs p in the background; the returned function cancels
// it and returns what Run returned.
func runPublisher(p *RTSPPublisher, r PacketReader) (<-chan error, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, r) }()
	return done, cancel
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("publisher did not end within 10 s")
	}
	return nil
}

// TestPublisherKeyframeFlushAuth: the publisher authenticates its ANNOUNCE
// with Digest qop="auth", following a second 401 with a fresh nonce;
// starts at the newest keyframe; and writes a frame out when its last
// (marker) packet arrives, not before, with no flush timer or keepalive
// to help.
func TestPublisherKeyframeFlushAuth(t *testing.T) {
	srv := startFakeRecordServer(t, "pub", "pub-secret", true)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	src.pframe() // before any keyframe: never published
	src.keyframe()
	src.pframe()
	stats := &SinkStats{}
	p := &RTSPPublisher{URL: srv.url("cam"), Stats: stats, FlushDelay: time.Minute, KeepAlive: time.Minute, PublishTimeout: time.Minute}
	done, cancel := runPublisher(p, r)
	defer cancel()

	// OPTIONS, ANNOUNCE (401), ANNOUNCE (401 stale), ANNOUNCE, SETUP, RECORD.
	want := []string{"OPTIONS 200", "ANNOUNCE 401", "ANNOUNCE 401", "ANNOUNCE 200", "SETUP 200", "RECORD 200"}
	for i, w := range want {
		var r fakeRequest
		select {
		case r = <-srv.reqs:
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: none within 5 s, want %s", i, w)
		}
		if got := fmt.Sprintf("%s %d", r.method, r.status); got != w {
			t.Fatalf("request %d: %s, want %s", i, got, w)
		}
		if r.method == "SETUP" && r.header["Session"] != nil {
			t.Errorf("SETUP carries a session before the server gave one")
		}
		if r.method == "RECORD" && (len(r.header["Session"]) != 1 || r.header["Session"][0] != "fake1") {
			t.Errorf("RECORD session %v", r.header["Session"])
		}
	}

	// The keyframe (SPS first) and the P frame after it, nothing before.
	for i, want := range [][]byte{testSPS, testPPS, {0x65}, {0x41}} {
		pkt := srv.nextPacket(t)
		if pkt.Payload[0] != want[0] {
			t.Fatalf("packet %d starts % x, want % x", i, pkt.Payload[:1], want[:1])
		}
		if i == 0 && pkt.PayloadType != 96 {
			t.Fatalf("payload type %d", pkt.PayloadType)
		}
	}

	// Half a frame waits in the buffer ...
	src.frame++
	src.write([]byte{0x41, 0x01}, 0)
	select {
	case pkt := <-srv.packets:
		t.Fatalf("packet % x sent before its frame's marker", pkt.Payload)
	case <-time.After(150 * time.Millisecond):
	}
	// ... and leaves with its marker packet.
	src.write([]byte{0x41, 0x02}, codec.FlagMarker)
	a, b := srv.nextPacket(t), srv.nextPacket(t)
	if a.Payload[1] != 1 || b.Payload[1] != 2 || a.Marker || !b.Marker || b.SequenceNumber != a.SequenceNumber+1 {
		t.Fatalf("frame packets %+v %+v", a.Header, b.Header)
	}

	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	srv.nextRequest(t, "TEARDOWN")
	if stats.Sessions.Load() != 1 || stats.Frames.Load() != 3 {
		t.Errorf("sessions %d frames %d", stats.Sessions.Load(), stats.Frames.Load())
	}
}

// TestPublisherKeepAliveIdle: while the camera sends nothing the publisher
// keeps the session with OPTIONS keepalives, then gives up with ErrIdle
// after the publish timeout, tearing the session down.
func TestPublisherKeepAliveIdle(t *testing.T) {
	srv := startFakeRecordServer(t, "", "", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	start := time.Now()
	src.keyframe()
	p := &RTSPPublisher{URL: srv.url("cam"), KeepAlive: 40 * time.Millisecond, PublishTimeout: 400 * time.Millisecond}
	done, cancel := runPublisher(p, r)
	defer cancel()
	srv.nextRequest(t, "RECORD")
	cseq := ""
	for range 3 {
		ka := srv.nextRequest(t, "OPTIONS")
		if s := ka.header["Session"]; len(s) != 1 || s[0] != "fake1" {
			t.Fatalf("keepalive without the session: %v", ka.header)
		}
		if ka.header["CSeq"][0] == cseq {
			t.Fatal("keepalives share a CSeq")
		}
		cseq = ka.header["CSeq"][0]
	}
	err := waitRun(t, done)
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("Run: %v, want ErrIdle", err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("idle after %v, before the publish timeout", el)
	}
	srv.nextRequest(t, "TEARDOWN")
}

// TestPublisherTracksChanged: the source coming back with the same tracks
// continues the session (sequence numbers continue); with different
// tracks the session ends with ErrTracksChanged.
func TestPublisherTracksChanged(t *testing.T) {
	srv := startFakeRecordServer(t, "", "", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	src.keyframe()
	p := &RTSPPublisher{URL: srv.url("cam"), KeepAlive: time.Minute, PublishTimeout: time.Minute}
	done, cancel := runPublisher(p, r)
	defer cancel()
	var last uint16
	for range 3 {
		last = srv.nextPacket(t).SequenceNumber
	}

	// Reconnect, same tracks, new numbers.
	r.SetTracks(h264Tracks)
	src.seq = 40000
	src.keyframe()
	if pkt := srv.nextPacket(t); pkt.SequenceNumber != last+1 || pkt.Payload[0] != testSPS[0] {
		t.Fatalf("after a reconnect: seq %d (want %d), payload % x", pkt.SequenceNumber, last+1, pkt.Payload[:1])
	}

	// Reconnect with an audio track too.
	r.SetTracks(append(append([]codec.Track(nil), h264Tracks...), codec.Track{Kind: codec.KindAudio, Codec: "PCMU", ClockRate: 8000, PayloadType: 0, RTPMap: "PCMU/8000"}))
	src.keyframe()
	if err := waitRun(t, done); !errors.Is(err, ErrTracksChanged) {
		t.Fatalf("Run: %v, want ErrTracksChanged", err)
	}
}

// TestPublisherWrongPassword: a refused ANNOUNCE ends the session with a
// 401 that does not show the password, after a bounded number of tries.
func TestPublisherWrongPassword(t *testing.T) {
	srv := startFakeRecordServer(t, "pub", "right", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	(&videoSource{r: r}).keyframe()
	p := &RTSPPublisher{URL: strings.Replace(srv.url("cam"), ":right@", ":wrong-pw@", 1)}
	done, cancel := runPublisher(p, r)
	defer cancel()
	err := waitRun(t, done)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || se.Method != "ANNOUNCE" || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("Run: %v", err)
	}
	n := 0
	for len(srv.reqs) > 0 {
		if (<-srv.reqs).method == "ANNOUNCE" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d ANNOUNCE, want 2 (without, then with credentials)", n)
	}
}

// waitBlocked waits (2 s at most) until the reader of m sleeps on Ready
// again: it called Ready after waits0 and no TryRead since. A reader that
// spins on TryRead never gets there.
func (m *memRing) waitBlocked(t *testing.T, waits0 int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for m.waits.Load() <= waits0 || m.reads.Load() != m.readsAtWait.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("the reader did not block on Ready within 2 s (%d TryRead calls so far)", m.reads.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noRequest fails if the server received a request of method.
func (s *fakeRecordServer) noRequest(t *testing.T, method, why string) {
	t.Helper()
	for len(s.reqs) > 0 {
		if r := <-s.reqs; r.method == method {
			t.Fatalf("%s %s", method, why)
		}
	}
}

// TestPublisherWaitsForKeyframeOfNewSession: the camera began a new session
// (new epoch) and has sent no keyframe yet, while a keyframe of the old one
// is still in the ring. The publisher must sleep until a keyframe of the
// new session comes, not resync to the old one again and again (a busy loop
// that took a full core per camera).
func TestPublisherWaitsForKeyframeOfNewSession(t *testing.T) {
	srv := startFakeRecordServer(t, "", "", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	src.keyframe()
	src.pframe()
	r.SetTracks(h264Tracks) // reconnected: PLAY answered, no keyframe yet
	src.pframe()
	stats := &SinkStats{}
	p := &RTSPPublisher{URL: srv.url("cam"), Stats: stats, KeepAlive: time.Minute, PublishTimeout: time.Minute}
	done, cancel := runPublisher(p, r)
	defer cancel()

	r.waitBlocked(t, 0)
	if n := r.reads.Load(); n > 10 {
		t.Fatalf("%d TryRead calls for 5 packets before blocking", n)
	}
	srv.noRequest(t, "ANNOUNCE", "before a keyframe of the current session")

	src.keyframe()
	srv.nextRequest(t, "RECORD")
	if pkt := srv.nextPacket(t); pkt.Payload[0] != testSPS[0] {
		t.Fatalf("first packet % x, want the new keyframe's SPS", pkt.Payload[:1])
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if stats.Dropped.Load() != 0 {
		t.Errorf("dropped %d: nothing was lost", stats.Dropped.Load())
	}
}

// TestPublisherIdleWaitsForNewMedia: a camera silent past the publish
// timeout ends the session (ErrIdle). Run again, as the pipeline does, the
// publisher must not announce the last GOP still in the ring again (MediaMTX
// would show a dead camera as live, with a new session every keepalive), nor
// for new packets that bring no keyframe; it publishes again once the
// camera sends a keyframe of a new session.
func TestPublisherIdleWaitsForNewMedia(t *testing.T) {
	srv := startFakeRecordServer(t, "", "", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	src.keyframe()
	src.pframe()
	stats := &SinkStats{}
	p := &RTSPPublisher{URL: srv.url("cam"), Stats: stats, KeepAlive: 20 * time.Millisecond, PublishTimeout: 100 * time.Millisecond}
	done, cancel := runPublisher(p, r)
	srv.nextRequest(t, "ANNOUNCE")
	if err := waitRun(t, done); !errors.Is(err, ErrIdle) {
		t.Fatalf("Run: %v, want ErrIdle", err)
	}
	cancel()
	srv.nextRequest(t, "TEARDOWN")
	sent := stats.Packets.Load()
	if sent != 4 {
		t.Fatalf("%d packets sent, want the keyframe's 3 and the P frame", sent)
	}
	for range sent {
		srv.nextPacket(t)
	}

	// Run again at once, as the pipeline does after ErrIdle.
	w := r.waits.Load()
	done, cancel = runPublisher(p, r)
	defer cancel()
	r.waitBlocked(t, w)
	srv.noRequest(t, "ANNOUNCE", "again after ErrIdle with no new media: a dead camera republished")

	// New packets without a keyframe: still nothing to show.
	w = r.waits.Load()
	src.pframe()
	r.waitBlocked(t, w)
	srv.noRequest(t, "ANNOUNCE", "for a P frame: nothing decodable")

	// The camera is back: a new session with a keyframe.
	r.SetTracks(h264Tracks)
	src.keyframe()
	srv.nextRequest(t, "ANNOUNCE")
	srv.nextRequest(t, "RECORD")
	for i, want := range []byte{testSPS[0], testPPS[0], 0x65} {
		if pkt := srv.nextPacket(t); pkt.Payload[0] != want {
			t.Fatalf("packet %d after the camera came back starts %x, want %x", i, pkt.Payload[0], want)
		}
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if stats.Sessions.Load() != 2 || stats.Packets.Load() != sent+3 {
		t.Errorf("sessions %d packets %d, want 2 and %d", stats.Sessions.Load(), stats.Packets.Load(), sent+3)
	}
}

// TestPublisherCountsKeyframeWaitsAsSkipped: after a camera reconnect the
// P frames before the first keyframe are skipped, not lost: they count in
// Skipped, and Dropped (what alerts watch) stays zero.
func TestPublisherCountsKeyframeWaitsAsSkipped(t *testing.T) {
	srv := startFakeRecordServer(t, "", "", false)
	r := newMemRing()
	r.SetTracks(h264Tracks)
	src := &videoSource{r: r}
	src.keyframe()
	stats := &SinkStats{}
	p := &RTSPPublisher{URL: srv.url("cam"), Stats: stats, KeepAlive: time.Minute, PublishTimeout: time.Minute}
	done, cancel := runPublisher(p, r)
	defer cancel()
	for range 3 {
		srv.nextPacket(t)
	}
	r.SetTracks(h264Tracks)
	for range 4 {
		src.pframe()
	}
	src.keyframe()
	for range 3 {
		srv.nextPacket(t)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s, d := stats.Skipped.Load(), stats.Dropped.Load(); s != 4 || d != 0 {
		t.Fatalf("skipped %d dropped %d, want 4 and 0", s, d)
	}
}
