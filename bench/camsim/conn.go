package camsim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
)

const (
	sessionTimeout = 60               // seconds, advertised in the Session header
	udpIdleTimeout = 90 * time.Second // what camsim actually allows, with slack
)

// rtspConn is one client TCP connection. Its goroutine reads requests and
// interleaved frames; camera clocks write media to it under wmu.
type rtspConn struct {
	s        *Server
	nc       net.Conn
	rc       *conn.Conn
	remoteIP netip.Addr

	wmu       sync.Mutex
	closeOnce sync.Once

	// Owned by the reader goroutine.
	cams         []*Camera // cameras this connection named, for Drop
	nonce        string
	reChallenged bool // SecondChallenge already played on this connection
	sess         *session
}

func newRTSPConn(s *Server, nc net.Conn) *rtspConn {
	c := &rtspConn{s: s, nc: nc, rc: conn.NewConn(nc), nonce: newNonce()}
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.remoteIP, _ = netip.AddrFromSlice(ta.IP)
		c.remoteIP = c.remoteIP.Unmap()
	}
	return c
}

// close is safe from any goroutine; the reader goroutine does the cleanup.
func (c *rtspConn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

func (c *rtspConn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
	_, err := c.nc.Write(b)
	return err
}

func (c *rtspConn) writeResponse(res *base.Response) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
	return c.rc.WriteResponse(res)
}

func (c *rtspConn) run() {
	defer c.cleanup()
	log := c.s.log.With("remote", c.nc.RemoteAddr().String())
	for {
		// A TCP session may be silent (no RTCP, no keepalive) and is
		// watched by its write deadline instead; anything else must talk.
		if c.sess != nil && c.sess.playing && c.sess.tcp {
			_ = c.nc.SetReadDeadline(time.Time{})
		} else {
			_ = c.nc.SetReadDeadline(time.Now().Add(udpIdleTimeout))
		}
		msg, err := c.rc.Read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("connection closed", "err", err)
			}
			return
		}
		req, ok := msg.(*base.Request)
		if !ok {
			continue // RTCP receiver reports over interleaved channels, responses: ignored
		}
		res := c.handle(req)
		if res == nil {
			log.Debug("closing without answer", "method", req.Method, "url", redactedReqURL(req))
			return
		}
		if res.Header == nil {
			res.Header = base.Header{}
		}
		if cseq, ok := req.Header["CSeq"]; ok {
			res.Header["CSeq"] = cseq
		}
		res.Header["Server"] = base.HeaderValue{"camsim"}
		log.Debug("request", "method", req.Method, "url", redactedReqURL(req), "status", int(res.StatusCode))
		if err := c.writeResponse(res); err != nil {
			return
		}
		if c.sess != nil && c.sess.playing && !c.sess.dead.Load() && c.sess.pending {
			// Media may only follow the PLAY response.
			c.sess.pending = false
			if !c.sess.cam.play(c.sess) {
				return
			}
		}
	}
}

func redactedReqURL(req *base.Request) string {
	if req.URL == nil {
		return "*"
	}
	return req.URL.CloneWithoutCredentials().String()
}

func (c *rtspConn) cleanup() {
	c.close()
	if c.sess != nil {
		c.sess.dead.Store(true)
		c.sess.cam.unplay(c.sess)
		c.sess = nil
	}
	for _, cam := range c.cams {
		cam.removeConn(c)
	}
	c.s.forgetConn(c)
}

// resolve maps a request URL to a camera and track: "/site/cam1" and
// "/site/cam1/trackID=1". A URL without trackID is track 0, as VLC's SETUP
// of the base URL expects.
func (c *rtspConn) resolve(u *base.URL) (*Camera, int) {
	if u == nil {
		return nil, 0
	}
	p := cleanPath(u.Path)
	track := 0
	if i := strings.LastIndexByte(p, '/'); i >= 0 && strings.HasPrefix(p[i+1:], "trackID=") {
		n, err := strconv.Atoi(p[i+1+len("trackID="):])
		if err != nil || n < 0 {
			return nil, -1
		}
		p, track = p[:i], n
	}
	return c.s.camera(p), track
}

