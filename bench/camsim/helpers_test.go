package camsim

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

const (
	clip320   = "../../testdata/clips/h264_320x240_25.h264"
	clip720   = "../../testdata/clips/h264_1280x720_25.h264"
	audioFile = "../../testdata/clips/g711u_8000.ulaw"
)

func startServer(t *testing.T, cfgs ...CameraConfig) (*Server, []*Camera) {
	t.Helper()
	s := &Server{}
	var cams []*Camera
	for _, cfg := range cfgs {
		c, err := s.AddCamera(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cams = append(cams, c)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, cams
}

// recv is what a test client collected, safe to fill from client callbacks.
type recv struct {
	mu   sync.Mutex
	pkts []rtp.Packet // copies
	rtcp int
}

func (r *recv) addRTP(p *rtp.Packet) {
	cp := *p
	cp.Payload = append([]byte(nil), p.Payload...)
	r.mu.Lock()
	r.pkts = append(r.pkts, cp)
	r.mu.Unlock()
}

func (r *recv) snapshot() ([]rtp.Packet, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtp.Packet(nil), r.pkts...), r.rtcp
}

// loopbackListenPacket keeps gortsplib's UDP client sockets on 127.0.0.1.
func loopbackListenPacket(network, address string) (net.PacketConn, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	return net.ListenPacket(network, net.JoinHostPort("127.0.0.1", port))
}

// gortsplibPlay plays rawURL with gortsplib's client and collects packets.
func gortsplibPlay(t *testing.T, rawURL string, tr gortsplib.Transport) (*gortsplib.Client, *recv, *description.Session, error) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tr, ListenPacket: loopbackListenPacket, ReadTimeout: 5 * time.Second}
	if err = c.Start2(); err != nil {
		return nil, nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	if err = c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	r := &recv{}
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, p *rtp.Packet) { r.addRTP(p) })
	if _, err = c.Play(nil); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return c, r, desc, nil
}

// videoStats summarizes video packets: frames (by marker), stamps in order,
// timestamp steps.
type videoStats struct {
	frames    int
	stamps    []uint64
	tsSteps   map[uint32]int
	maxSize   int
	spsMarker []bool
}

func analyzeVideo(pkts []rtp.Packet) videoStats {
	vs := videoStats{tsSteps: map[uint32]int{}}
	var lastTS uint32
	haveTS := false
	for _, p := range pkts {
		if p.PayloadType != videoPT || len(p.Payload) == 0 {
			continue
		}
		if n := len(p.Payload) + 12; n > vs.maxSize {
			vs.maxSize = n
		}
		switch p.Payload[0] & 0x1f {
		case 6:
			if st, ok := codec.ParseStampSEI(p.Payload, false); ok {
				vs.stamps = append(vs.stamps, st.Frame)
			}
		case 7:
			vs.spsMarker = append(vs.spsMarker, p.Marker)
		}
		if haveTS && p.Timestamp != lastTS {
			vs.tsSteps[p.Timestamp-lastTS]++
		}
		lastTS, haveTS = p.Timestamp, true
		if p.Marker && p.Payload[0]&0x1f != 7 && p.Payload[0]&0x1f != 8 {
			vs.frames++
		}
	}
	return vs
}

func checkVideo(t *testing.T, pkts []rtp.Packet, dur time.Duration, fps int) {
	t.Helper()
	vs := analyzeVideo(pkts)
	want := float64(fps) * dur.Seconds()
	if f := float64(vs.frames); f < want*0.9 || f > want*1.1 {
		t.Errorf("got %d frames in %v, want %.0f within 10%%", vs.frames, dur, want)
	}
	if len(vs.stamps) < vs.frames-1 {
		t.Errorf("got %d stamps for %d frames", len(vs.stamps), vs.frames)
	}
	for i := 1; i < len(vs.stamps); i++ {
		if vs.stamps[i] <= vs.stamps[i-1] {
			t.Fatalf("stamp frame numbers not increasing: %d after %d", vs.stamps[i], vs.stamps[i-1])
		}
	}
	step := uint32(90000 / fps)
	for d, n := range vs.tsSteps {
		if d != step {
			t.Errorf("%d timestamp steps of %d, want only %d", n, d, step)
		}
	}
}

// rawClient is a minimal RTSP client on pkg/conn, for what gortsplib's
// client will not do: qop digests, second challenges, looking at raw packets.
type rawClient struct {
	t    *testing.T
	nc   net.Conn
	c    *conn.Conn
	cseq int
	user string
	pass string
	www  string // last Digest/Basic challenge
	nc8  int
	sess string
}

func dialRaw(t *testing.T, addr, user, pass string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, c: conn.NewConn(nc), user: user, pass: pass}
}

