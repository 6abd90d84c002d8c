package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// tcpClient plays an RTSP camera over TCP (interleaved) with a read path
// built for relaying many cameras: after PLAY it parses interleaved frames
// and RTP headers in place, in a large read buffer, and hands each payload
// to the sink without allocating, one read syscall covering many packets.
// gortsplib's client allocates a frame, a payload and an rtp.Packet per
// packet; at tens of cameras that garbage is a large share of the CPU. The
// handshake and keepalives go through rtspConn (requests, authentication,
// session) with gortsplib's protocol types (headers, SDP). UDP and
// automatic transport stay with gortsplib's client.
type tcpClient struct {
	src   *RTSPSource
	stats *SourceStats
	u     *base.URL
	rc    *rtspConn // the handshake, keepalives, answers to the camera
	nc    net.Conn  // rc's connection, read directly by the packet path

	timeout time.Duration

	channels [256]int16 // interleaved RTP channel -> track, -1 when none

	// The packet path's read buffer: c.buf[c.r:c.w] not parsed yet.
	buf         []byte
	bufp        *[]byte // buf's pool entry while buf is from readBufs
	r, w        int
	pkt         rtp.Packet
	deadlineSet int64 // codec.Now of the last read deadline renewal
}

// The read buffer holds many ordinary packets; it grows once, to the largest
// interleaved frame, for cameras that send whole 10-60 KB NAL units in one
// RTP packet. The handshake reads through a small bufio.Reader.
const (
	tcpReadBuffer      = 16 << 10
	tcpHandshakeBuffer = 4 << 10
)