func (c *rtspConn) noteCamera(cam *Camera) bool {
	for _, x := range c.cams {
		if x == cam {
			return true
		}
	}
	if !cam.addConn(c) {
		return false
	}
	c.cams = append(c.cams, cam)
	return true
}

func status(code base.StatusCode) *base.Response {
	return &base.Response{StatusCode: code, Header: base.Header{}}
}

// handle answers one request; nil means close the connection unanswered.
func (c *rtspConn) handle(req *base.Request) *base.Response {
	cam, track := c.resolve(req.URL)
	if c.sess != nil && req.Method != base.Describe && req.Method != base.Options {
		// Requests within a session concern the session's camera, whatever
		// URL the client puts on them.
		if cam == nil || req.Method != base.Setup {
			cam = c.sess.cam
		}
	}
	if cam != nil {
		// A camera that is down takes no new clients; sessions it already
		// has keep their keepalives answered until they are dropped.
		if (c.sess == nil || c.sess.cam != cam) && cam.isDown() {
			return nil
		}
		if !c.noteCamera(cam) {
			return status(base.StatusNotFound)
		}
	}

	switch req.Method {
	case base.Options:
		res := status(base.StatusOK)
		res.Header["Public"] = base.HeaderValue{"OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"}
		return res
	case base.Describe, base.Setup, base.Play, base.Pause, base.Teardown, base.GetParameter, base.SetParameter:
	default:
		return status(base.StatusNotImplemented)
	}
	if cam == nil {
		if req.Method == base.GetParameter && c.sess == nil && len(req.Header["Session"]) == 0 {
			return status(base.StatusOK) // a keepalive on a connection with nothing yet
		}
		return status(base.StatusNotFound)
	}
	if res := c.authorize(req, cam); res != nil {
		return res
	}

	switch req.Method {
	case base.Describe:
		return c.describe(req, cam)
	case base.Setup:
		return c.setup(req, cam, track)
	}

	// PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER: need the session
	// when one is named.
	var sh headers.Session
	hasSession := len(req.Header["Session"]) != 0
	if hasSession {
		if err := sh.Unmarshal(req.Header["Session"]); err != nil {
			return status(base.StatusBadRequest)
		}
	}
	if hasSession && (c.sess == nil || sh.Session != c.sess.id) {
		return status(base.StatusSessionNotFound)
	}
	switch req.Method {
	case base.GetParameter, base.SetParameter:
		res := status(base.StatusOK)
		c.addSessionHeader(res)
		return res
	}
	if !hasSession {
		return status(base.StatusSessionNotFound)
	}
	ss := c.sess
	switch req.Method {
	case base.Play:
		res := status(base.StatusOK)
		c.addSessionHeader(res)
		res.Header["Range"] = base.HeaderValue{"npt=0.000-"}
		if !ss.playing {
			ss.playing, ss.pending, ss.played = true, true, true
		}
		return res
	case base.Pause:
		if ss.playing {
			ss.playing = false
			ss.cam.unplay(ss)
		}
		res := status(base.StatusOK)
		c.addSessionHeader(res)
		return res
	default: // TEARDOWN
		ss.dead.Store(true)
		ss.cam.unplay(ss)
		c.sess = nil
		return status(base.StatusOK)
	}
}

func (c *rtspConn) addSessionHeader(res *base.Response) {
	if c.sess == nil {
		return
	}
	t := uint(sessionTimeout)
	res.Header["Session"] = headers.Session{Session: c.sess.id, Timeout: &t}.Marshal()
}

// authorize answers 401 unless req carries the camera's credentials.
func (c *rtspConn) authorize(req *base.Request, cam *Camera) *base.Response {
	if cam.auth == AuthNone {
		return nil
	}
	stale := false
	switch checkAuth(req, cam.auth, cam.cfg.User, cam.cfg.Pass, c.nonce) {
	case authOK:
		if !cam.cfg.SecondChallenge || c.reChallenged {
			return nil
		}
		c.reChallenged = true
		c.nonce, stale = newNonce(), true
	case authStale:
		c.nonce, stale = newNonce(), true
	}
	res := status(base.StatusUnauthorized)
	res.Header["WWW-Authenticate"] = challenge(cam.auth, c.nonce, stale)
	return res
}

