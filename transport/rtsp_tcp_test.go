package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
)

func TestParseRTPInPlace(t *testing.T) {
	full := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 7, Timestamp: 90000, SSRC: 42,
		CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3, 4, 5}}
	full.Header.SetExtension(1, []byte{9, 9, 9, 9})
	b, err := full.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	padded := append(append([]byte(nil), b...), 0, 0, 3)
	padded[0] |= 0x20
	for name, in := range map[string][]byte{"csrc+extension": b, "padding": padded} {
		var p rtp.Packet
		if !parseRTP(in, &p) {
			t.Fatalf("%s: not parsed", name)
		}
		if !p.Marker || p.PayloadType != 96 || p.SequenceNumber != 7 || p.Timestamp != 90000 || p.SSRC != 42 || string(p.Payload) != "\x01\x02\x03\x04\x05" {
			t.Errorf("%s: %+v payload %v", name, p.Header, p.Payload)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 11), {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200}} {
		var p rtp.Packet
		if parseRTP(bad, &p) {
			t.Errorf("% x parsed", bad)
		}
	}
	var p rtp.Packet
	if n := testing.AllocsPerRun(100, func() { parseRTP(b, &p) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa})
	f.Add([]byte{0xb1, 0xe0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		if parseRTP(b, &p) && len(p.Payload) > len(b) {
			t.Fatal("payload longer than the packet")
		}
	})
}

type recordSink struct {
	mu   sync.Mutex
	pkts []string // "track:seq:payload"
}

func (s *recordSink) Begin([]codec.Track) error { return nil }
func (s *recordSink) NoteSPS(int, []byte)       {}
func (s *recordSink) WriteRTP(track int, p *rtp.Packet, _ int64) {
	s.mu.Lock()
	s.pkts = append(s.pkts, fmt.Sprintf("%d:%d:%d", track, p.SequenceNumber, len(p.Payload)))
	s.mu.Unlock()
}

// TestTCPReadLoop feeds camrelay's interleaved read path, over a real
// loopback socket, everything a camera's session carries after PLAY: frames
// split at every byte boundary, frames much larger than the read buffer, an
// answer to a keepalive with a body, a request from the camera (answered
// 501), RTCP, garbage between frames. Every RTP packet arrives once, in
// order, with its payload intact.
func TestTCPReadLoop(t *testing.T) {
	t.Run("rawconn", func(t *testing.T) { testTCPReadLoop(t, false) })
	t.Run("reader", func(t *testing.T) { testTCPReadLoop(t, true) })
}

func testTCPReadLoop(t *testing.T, viaReader bool) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer sc.Close()

	var nc net.Conn = cc
	if viaReader {
		nc = plainConn{cc} // hides SyscallConn: the path a TLS session takes
	}
	c := &tcpClient{nc: nc, rc: newRTSPConn(nc, nil, 5*time.Second, tcpHandshakeBuffer), stats: &SourceStats{}, timeout: 5 * time.Second}
	for i := range c.channels {
		c.channels[i] = -1
	}
	c.channels[0], c.channels[2] = 0, 1
	sink := &recordSink{}
	done := make(chan error, 1)
	go func() { done <- c.readLoop(sink) }()

	frame := func(ch byte, seq uint16, payload int) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 1}, Payload: bytes.Repeat([]byte{byte(seq)}, payload)}
		b, _ := p.Marshal()
		return append([]byte{'$', ch, byte(len(b) >> 8), byte(len(b))}, b...)
	}
	var want []string
	var stream []byte
	seq := uint16(0)
	add := func(ch byte, payload int) {
		seq++
		stream = append(stream, frame(ch, seq, payload)...)
		want = append(want, fmt.Sprintf("%d:%d:%d", ch/2, seq, payload))
	}
	for range 20 {
		add(0, 1400)
	}
	add(2, 160)
	stream = append(stream, "RTSP/1.0 200 OK\r\nCSeq: 9\r\nContent-Length: 5\r\n\r\nhello"...)
	add(0, 40000)                                // larger than the read buffer
	stream = append(stream, frame(1, 999, 8)...) // RTCP: dropped
	stream = append(stream, "\x00\x01junk"...)
	add(0, 65000)
	stream = append(stream, "GET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 3\r\n\r\n"...)
	for range 50 {
		add(0, 900)
	}
	add(2, 20)

	// Byte by byte for the first 3000 bytes, then in uneven chunks.
	go func() {
		for i := 0; i < len(stream); {
			n := 1
			if i >= 3000 {
				n = min(1+i%7919, len(stream)-i)
			}
			if _, err := sc.Write(stream[i : i+n]); err != nil {
				return
			}
			i += n
		}
	}()
	answer := make([]byte, 200)
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := sc.Read(answer)
	if err != nil || !strings.HasPrefix(string(answer[:n]), "RTSP/1.0 501") || !strings.Contains(string(answer[:n]), "CSeq: 3") {
		t.Fatalf("answer to the camera's request: %q %v", answer[:n], err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		got := len(sink.pkts)
		sink.mu.Unlock()
		if got >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sc.Close()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "camera session ended") {
		t.Errorf("read loop ended with %v, want the session ended", err)
	}
	cc.Close()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if strings.Join(sink.pkts, " ") != strings.Join(want, " ") {
		t.Errorf("packets:\n got %v\nwant %v", sink.pkts, want)
	}
	if c.stats.Corrupt.Load() != 0 {
		t.Errorf("corrupt = %d", c.stats.Corrupt.Load())
	}
}

// loopbackPair is a connected pair of TCP sockets on 127.0.0.1: the
// client's end and the server's.
func loopbackPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		cc.Close()
		t.Fatal(err)
	}
	return cc, sc
}