func (s *RTSPSource) runTCP(ctx context.Context, u *base.URL, in RTPSink, stats *SourceStats) error {
	c := &tcpClient{src: s, stats: stats, u: u, timeout: s.readTimeout()}
	for i := range c.channels {
		c.channels[i] = -1
	}
	nc, err := dialRTSP(ctx, u, c.timeout)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	c.nc = nc
	c.rc = newRTSPConn(nc, authenticatorFor(u), c.timeout, tcpHandshakeBuffer)
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	tracks, err := c.handshake(in)
	if err != nil {
		return err
	}
	if s.Log != nil {
		s.Log.Debug("source playing", "url", RedactURL(s.URL), "transport", "tcp", "tracks", fmt.Sprint(tracks))
	}

	// Owned helpers, on timers: keepalives (with empty RTCP receiver
	// reports, which some firmware wants) and the stall watchdog. Both end
	// with the session.
	ka := c.startKeepAlive(len(tracks))
	defer func() {
		nc.Close() // a keepalive write in progress fails at once
		ka.stop()
	}()
	watch := watchStall(s.stallTimeout(), stats.Last.Load, func() { nc.Close() })
	err = c.readLoop(in)
	if watch.stop() {
		return fmt.Errorf("%w for %v", ErrStalled, s.stallTimeout())
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// handshake runs OPTIONS, DESCRIBE, SETUP for every track and PLAY.
func (c *tcpClient) handshake(in RTPSink) ([]codec.Track, error) {
	_, _ = c.rc.Do(base.Options, c.u, nil, nil) // some cameras answer OPTIONS badly; DESCRIBE tells
	res, err := c.rc.Do(base.Describe, c.u, base.Header{"Accept": base.HeaderValue{"application/sdp"}}, nil)
	if err != nil {
		return nil, err
	}
	var ssd sdp.SessionDescription
	if err := ssd.Unmarshal(res.Body); err != nil {
		return nil, fmt.Errorf("describe: invalid SDP: %w", err)
	}
	var desc description.Session
	if err := desc.Unmarshal(&ssd); err != nil {
		return nil, fmt.Errorf("describe: invalid SDP: %w", err)
	}
	baseURL, err := contentBase(&ssd, res, c.u)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	// Two interleaved channels per media (RTP, RTCP) out of 256.
	medias, tracks, err := beginTracks(&desc, 128, in)
	if err != nil {
		return nil, err
	}
	for i, m := range medias {
		mu, err := m.URL(baseURL)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		th := headers.Transport{
			Protocol:       headers.TransportProtocolTCP,
			Delivery:       ptr(headers.TransportDeliveryUnicast),
			InterleavedIDs: &[2]int{2 * i, 2*i + 1},
		}
		res, err := c.rc.Do(base.Setup, mu, base.Header{"Transport": th.Marshal()}, nil)
		if err != nil {
			return nil, err
		}
		ch := 2 * i
		var got headers.Transport
		if err := got.Unmarshal(res.Header["Transport"]); err == nil && got.InterleavedIDs != nil {
			ch = got.InterleavedIDs[0] // the camera may pick other channels
		}
		if ch < 0 || ch > 255 || c.channels[ch] >= 0 {
			return nil, fmt.Errorf("setup: the camera chose interleaved channel %d twice or out of range", ch)
		}
		c.channels[ch] = int16(i)
	}
	if _, err := c.rc.Do(base.Play, baseURL, base.Header{"Range": base.HeaderValue{"npt=0.000-"}}, nil); err != nil {
		return nil, err
	}
	return tracks, nil
}

// contentBase is the URL that media control attributes are relative to
// (RFC 2326 C.1.1): the SDP's session control, Content-Base,
// Content-Location, or the request URL.
func contentBase(sd *sdp.SessionDescription, res *base.Response, u *base.URL) (*base.URL, error) {
	pick := func(v string) (*base.URL, error) {
		if strings.HasPrefix(v, "/") {
			v = u.Scheme + "://" + u.Host + v
		}
		ret, err := base.ParseURL(v)
		if err != nil {
			return nil, fmt.Errorf("invalid base URL %q", v)
		}
		ret.User = u.User
		return ret, nil
	}
	if control, ok := sd.Attribute("control"); ok && control != "*" && strings.Contains(control, "://") {
		return pick(control)
	}
	for _, h := range []string{"Content-Base", "Content-Location"} {
		if v, ok := res.Header[h]; ok && len(v) == 1 && v[0] != "" {
			return pick(v[0])
		}
	}
	return u, nil
}

// startKeepAlive sends keepalives every 30 s, or at 80% of the session
// timeout when that is shorter, until stopped.
func (c *tcpClient) startKeepAlive(tracks int) *repeater {
	return repeat(c.rc.KeepAlivePeriod(30*time.Second), func() bool { return c.keepAlive(tracks) })
}

// keepAlive sends OPTIONS (the keepalive every RTSP server answers) and an
// empty RTCP receiver report per track, in one write. False ends the
// keepalives.
func (c *tcpClient) keepAlive(tracks int) bool {
	b, err := c.rc.Marshal(base.Options, c.u, nil)
	if err != nil {
		return false
	}
	for ch, tr := range c.channels {
		if tr < 0 || tr >= int16(tracks) {
			continue
		}
		// '$', RTCP channel, length 8: RR with no report blocks.
		b = append(b, '$', byte(ch+1), 0, 8, 0x80, 201, 0, 1)
		b = binary.BigEndian.AppendUint32(b, 0x63616d72) // "camr"
	}
	return c.rc.Write(b) == nil
}

// readLoop is the packet path: interleaved frames parsed in place in c.buf.
// On a plain TCP connection the loop runs inside one RawConn.Read: after a
// read that did not fill the free space the socket is drained, so it waits
// for the poller instead of issuing the read that would only say EAGAIN.
// That halves the read syscalls per frame (a camera writes a frame at a
// time). A TLS connection reads through the tls.Conn.
func (c *tcpClient) readLoop(in RTPSink) error {
	c.takeBuf()
	// Media that arrived with the PLAY answer is already in the handshake's
	// reader.
	c.w = c.rc.TakeBuffered(c.buf)
	if err := c.consume(in); err != nil {
		return sessionReadError(err)
	}
	if sc, ok := c.nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return c.readRaw(rc, in)
		}
	}
	for {
		c.refreshDeadline()
		if err := c.makeSpace(); err != nil {
			return sessionReadError(err)
		}
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if cerr := c.consume(in); cerr != nil {
			return sessionReadError(cerr)
		}
		if err != nil {
			return sessionReadError(err)
		}
	}
}

