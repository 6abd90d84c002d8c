package transport

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// describeOutcome is what a DESCRIBE over the control connection came to.
type describeOutcome struct {
	err       string
	status    int
	body      string
	session   string
	keepalive time.Duration
	writes    int
	next      []int // status codes of the answers read after it
}

func runDescribe(t *testing.T, data []byte, chunk func() int) describeOutcome {
	conn := &scriptConn{data: data, chunk: chunk}
	rc := newRTSPConn(conn, newAuthenticator("admin", "pa:ss", true), time.Second, tcpHandshakeBuffer)
	u, _ := base.ParseURL("rtsp://admin:pa%3Ass@127.0.0.1:554/Streaming/Channels/101")
	var o describeOutcome
	res, err := rc.Do(base.Describe, u, base.Header{"Accept": base.HeaderValue{"application/sdp"}}, nil)
	o.writes = conn.writes
	if o.writes < 1 || o.writes > maxAuthTries {
		t.Fatalf("%d requests sent", o.writes)
	}
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			o.status = se.Code
			if se.Code == 200 {
				t.Fatal("200 reported as an error")
			}
		}
		o.err = "failed"
	} else {
		if res.StatusCode != base.StatusOK {
			t.Fatalf("Do returned status %d without an error", res.StatusCode)
		}
		o.status, o.body = int(res.StatusCode), string(res.Body)
		if len(res.Body) > 128<<10 {
			t.Fatalf("%d-byte body", len(res.Body))
		}
	}
	rc.mu.Lock()
	o.session = rc.session
	rc.mu.Unlock()
	o.keepalive = rc.KeepAlivePeriod(30 * time.Second)
	if o.keepalive <= 0 || o.keepalive > 30*time.Second {
		t.Fatalf("keepalive period %v", o.keepalive)
	}
	if n := len(rc.Buffered()); n > tcpHandshakeBuffer {
		t.Fatalf("%d bytes buffered", n)
	}
	// Whatever follows (keepalive answers between media) goes through
	// ReadResponse.
	for range 64 {
		res, err := rc.ReadResponse()
		if err != nil {
			break
		}
		o.next = append(o.next, int(res.StatusCode))
	}
	return o
}

// FuzzRTSPDescribe plays a camera's side of the control connection: the
// fuzzed bytes are everything it answers to a DESCRIBE (401 challenges,
// interleaved media racing the answer, requests of its own, answers to
// other CSeqs), delivered in one read and split into reads of fuzzed
// sizes. rtspConn must not panic, must send at most maxAuthTries requests,
// report 200 only as success, keep sane session state, allocate in
// proportion to the input, and come to the same outcome however the bytes
// were split.
func FuzzRTSPDescribe(f *testing.F) {
	sdpBody := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"
	ok := fmt.Sprintf("RTSP/1.0 200 OK\r\nCSeq: %%d\r\nContent-Base: rtsp://127.0.0.1:554/Streaming/Channels/101/\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdpBody), sdpBody)
	digest := "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"IP Camera(C3412)\", nonce=\"4e6f6e63652c2077697468\", stale=\"FALSE\"\r\nWWW-Authenticate: Basic realm=\"IP Camera\"\r\n\r\n"
	qop := "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"cam, inc\", qop=\"auth,auth-int\", nonce=\"n1,n2\", opaque=\"x\", algorithm=SHA-256\r\n\r\n"
	seeds := []string{
		fmt.Sprintf(ok, 1),
		digest + fmt.Sprintf(ok, 2),
		qop + fmt.Sprintf(ok, 2),
		digest + "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"fresh\"\r\n\r\n" + fmt.Sprintf(ok, 3), // nonce rotated once
		digest + "RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"IP Camera(C3412)\", nonce=\"4e6f6e63652c2077697468\"\r\n\r\n",
		"$\x00\x00\x04abcd" + "RTSP/1.0 200 OK\r\nCSeq: 0\r\n\r\n" + fmt.Sprintf(ok, 1) + "$\x01\x00\x02zz",
		"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n" + fmt.Sprintf(ok, 1),
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 12345678;timeout=5\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: ;timeout=-3\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 500\r\n\r\nshort",
		"RTSP/1.0 404 Stream Not Found\r\nCSeq: 1\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\n\r\n",
		"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 131073\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{0, 7, 30, 1})
	}
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		whole := runDescribe(t, data, nil)
		runtime.ReadMemStats(&after)
		// Per answer: its parse, a body of at most 128 KB; per request:
		// the request. A few answers in 64 KB can only be small.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(1<<20+64*len(data)); got > limit {
			t.Fatalf("%d bytes allocated for %d bytes of answers (limit %d)", got, len(data), limit)
		}
		split := runDescribe(t, data, chunker(sizes))
		if fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("split reads change the outcome:\nwhole %+v\nsplit %+v", whole, split)
		}
	})
}