// plainConn is a net.Conn without SyscallConn.
type plainConn struct{ net.Conn }

// TestTCPReadLoopEndlessMessage: a camera that sends a header without end
// gets a clear error, not unbounded memory.
func TestTCPReadLoopEndlessMessage(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer cc.Close()
	defer sc.Close()
	c := &tcpClient{nc: cc, rc: newRTSPConn(cc, nil, 5*time.Second, tcpHandshakeBuffer), stats: &SourceStats{}, timeout: 5 * time.Second}
	go sc.Write([]byte("RTSP/1.0 200 OK\r\nX: " + strings.Repeat("a", 3*tcpReadBuffer)))
	err := c.readLoop(&recordSink{})
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("err = %v", err)
	}
}

type discardSink struct{ n int }

func (s *discardSink) Begin([]codec.Track) error        { return nil }
func (s *discardSink) NoteSPS(int, []byte)              {}
func (s *discardSink) WriteRTP(int, *rtp.Packet, int64) { s.n++ }

// BenchmarkTCPConsume: camrelay's TCP client parsing one 720p frame (eight
// interleaved RTP packets, as one read returns them) in its read buffer.
func BenchmarkTCPConsume(b *testing.B) {
	var stream []byte
	for i := range 8 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Marker: i == 7}, Payload: make([]byte, 1270)}
		raw, _ := p.Marshal()
		stream = append(stream, '$', 0, byte(len(raw)>>8), byte(len(raw)))
		stream = append(stream, raw...)
	}
	c := &tcpClient{stats: &SourceStats{}, buf: make([]byte, tcpReadBuffer)}
	for i := range c.channels {
		c.channels[i] = -1
	}
	c.channels[0] = 0
	sink := &discardSink{}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		c.r, c.w = 0, copy(c.buf, stream)
		if err := c.consume(sink); err != nil {
			b.Fatal(err)
		}
	}
	if sink.n != 8*b.N {
		b.Fatalf("%d packets for %d frames", sink.n, b.N)
	}
}

// TestRTSPSourceAuth relays cameras that ask for Digest with qop="auth"
// and rotate the nonce once after the first authenticated request, over
// camrelay's TCP client (rtspConn) and gortsplib's (udp, auto).
func TestRTSPSourceAuth(t *testing.T) {
	const user, pass = "admin", "pw"
	s := startCamsim(t,
		camsim.CameraConfig{Path: "qop2", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthDigestQop, SecondChallenge: true},
		camsim.CameraConfig{Path: "digest", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthDigest},
		camsim.CameraConfig{Path: "basic", Clip: testClip, User: user, Pass: pass, Auth: camsim.AuthBasic},
	)
	for _, path := range []string{"qop2", "digest", "basic"} {
		for _, tr := range []string{TransportTCP, TransportUDP, TransportAuto} {
			t.Run(path+"/"+tr, func(t *testing.T) {
				r := newMemRing()
				src := &RTSPSource{URL: s.URL(path), Transport: tr, ReadTimeout: 5 * time.Second}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- src.Run(ctx, r) }()
				deadline := time.After(10 * time.Second)
				for {
					r.mu.Lock()
					n := len(r.pkts)
					r.mu.Unlock()
					if n >= 20 {
						break
					}
					select {
					case err := <-done:
						cancel()
						t.Fatalf("source ended: %v", err)
					case <-deadline:
						cancel()
						<-done
						t.Fatalf("%d packets in 10 s", n)
					case <-r.Ready():
					}
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("source: %v", err)
				}
			})
		}
	}

	// Wrong password over TCP: one 401 after the fresh nonce, no endless
	// retries, no password in the error.
	u := strings.Replace(s.URL("qop2"), ":pw@", ":wrong-pw@", 1)
	err := (&RTSPSource{URL: u, Transport: TransportTCP, ReadTimeout: 5 * time.Second}).Run(context.Background(), newMemRing())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || se.Method != "DESCRIBE" || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestTCPKeepAlive: keepalives go at 80% of the session timeout, each an
// OPTIONS with the session (and a new CSeq) followed by an empty RTCP
// receiver report per track, in one write.
func TestTCPKeepAlive(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer cc.Close()
	defer sc.Close()
	u, _ := base.ParseURL("rtsp://127.0.0.1/cam")
	c := &tcpClient{nc: cc, u: u, rc: newRTSPConn(cc, nil, 5*time.Second, tcpHandshakeBuffer), timeout: 5 * time.Second}
	c.rc.noteSession(&base.Response{Header: base.Header{"Session": base.HeaderValue{"s1;timeout=1"}}})
	for i := range c.channels {
		c.channels[i] = -1
	}
	c.channels[0], c.channels[2] = 0, 1
	ka := c.startKeepAlive(2)
	defer ka.stop()

	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(sc)
	start := time.Now()
	for i := range 2 {
		var req base.Request
		if err := req.Unmarshal(br); err != nil {
			t.Fatal(err)
		}
		if req.Method != base.Options || req.Header["Session"][0] != "s1" || req.Header["CSeq"][0] != fmt.Sprint(i+1) {
			t.Fatalf("keepalive %d: %s %v", i, req.Method, req.Header)
		}
		for _, ch := range []int{1, 3} {
			var f base.InterleavedFrame
			if err := f.Unmarshal(br); err != nil {
				t.Fatal(err)
			}
			if f.Channel != ch || len(f.Payload) != 8 || f.Payload[1] != 201 {
				t.Fatalf("receiver report on channel %d: % x", f.Channel, f.Payload)
			}
		}
	}
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Fatalf("two keepalives in %v, want one per 800 ms", el)
	}
}