func (c *tcpClient) readRaw(rc syscall.RawConn, in RTPSink) error {
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		c.takeBuf()
		for {
			c.refreshDeadline()
			if rerr = c.makeSpace(); rerr != nil {
				return true
			}
			space := len(c.buf) - c.w
			n, err := syscall.Read(int(fd), c.buf[c.w:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				rerr = os.NewSyscallError("read", err)
				return true
			case n == 0:
				rerr = io.EOF
				return true
			}
			c.w += n
			if rerr = c.consume(in); rerr != nil {
				return true
			}
			if n < space {
				// Drained. Data that lands from now on raises a poller
				// event that the wait below consumes, so nothing is missed.
				c.giveBackBuf()
				return false
			}
		}
	})
	if rerr != nil {
		err = rerr
	}
	return sessionReadError(err)
}

// readBufs are the read buffers of the plain TCP packet path, shared by
// every camera: a camera whose reads end on a message boundary (a camera
// writes a frame at a time) holds none between reads, so N idle-waiting
// cameras do not hold N buffers.
var readBufs = sync.Pool{New: func() any {
	b := make([]byte, tcpReadBuffer)
	return &b
}}

// takeBuf gives the client a read buffer when it has none.
func (c *tcpClient) takeBuf() {
	if c.buf == nil {
		c.bufp = readBufs.Get().(*[]byte)
		c.buf, c.r, c.w = *c.bufp, 0, 0
	}
}

// giveBackBuf returns the pooled buffer once nothing in it waits to be
// parsed. A buffer grown for a camera's large packets is the client's own
// and stays.
func (c *tcpClient) giveBackBuf() {
	if c.bufp == nil {
		return
	}
	if &c.buf[0] != &(*c.bufp)[0] { // grown: the pooled one is unused
		readBufs.Put(c.bufp)
		c.bufp = nil
		return
	}
	if c.r == c.w {
		readBufs.Put(c.bufp)
		c.bufp, c.buf, c.r, c.w = nil, nil, 0, 0
	}
}

// refreshDeadline pushes the read deadline out. It costs a timer update, so
// it runs at most once a second: enough for a timeout counted in seconds.
func (c *tcpClient) refreshDeadline() {
	if now := codec.Now(); c.deadlineSet == 0 || time.Duration(now-c.deadlineSet) > time.Second {
		c.nc.SetReadDeadline(time.Now().Add(c.timeout))
		c.deadlineSet = now
	}
}

// makeSpace makes room at the end of c.buf for the next read, moving an
// incomplete message to the front.
func (c *tcpClient) makeSpace() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
		return nil
	}
	if c.w < len(c.buf) && c.r < len(c.buf)/2 {
		return nil
	}
	if c.r == 0 {
		// consume grows the buffer for an interleaved frame that does not
		// fit, so a full buffer is an RTSP message with no end.
		return fmt.Errorf("RTSP message from the camera longer than %d bytes", len(c.buf))
	}
	c.w = copy(c.buf, c.buf[c.r:c.w])
	c.r = 0
	return nil
}

