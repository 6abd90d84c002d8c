package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
)

// rtspConn is the control connection of camrelay's own RTSP clients: the
// TCP camera client (tcpClient) and the publisher (pubSession). It owns the
// connection and its reader, and writes every request the same way: CSeq,
// User-Agent, Session once the server gave one, Authorization once the
// server asked (authenticator). Media goes over the same connection
// (interleaved frames); the callers' packet paths read and write the
// net.Conn directly after the handshake.
type rtspConn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration // bounds each write, and each answer's wait
	auth    *authenticator

	wmu sync.Mutex // one write at a time: requests, keepalives, answers

	mu             sync.Mutex // the request state below
	cseq           int
	session        string
	sessionTimeout time.Duration // what the server's Session header said; 0: none
}

// userAgent is how camrelay's clients (RTSP, HTTP) name themselves.
const userAgent = "camrelay"

// maxAuthTries bounds the sends of one request: without credentials, with
// them, and once more for a fresh nonce.
const maxAuthTries = 3

// dialRTSP connects to an RTSP server: TCP to u's host (the registry's
// default port when it has none: 554, 322 for rtsps), TLS for rtsps.
func dialRTSP(ctx context.Context, u *base.URL, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", HostPort((*url.URL)(u)))
	if err != nil {
		return nil, err
	}
	if u.Scheme == "rtsps" {
		nc = tls.Client(nc, &tls.Config{ServerName: u.Hostname()})
	}
	return nc, nil
}

// newRTSPConn wraps a connected nc; auth answers the server's challenges
// (authenticatorFor(u) for the credentials of the URL); readBuffer sizes the
// reader of answers.
func newRTSPConn(nc net.Conn, auth *authenticator, timeout time.Duration, readBuffer int) *rtspConn {
	if auth == nil {
		auth = newAuthenticator("", "", false)
	}
	return &rtspConn{nc: nc, br: bufio.NewReaderSize(nc, readBuffer), timeout: timeout, auth: auth}
}

// Do sends a request and reads its answer, sending it again when a 401's
// challenge makes that worthwhile (credentials asked, a fresh nonce). An
// answer other than 200 is a *StatusError. Interleaved frames that arrive
// meanwhile (media racing the PLAY answer) are dropped, and answers to
// earlier requests (keepalives) skipped. Not for use beside ReadResponse.
func (c *rtspConn) Do(m base.Method, u *base.URL, h base.Header, body []byte) (*base.Response, error) {
	for try := 1; ; try++ {
		req := c.Request(m, u, h, body)
		res, err := c.roundTrip(req)
		if err != nil {
			return nil, requestError(string(m), err)
		}
		if res.StatusCode == base.StatusUnauthorized && try < maxAuthTries && c.auth.Challenge(res.Header["WWW-Authenticate"]) {
			continue
		}
		if res.StatusCode != base.StatusOK {
			return nil, &StatusError{Method: string(m), Code: int(res.StatusCode), Text: res.StatusMessage}
		}
		c.noteSession(res)
		return res, nil
	}
}

// Request builds the next request: the caller's headers plus CSeq,
// User-Agent, Session and Authorization.
func (c *rtspConn) Request(m base.Method, u *base.URL, h base.Header, body []byte) *base.Request {
	req := &base.Request{Method: m, URL: u, Header: make(base.Header, len(h)+4), Body: body}
	for k, v := range h {
		req.Header[k] = v
	}
	c.mu.Lock()
	c.cseq++
	req.Header["CSeq"] = base.HeaderValue{strconv.Itoa(c.cseq)}
	if c.session != "" {
		req.Header["Session"] = base.HeaderValue{c.session}
	}
	c.mu.Unlock()
	req.Header["User-Agent"] = base.HeaderValue{userAgent}
	if a := c.auth.Authorization(string(m), u.CloneWithoutCredentials().String()); a != "" {
		req.Header["Authorization"] = base.HeaderValue{a}
	}
	return req
}

// Marshal builds the next request (Request) as bytes, for a caller that
// writes it among its own data: a keepalive in a buffer of media.
func (c *rtspConn) Marshal(m base.Method, u *base.URL, h base.Header) ([]byte, error) {
	return c.Request(m, u, h, nil).Marshal()
}

// Write writes b at once, under the write lock and deadline.
func (c *rtspConn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(b)
	return err
}

func (c *rtspConn) roundTrip(req *base.Request) (*base.Response, error) {
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	if err := c.Write(b); err != nil {
		return nil, err
	}
	cseq := req.Header["CSeq"][0]
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	for {
		res, err := c.ReadResponse()
		if err != nil {
			return nil, err
		}
		if v := res.Header["CSeq"]; len(v) == 1 && v[0] != cseq {
			continue // an answer to an earlier request (a keepalive)
		}
		return res, nil
	}
}

// ReadResponse reads the next answer from the server, skipping interleaved
// frames (RTCP, media) and requests from the server. The caller sets the
// read deadline. One reader at a time.
func (c *rtspConn) ReadResponse() (*base.Response, error) {
	for {
		b, err := c.br.Peek(4)
		if err != nil {
			return nil, err
		}
		switch {
		case b[0] == base.InterleavedFrameMagicByte:
			if _, err := c.br.Discard(4 + int(binary.BigEndian.Uint16(b[2:]))); err != nil {
				return nil, err
			}
		case string(b) == "RTSP":
			var res base.Response
			if err := res.Unmarshal(c.br); err != nil {
				return nil, err
			}
			return &res, nil
		default:
			var req base.Request
			if err := req.Unmarshal(c.br); err != nil {
				return nil, err
			}
		}
	}
}

// Buffered is what the reader holds beyond the answers read: media that
// arrived with the PLAY answer. The slice is valid until the next read; a
// caller that takes over the connection's reading copies it first.
func (c *rtspConn) Buffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// TakeBuffered returns what was read past the last answer and gives up the
// read buffer: from here on the caller reads the connection itself (the TCP
// camera client's packet path) and only writes through c.
func (c *rtspConn) TakeBuffered(dst []byte) int {
	n := copy(dst, c.Buffered())
	c.br = nil
	return n
}

// noteSession keeps the session ID and timeout of an answer.
func (c *rtspConn) noteSession(res *base.Response) {
	v, ok := res.Header["Session"]
	if !ok {
		return
	}
	var sx headers.Session
	if err := sx.Unmarshal(v); err != nil {
		return
	}
	c.mu.Lock()
	c.session = sx.Session
	if sx.Timeout != nil && *sx.Timeout > 0 {
		c.sessionTimeout = time.Duration(*sx.Timeout) * time.Second
	}
	c.mu.Unlock()
}

// KeepAlivePeriod is how often to send keepalives: def, or 80% of the
// session timeout the server announced when that is shorter.
func (c *rtspConn) KeepAlivePeriod(def time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.sessionTimeout * 8 / 10; t > 0 && t < def {
		return t
	}
	return def
}