// request sends one request and returns its response, skipping interleaved
// frames that arrive before it.
func (r *rawClient) request(method base.Method, rawURL string, h base.Header) (*base.Response, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cseq++
	if h == nil {
		h = base.Header{}
	}
	h["CSeq"] = base.HeaderValue{strconv.Itoa(r.cseq)}
	if r.sess != "" {
		h["Session"] = base.HeaderValue{r.sess}
	}
	req := &base.Request{Method: method, URL: u, Header: h}
	b, _ := req.Marshal()
	_ = r.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		return nil, err
	}
	for {
		msg, err := r.c.Read()
		if err != nil {
			return nil, err
		}
		if res, ok := msg.(*base.Response); ok {
			if www := res.Header["WWW-Authenticate"]; len(www) > 0 {
				r.www = www[0]
			}
			if s := res.Header["Session"]; len(s) > 0 {
				r.sess, _, _ = strings.Cut(s[0], ";")
			}
			return res, nil
		}
	}
}

func md5h(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// authorization answers the last challenge; qop "auth" is used when offered.
func (r *rawClient) authorization(method base.Method, uri string) base.HeaderValue {
	scheme, rest, _ := strings.Cut(r.www, " ")
	if scheme == "Basic" {
		return headers.Authorization{Method: headers.AuthMethodBasic, Username: r.user, BasicPass: r.pass}.Marshal()
	}
	p := digestParams(rest)
	ha1 := md5h(r.user + ":" + p["realm"] + ":" + r.pass)
	ha2 := md5h(string(method) + ":" + uri)
	v := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s"`, r.user, p["realm"], p["nonce"], uri)
	if p["qop"] == "auth" {
		r.nc8++
		nc := fmt.Sprintf("%08x", r.nc8)
		cnonce := "0a4f113b"
		resp := md5h(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		v += fmt.Sprintf(`, response="%s", qop=auth, nc=%s, cnonce="%s"`, resp, nc, cnonce)
	} else {
		v += fmt.Sprintf(`, response="%s"`, md5h(ha1+":"+p["nonce"]+":"+ha2))
	}
	return base.HeaderValue{v}
}

// do sends a request with credentials (when a challenge is known) and
// retries once on 401, as a well-behaved client does.
func (r *rawClient) do(method base.Method, rawURL string, h base.Header) *base.Response {
	r.t.Helper()
	send := func() *base.Response {
		hh := base.Header{}
		for k, v := range h {
			hh[k] = v
		}
		if r.www != "" && r.user != "" {
			hh["Authorization"] = r.authorization(method, rawURL)
		}
		res, err := r.request(method, rawURL, hh)
		if err != nil {
			r.t.Fatalf("%s: %v", method, err)
		}
		return res
	}
	res := send()
	if res.StatusCode == base.StatusUnauthorized && r.user != "" {
		res = send()
	}
	return res
}

// play does DESCRIBE, SETUP of the video track over TCP (channels 0-1) and
// PLAY, failing the test on any non-200.
func (r *rawClient) play(camURL string, audio bool) string {
	r.t.Helper()
	res := r.do(base.Describe, camURL, nil)
	if res.StatusCode != base.StatusOK {
		r.t.Fatalf("DESCRIBE: %d", res.StatusCode)
	}
	sdp := string(res.Body)
	tracks := 1
	if audio {
		tracks = 2
	}
	for i := range tracks {
		res = r.do(base.Setup, camURL+"/trackID="+strconv.Itoa(i), base.Header{
			"Transport": base.HeaderValue{fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*i, 2*i+1)},
		})
		if res.StatusCode != base.StatusOK {
			r.t.Fatalf("SETUP: %d", res.StatusCode)
		}
	}
	res = r.do(base.Play, camURL, nil)
	if res.StatusCode != base.StatusOK {
		r.t.Fatalf("PLAY: %d", res.StatusCode)
	}
	return sdp
}

type rawRecv struct {
	rtp  []rtp.Packet
	rtcp int
	err  error // why reading stopped early (EOF on a drop), nil on timeout
}

// read collects interleaved packets for d, or until the connection fails.
func (r *rawClient) read(d time.Duration) rawRecv {
	var out rawRecv
	end := time.Now().Add(d)
	_ = r.nc.SetReadDeadline(end)
	for {
		msg, err := r.c.Read()
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				out.err = err
			}
			return out
		}
		fr, ok := msg.(*base.InterleavedFrame)
		if !ok {
			continue
		}
		if fr.Channel%2 == 1 {
			out.rtcp++
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(fr.Payload); err != nil {
			r.t.Fatalf("bad RTP packet: %v", err)
		}
		out.rtp = append(out.rtp, p)
	}
}
