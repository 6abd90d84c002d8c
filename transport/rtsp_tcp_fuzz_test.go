package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// Fuzz targets of the parsers that read bytes a camera (or a server) sent.
// Their seeds run in every go test; scripts/fuzz.sh runs each for a few
// seconds in make test and for longer in make fuzz. The seeds mirror what
// cameras send, quirks included; crashers found on the way are kept under
// testdata/fuzz/<Target>/.

// scriptConn is a net.Conn that serves a fixed byte stream in reads of the
// sizes chunk gives (all that fits when chunk is nil), then io.EOF, and
// swallows writes. Deadlines are ignored: the stream never blocks.
type scriptConn struct {
	data   []byte
	chunk  func() int
	writes int
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if c.chunk != nil {
		n = min(n, c.chunk())
	}
	n = copy(p[:n], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) { c.writes++; return len(p), nil }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 554}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// chunker turns fuzz bytes into read sizes (1 to 256, cycling), so that a
// message can arrive split at any byte. No bytes: one read of everything.
func chunker(sizes []byte) func() int {
	if len(sizes) == 0 {
		return nil
	}
	i := 0
	return func() int {
		n := int(sizes[i%len(sizes)]) + 1
		i++
		return n
	}
}

// logSink is an RTPSink that records what it gets, in a form to compare.
type logSink struct {
	t      *testing.T
	tracks []codec.Track
	log    []string
	sps    int
}

func (s *logSink) Begin(tracks []codec.Track) error {
	s.tracks = append(s.tracks[:0], tracks...)
	return nil
}

func (s *logSink) NoteSPS(track int, sps []byte) {
	if track < 0 || track >= len(s.tracks) || len(sps) == 0 {
		s.t.Fatalf("NoteSPS(%d, %d bytes) with %d tracks", track, len(sps), len(s.tracks))
	}
	s.sps++
}

func (s *logSink) WriteRTP(track int, p *rtp.Packet, _ int64) {
	if p.Version != 2 || len(p.Payload) > 0xffff-12 {
		s.t.Fatalf("track %d: version %d, %d-byte payload", track, p.Version, len(p.Payload))
	}
	s.log = append(s.log, fmt.Sprintf("%d:%d:%d:%d:%v:%d:%q", track, p.PayloadType, p.SequenceNumber, p.Timestamp, p.Marker, p.SSRC, p.Payload))
}

// interleaved frames an RTP packet (or any payload) on a channel.
func interleaved(ch byte, b []byte) []byte {
	return append([]byte{'$', ch, byte(len(b) >> 8), byte(len(b))}, b...)
}

func rtpBytes(seq uint16, marker bool, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000 * uint32(seq), SSRC: 7, Marker: marker}, Payload: payload}
	b, _ := p.Marshal()
	return b
}

func fuzzTCPClient(conn *scriptConn) *tcpClient {
	c := &tcpClient{nc: conn, stats: &SourceStats{}, timeout: time.Second}
	c.rc = newRTSPConn(conn, newAuthenticator("admin", "pa:ss", true), time.Second, tcpHandshakeBuffer)
	for i := range c.channels {
		c.channels[i] = -1
	}
	c.channels[0], c.channels[2], c.channels[4] = 0, 1, 2
	return c
}

// feedTCP runs the packet path of readLoop over data, each read as large as
// chunk says and the free space allows, and checks the buffer's bounds
// after every step. It returns what the sink got, the answers written and
// whether the session failed.
func feedTCP(t *testing.T, data []byte, chunk func() int) ([]string, int, bool) {
	conn := &scriptConn{}
	c := fuzzTCPClient(conn)
	sink := &logSink{t: t, tracks: make([]codec.Track, 3)}
	c.buf = make([]byte, tcpReadBuffer)
	for len(data) > 0 {
		if err := c.makeSpace(); err != nil {
			return sink.log, conn.writes, true
		}
		n := len(c.buf) - c.w
		if chunk != nil {
			n = min(n, chunk())
		}
		n = copy(c.buf[c.w:c.w+n], data)
		c.w += n
		data = data[n:]
		err := c.consume(sink)
		if c.r < 0 || c.r > c.w || c.w > len(c.buf) || len(c.buf) > 4+0xffff {
			t.Fatalf("buffer out of bounds: r %d w %d len %d", c.r, c.w, len(c.buf))
		}
		if err != nil {
			return sink.log, conn.writes, true
		}
	}
	return sink.log, conn.writes, false
}