// consume handles every complete message in c.buf[c.r:c.w]. The packets of
// one read arrived together and share its arrival time.
func (c *tcpClient) consume(in RTPSink) error {
	now := codec.Now()
	for c.r < c.w {
		b := c.buf[c.r:c.w]
		if b[0] != base.InterleavedFrameMagicByte {
			n, err := c.readMessage(b)
			if err != nil || n == 0 {
				return err
			}
			c.r += n
			continue
		}
		if len(b) < 4 {
			return nil
		}
		n := 4 + (int(b[2])<<8 | int(b[3]))
		if n > len(b) {
			if n > len(c.buf) {
				// Cameras that send whole 10-60 KB NAL units in one RTP
				// packet: the buffer grows once to the largest frame.
				nb := make([]byte, 4+65535)
				c.w = copy(nb, b)
				c.r = 0
				c.buf = nb
			}
			return nil
		}
		// RTCP (odd channels) and unknown channels are read and dropped.
		if tr := c.channels[b[1]]; tr >= 0 {
			if parseRTP(b[4:n], &c.pkt) {
				in.WriteRTP(int(tr), &c.pkt, now)
			} else {
				c.stats.Corrupt.Add(1)
			}
		}
		c.r += n
	}
	return nil
}

// readMessage handles an RTSP answer (to a keepalive) or a request from the
// camera (answered 501) at the start of b, between interleaved frames. It
// returns how many bytes it used, 0 when the message is not complete yet.
// A byte that starts neither is garbage, skipped to resynchronise.
func (c *tcpClient) readMessage(b []byte) (int, error) {
	if b[0] < 'A' || b[0] > 'Z' {
		return 1, nil
	}
	n := messageLen(b)
	if n == 0 {
		return 0, nil
	}
	br := bufio.NewReader(bytes.NewReader(b[:n]))
	if b[0] == 'R' && len(b) > 1 && b[1] == 'T' {
		var res base.Response
		if err := res.Unmarshal(br); err != nil {
			return 0, err
		}
		switch res.StatusCode {
		case base.StatusSessionNotFound:
			return 0, errors.New("the camera forgot the session (454)")
		case base.StatusUnauthorized:
			// The nonce expired: the next keepalive answers the new one.
			c.rc.auth.Challenge(res.Header["WWW-Authenticate"])
		}
		return n, nil
	}
	var req base.Request
	if err := req.Unmarshal(br); err != nil {
		return 0, err
	}
	res := base.Response{StatusCode: base.StatusNotImplemented, Header: base.Header{"CSeq": req.Header["CSeq"]}}
	out, _ := res.Marshal()
	return n, c.rc.Write(out)
}

// messageLen is the length of the RTSP message at the start of b (head and
// Content-Length body), 0 when b does not hold all of it yet.
func messageLen(b []byte) int {
	head := bytes.Index(b, []byte("\r\n\r\n"))
	if head < 0 {
		return 0
	}
	body := 0
	for _, line := range bytes.Split(b[:head], []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), "Content-Length") {
			body, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	// A Content-Length beyond what b holds (a lie as large as MaxInt would
	// overflow head+4+body) waits for more, until the buffer is full.
	if body < 0 || body > len(b)-head-4 {
		return 0
	}
	return head + 4 + body
}

func sessionReadError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("camera connection timed out: %w", err)
	}
	return fmt.Errorf("camera session ended: %w", err)
}

// parseRTP reads an RTP packet in place: header fields into p, p.Payload a
// slice of b. CSRCs and header extensions are skipped (camrelay does not
// relay them), padding removed. It allocates nothing.
func parseRTP(b []byte, p *rtp.Packet) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	cc := int(b[0] & 0x0f)
	off := 12 + 4*cc
	if len(b) < off {
		return false
	}
	if b[0]&0x10 != 0 { // extension
		if len(b) < off+4 {
			return false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if len(b) < off {
			return false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return false
		}
		end -= pad
	}
	p.Version = 2
	p.Marker = b[1]&0x80 != 0
	p.PayloadType = b[1] & 0x7f
	p.SequenceNumber = binary.BigEndian.Uint16(b[2:])
	p.Timestamp = binary.BigEndian.Uint32(b[4:])
	p.SSRC = binary.BigEndian.Uint32(b[8:])
	p.Payload = b[off:end]
	return true
}