func (c *rtspConn) describe(req *base.Request, cam *Camera) *base.Response {
	res := status(base.StatusOK)
	u := req.URL.CloneWithoutCredentials()
	u.RawQuery, u.RawPath = "", ""
	u.Path = "/" + cam.cfg.Path + "/"
	res.Header["Content-Base"] = base.HeaderValue{u.String()}
	res.Header["Content-Type"] = base.HeaderValue{"application/sdp"}
	res.Body = cam.sdp
	return res
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *rtspConn) setup(req *base.Request, cam *Camera, track int) *base.Response {
	if track < 0 || track >= cam.tracks() {
		return status(base.StatusNotFound)
	}
	ss := c.sess
	if len(req.Header["Session"]) != 0 {
		var sh headers.Session
		if err := sh.Unmarshal(req.Header["Session"]); err != nil {
			return status(base.StatusBadRequest)
		}
		if ss == nil || sh.Session != ss.id {
			return status(base.StatusSessionNotFound)
		}
	} else if ss != nil {
		// One session per connection, as many cameras allow.
		return status(base.StatusAggregateOperationNotAllowed)
	}
	// Tracks are fixed once a session has played: the camera's clock may
	// still be reading them after a PAUSE.
	if ss != nil && (ss.played || ss.cam != cam) {
		return status(base.StatusMethodNotValidInThisState)
	}

	var th headers.Transport
	if err := th.Unmarshal(req.Header["Transport"]); err != nil {
		return status(base.StatusBadRequest)
	}
	if th.Secure || (th.Delivery != nil && *th.Delivery == headers.TransportDeliveryMulticast) ||
		(th.Mode != nil && *th.Mode != headers.TransportModePlay) {
		return status(base.StatusUnsupportedTransport)
	}
	tcp := th.Protocol == headers.TransportProtocolTCP
	if ss != nil && ss.tcp != tcp {
		return status(base.StatusUnsupportedTransport)
	}

	var ts trackSetup
	ts.on = true
	reply := headers.Transport{Protocol: th.Protocol}
	unicast := headers.TransportDeliveryUnicast
	reply.Delivery = &unicast
	if tcp {
		ids := [2]int{2 * track, 2*track + 1}
		if th.InterleavedIDs != nil {
			ids = *th.InterleavedIDs
		}
		if ids[0] < 0 || ids[0] > 254 || ids[1] != ids[0]+1 {
			return status(base.StatusBadRequest)
		}
		if ss != nil {
			for i := range ss.tracks {
				o := &ss.tracks[i]
				if i != track && o.on && (o.ch == byte(ids[0]) || o.ch == byte(ids[1]) || o.ch+1 == byte(ids[0])) {
					return status(base.StatusBadRequest)
				}
			}
		}
		ts.ch = byte(ids[0])
		reply.InterleavedIDs = &ids
	} else {
		// Media goes to the connection's own address and nowhere else; only
		// loopback clients get UDP, so camsim never sends off the machine.
		if th.ClientPorts == nil || !c.remoteIP.IsLoopback() {
			return status(base.StatusUnsupportedTransport)
		}
		p := *th.ClientPorts
		if p[0] <= 0 || p[0] > 65535 || p[1] <= 0 || p[1] > 65535 {
			return status(base.StatusBadRequest)
		}
		ts.rtp = netip.AddrPortFrom(c.remoteIP, uint16(p[0]))
		ts.rtcp = netip.AddrPortFrom(c.remoteIP, uint16(p[1]))
		reply.ClientPorts = &p
		reply.ServerPorts = &[2]int{c.s.rtpPort, c.s.rtcpPort}
	}
	ssrc := cam.vSSRC.Load()
	if track == 1 {
		ssrc = cam.aSSRC.Load()
	}
	reply.SSRC = &ssrc

	if ss == nil {
		ss = &session{id: newSessionID(), cam: cam, c: c, tcp: tcp}
		c.sess = ss
	}
	ss.tracks[track] = ts
	res := status(base.StatusOK)
	res.Header["Transport"] = reply.Marshal()
	c.addSessionHeader(res)
	return res
}