// FuzzTCPInterleaved feeds the TCP camera client's packet path (consume,
// readMessage, messageLen, parseRTP) any byte stream, in one read and
// split into reads of fuzzed sizes. It must not panic, keep its buffer
// within one largest interleaved frame, allocate in proportion to the
// input, and give the same packets, answers and verdict however the stream
// was split.
func FuzzTCPInterleaved(f *testing.F) {
	small := rtpBytes(1, false, []byte{0x65, 1, 2, 3})
	big := rtpBytes(2, true, bytes.Repeat([]byte{0x41}, 10<<10)) // some cameras send 10 KB packets
	rtcpSR := []byte{0x80, 200, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	keepaliveOK := "RTSP/1.0 200 OK\r\nCSeq: 5\r\nSession: 1234;timeout=60\r\n\r\n"
	withBody := "RTSP/1.0 200 OK\r\nCSeq: 6\r\nContent-Length: 12\r\nContent-Type: text/parameters\r\n\r\nposition: 0\n"
	serverReq := "GET_PARAMETER rtsp://127.0.0.1/stream RTSP/1.0\r\nCSeq: 2\r\nSession: 1234\r\n\r\n"
	nonce401 := "RTSP/1.0 401 Unauthorized\r\nCSeq: 7\r\nWWW-Authenticate: Digest realm=\"IP Camera(23431)\", nonce=\"a, b, c\", qop=\"auth,auth-int\"\r\n\r\n"
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	seeds := [][]byte{
		cat(interleaved(0, small), interleaved(2, small), interleaved(1, rtcpSR)),
		cat(interleaved(0, big), interleaved(0, small)),
		cat(interleaved(0, small), []byte(keepaliveOK), interleaved(0, small)),
		cat([]byte(withBody), interleaved(2, small), []byte(serverReq), interleaved(4, small)),
		cat([]byte(nonce401), interleaved(0, small)),
		cat([]byte("\x00\xffjunk\r\n"), interleaved(0, small)),                     // garbage between frames
		cat(interleaved(3, rtcpSR), interleaved(5, rtcpSR), interleaved(9, small)), // RTCP on odd channels, an unknown channel
		cat(interleaved(0, []byte{0x80, 0x60, 0})),                                 // a runt RTP packet
		[]byte("RTSP/1.0 454 Session Not Found\r\nCSeq: 8\r\n\r\n"),
		[]byte("RTSP/1.0 200 OK\r\nCSeq: 9\r\nContent-Length: 99999999\r\n\r\n"),
		[]byte("RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n"),
		[]byte("RTSP/1.0 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n"),
		cat([]byte{'$', 0, 0xff, 0xff}, make([]byte, 0xffff)),
	}
	for _, s := range seeds {
		f.Add(s, []byte{})
		f.Add(s, []byte{0, 2, 4, 200, 15})
	}
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		whole, wholeW, wholeErr := feedTCP(t, data, nil)
		runtime.ReadMemStats(&after)
		// The read buffer (at most 64 KB plus the initial 16 KB), and per
		// RTSP message a reader and its parse: never more than that.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(256<<10+1024*len(data)+len(whole)*256+64*len(data)); got > limit {
			t.Fatalf("%d bytes allocated for a %d-byte stream (limit %d)", got, len(data), limit)
		}
		split, splitW, splitErr := feedTCP(t, data, chunker(sizes))
		if wholeErr != splitErr || wholeW != splitW || strings.Join(whole, "\n") != strings.Join(split, "\n") {
			t.Fatalf("split reads change the outcome: whole %d packets, %d answers, failed %v; split %d packets, %d answers, failed %v",
				len(whole), wholeW, wholeErr, len(split), splitW, splitErr)
		}
	})
}

// FuzzParseRTPHeader checks the in-place RTP parser against pion's: where
// both accept a packet, they agree on every field camrelay relays.
func FuzzParseRTPHeader(f *testing.F) {
	f.Add(rtpBytes(1, true, []byte{0x65, 0x88}))
	ext := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: 9, SSRC: 1, CSRC: []uint32{5}}, Payload: []byte{1, 2, 3}}
	ext.Header.SetExtension(1, []byte{1, 2})
	b, _ := ext.Marshal()
	f.Add(b)
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		ok := parseRTP(b, &p)
		var ref rtp.Packet
		if ok && ref.Unmarshal(b) == nil {
			if p.Marker != ref.Marker || p.PayloadType != ref.PayloadType || p.SequenceNumber != ref.SequenceNumber ||
				p.Timestamp != ref.Timestamp || p.SSRC != ref.SSRC || !bytes.Equal(p.Payload, ref.Payload) {
				t.Fatalf("in place %+v %x, pion %+v %x", p.Header, p.Payload, ref.Header, ref.Payload)
			}
		}
		if ok && len(b) >= 12 && binary.BigEndian.Uint16(b[2:]) != p.SequenceNumber {
			t.Fatal("sequence number misread")
		}
	})
}
