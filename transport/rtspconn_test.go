package transport

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"go.uber.org/goleak"
)

// scriptServer answers each request read on nc with the next of answers
// (a function of the request), and reports the requests it read.
func scriptServer(t *testing.T, nc net.Conn, answers ...func(req *base.Request) string) <-chan *base.Request {
	t.Helper()
	got := make(chan *base.Request, len(answers)+1)
	go func() {
		defer close(got)
		br := bufio.NewReader(nc)
		for _, answer := range answers {
			var req base.Request
			if err := req.Unmarshal(br); err != nil {
				return
			}
			got <- &req
			if _, err := nc.Write([]byte(answer(&req))); err != nil {
				return
			}
		}
	}()
	return got
}

func reply(status, extra string) func(*base.Request) string {
	return func(req *base.Request) string {
		return "RTSP/1.0 " + status + "\r\nCSeq: " + req.Header["CSeq"][0] + "\r\n" + extra + "\r\n"
	}
}

func drain(ch <-chan *base.Request) []*base.Request {
	var out []*base.Request
	for r := range ch {
		out = append(out, r)
	}
	return out
}

func TestRTSPConnDo(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer cc.Close()
	u, _ := base.ParseURL("rtsp://admin:pw@127.0.0.1/cam")
	c := newRTSPConn(cc, authenticatorFor(u), 5*time.Second, 4096)

	got := scriptServer(t, sc,
		// OPTIONS: an answer to an old keepalive, a media frame, then the
		// answer.
		func(req *base.Request) string {
			return "RTSP/1.0 200 OK\r\nCSeq: 99\r\n\r\n" + "$\x00\x00\x03abc" + "GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n" +
				reply("200 OK", "Public: DESCRIBE\r\n")(req)
		},
		reply("401 Unauthorized", `WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth"`+"\r\n"),
		reply("200 OK", "Session: abc;timeout=10\r\n"),
		reply("404 Not Found", ""),
	)
	res, err := c.Do(base.Options, u, nil, nil)
	if err != nil || res.Header["Public"][0] != "DESCRIBE" {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}
	if _, err := c.Do(base.Describe, u, base.Header{"Accept": base.HeaderValue{"application/sdp"}}, nil); err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	if c.session != "abc" || c.KeepAlivePeriod(30*time.Second) != 8*time.Second || c.KeepAlivePeriod(time.Second) != time.Second {
		t.Fatalf("session %q keepalive %v", c.session, c.KeepAlivePeriod(30*time.Second))
	}
	_, err = c.Do(base.Play, u, nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || se.Method != "PLAY" {
		t.Fatalf("PLAY: %v", err)
	}
	sc.Close()
	reqs := drain(got)
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		if r.Header["CSeq"][0] != fmt.Sprint(i+1) || r.Header["User-Agent"][0] != "camrelay" {
			t.Errorf("request %d: %v", i, r.Header)
		}
		if strings.Contains(r.URL.String(), "pw") {
			t.Errorf("request %d URL carries the password: %s", i, r.URL)
		}
	}
	if _, ok := reqs[1].Header["Authorization"]; ok {
		t.Error("credentials sent before the server asked")
	}
	if a := reqs[2].Header["Authorization"]; len(a) != 1 || !strings.Contains(a[0], "qop=auth") || !strings.Contains(a[0], `uri="rtsp://127.0.0.1/cam"`) {
		t.Errorf("DESCRIBE retry authorization %v", a)
	}
	if s := reqs[3].Header["Session"]; len(s) != 1 || s[0] != "abc" {
		t.Errorf("PLAY session %v", s)
	}

	// Marshal: the next request, as bytes, with everything Do puts in.
	b, err := c.Marshal(base.Options, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OPTIONS rtsp://127.0.0.1/cam RTSP/1.0\r\n", "CSeq: 5\r\n", "Session: abc\r\n", "Authorization: Digest ", "nc=00000003"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("keepalive %q lacks %q", b, want)
		}
	}
}

// TestRTSPConnAuthBounded: a server that answers every request with a new
// nonce gets three tries, not an endless loop; a refused nonce ends at once.
func TestRTSPConnAuthBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer cc.Close()
	u, _ := base.ParseURL("rtsp://u:p@127.0.0.1/cam")
	c := newRTSPConn(cc, authenticatorFor(u), 5*time.Second, 4096)
	n := 0
	fresh := func(req *base.Request) string {
		n++
		return reply("401 Unauthorized", fmt.Sprintf("WWW-Authenticate: Digest realm=\"r\", nonce=\"n%d\"\r\n", n))(req)
	}
	got := scriptServer(t, sc, fresh, fresh, fresh, fresh, fresh)
	_, err := c.Do(base.Describe, u, nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("err %v", err)
	}
	sc.Close()
	if reqs := drain(got); len(reqs) != maxAuthTries {
		t.Fatalf("%d requests, want %d", len(reqs), maxAuthTries)
	}

	// No credentials in the URL: the 401 is final.
	cc2, sc2 := loopbackPair(t)
	defer cc2.Close()
	open, _ := base.ParseURL("rtsp://127.0.0.1/cam")
	c2 := newRTSPConn(cc2, authenticatorFor(open), 5*time.Second, 4096)
	got2 := scriptServer(t, sc2, fresh, fresh)
	if _, err := c2.Do(base.Describe, open, nil, nil); !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("err %v", err)
	}
	sc2.Close()
	if reqs := drain(got2); len(reqs) != 1 {
		t.Fatalf("%d requests without credentials", len(reqs))
	}
}

// TestRTSPConnTimeout: a server that never answers fails the request after
// the timeout, saying so.
func TestRTSPConnTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	cc, sc := loopbackPair(t)
	defer cc.Close()
	defer sc.Close()
	u, _ := base.ParseURL("rtsp://127.0.0.1/cam")
	c := newRTSPConn(cc, nil, 100*time.Millisecond, 4096)
	_, err := c.Do(base.Options, u, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "options: timed out") {
		t.Fatalf("err %v", err)
	}
}
