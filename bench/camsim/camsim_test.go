package camsim

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLoadClip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path          string
		w, h, frames  int
		idrEveryFrame int
	}{
		{clip320, 320, 240, 50, 25},
		{clip720, 1280, 720, 100, 50},
	} {
		c, err := LoadClip(tc.path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Width != tc.w || c.Height != tc.h || c.Frames() != tc.frames || c.FPS != 25 {
			t.Errorf("%s: %dx%d %d frames at %d fps, want %dx%d %d frames at 25", tc.path, c.Width, c.Height, c.Frames(), c.FPS, tc.w, tc.h, tc.frames)
		}
		for i, au := range c.frames {
			vcl, idr := 0, false
			for _, n := range au {
				if typ := n[0] & 0x1f; typ >= 1 && typ <= 5 {
					vcl++
					idr = idr || typ == 5
				}
			}
			if vcl != 1 {
				t.Errorf("%s frame %d: %d slices, want 1", tc.path, i, vcl)
			}
			if idr != (i%tc.idrEveryFrame == 0) {
				t.Errorf("%s frame %d: idr %v", tc.path, i, idr)
			}
		}
	}
	if _, err := LoadClip("nonexistent.h264", 25); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(t.TempDir(), "junk.h264")
	if err := os.WriteFile(junk, []byte("not a clip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClip(junk, 25); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk file: %v", err)
	}
}

// TestPlay plays with gortsplib's client, an independent implementation,
// for each auth method it supports and both transports.
func TestPlay(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t,
		CameraConfig{Path: "open", Clip: clip320, Audio: audioFile},
		CameraConfig{Path: "site/basic", Clip: clip320, User: "admin", Pass: "s3cret:x@y", Auth: AuthBasic},
		CameraConfig{Path: "digest", Clip: clip320, User: "admin", Pass: "pw", Auth: AuthDigest},
	)
	const dur = 2 * time.Second
	for _, path := range []string{"open", "site/basic", "digest"} {
		for _, tr := range []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP} {
			t.Run(path+"/"+tr.String(), func(t *testing.T) {
				t.Parallel()
				c, r, desc, err := gortsplibPlay(t, s.URL(path), tr)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(dur)
				c.Close()
				pkts, _ := r.snapshot()
				checkVideo(t, pkts, dur, 25)
				if path != "open" {
					return
				}
				if len(desc.Medias) != 2 {
					t.Fatalf("%d medias, want video and audio", len(desc.Medias))
				}
				var audio []uint32
				for _, p := range pkts {
					if p.PayloadType == audioPT {
						if len(p.Payload) != pcmuPacketBytes {
							t.Fatalf("audio payload %d bytes", len(p.Payload))
						}
						audio = append(audio, p.Timestamp)
					}
				}
				if n := float64(len(audio)); n < 50*dur.Seconds()*0.9 || n > 50*dur.Seconds()*1.1 {
					t.Errorf("%d audio packets in %v, want 50/s", len(audio), dur)
				}
				for i := 1; i < len(audio); i++ {
					if audio[i]-audio[i-1] != pcmuPacketBytes {
						t.Fatalf("audio timestamp step %d", audio[i]-audio[i-1])
					}
				}
			})
		}
	}
}

func TestDigestQop(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, CameraConfig{Path: "cam", Clip: clip320, User: "u", Pass: "p", Auth: AuthDigestQop})
	u := "rtsp://" + s.Addr() + "/cam"

	r := dialRaw(t, s.Addr(), "u", "p")
	res, err := r.request(base.Describe, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != base.StatusUnauthorized || !strings.Contains(r.www, `qop="auth"`) {
		t.Fatalf("no qop challenge: %d %q", res.StatusCode, r.www)
	}
	// An RFC 2069 answer to a qop challenge is refused.
	www := r.www
	r.www = strings.Replace(www, `, qop="auth"`, "", 1)
	res, _ = r.request(base.Describe, u, base.Header{"Authorization": r.authorization(base.Describe, u)})
	if res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("digest without qop: %d, want 401", res.StatusCode)
	}
	// So is a qop answer with a wrong password.
	r.pass = "wrong"
	res, _ = r.request(base.Describe, u, base.Header{"Authorization": r.authorization(base.Describe, u)})
	if res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", res.StatusCode)
	}
	r.pass = "p"
	r.play(u, false)
	got := r.read(2 * time.Second)
	if got.err != nil {
		t.Fatal(got.err)
	}
	checkVideo(t, got.rtp, 2*time.Second, 25)

	// gortsplib v4's client does not implement qop.
	if c, _, _, err := gortsplibPlay(t, s.URL("cam"), gortsplib.TransportTCP); err == nil {
		c.Close()
		t.Error("gortsplib client without qop support was let in")
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t,
		CameraConfig{Path: "b", Clip: clip320, User: "u", Pass: "p", Auth: AuthBasic},
		CameraConfig{Path: "d", Clip: clip320, User: "u", Pass: "p", Auth: AuthDigest},
	)
	for _, path := range []string{"b", "d"} {
		u := strings.Replace(s.URL(path), "u:p@", "u:nope@", 1)
		_, _, _, err := gortsplibPlay(t, u, gortsplib.TransportTCP)
		var bad liberrors.ErrClientBadStatusCode
		if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
			t.Errorf("%s: %v, want 401", path, err)
		}
		// No credentials at all.
		_, _, _, err = gortsplibPlay(t, "rtsp://"+s.Addr()+"/"+path, gortsplib.TransportTCP)
		if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
			t.Errorf("%s without credentials: %v, want 401", path, err)
		}
	}
}

func TestSecondChallenge(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, CameraConfig{Path: "cam", Clip: clip320, User: "u", Pass: "p", Auth: AuthDigest, SecondChallenge: true})
	u := "rtsp://" + s.Addr() + "/cam"
	r := dialRaw(t, s.Addr(), "u", "p")
	res, _ := r.request(base.Describe, u, nil)
	if res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("no credentials: %d", res.StatusCode)
	}
	first := digestParams(r.www)["nonce"]
	res, _ = r.request(base.Describe, u, base.Header{"Authorization": r.authorization(base.Describe, u)})
	p := digestParams(strings.TrimPrefix(r.www, "Digest "))
	if res.StatusCode != base.StatusUnauthorized || p["nonce"] == first || p["stale"] != "true" {
		t.Fatalf("valid credentials: %d %q, want a second 401 with a new nonce and stale=true", res.StatusCode, r.www)
	}
	res, _ = r.request(base.Describe, u, base.Header{"Authorization": r.authorization(base.Describe, u)})
	if res.StatusCode != base.StatusOK {
		t.Fatalf("retry with the new nonce: %d", res.StatusCode)
	}
	// The old nonce is no longer good.
	r.www = strings.Replace(r.www, p["nonce"], first, 1)
	res, _ = r.request(base.Describe, u, base.Header{"Authorization": r.authorization(base.Describe, u)})
	if res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("old nonce: %d, want 401", res.StatusCode)
	}
}

func TestSDPAndQuirks(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t,
		CameraConfig{Path: "plain", Clip: clip320},
		CameraConfig{Path: "inband", Clip: clip320, InBandOnly: true},
		CameraConfig{Path: "big", Clip: clip720, BigPackets: true},
		CameraConfig{Path: "marker", Clip: clip320, MarkerOnParams: true},
	)
	type result struct {
		sdp string
		vs  videoStats
	}
	paths := []string{"plain", "inband", "big", "marker"}
	res := make([]result, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		r := dialRaw(t, s.Addr(), "", "")
		res[i].sdp = r.play("rtsp://"+s.Addr()+"/"+path, false)
		wg.Go(func() {
			// 2.1 s always holds an IDR: the 320x240 GOP is 1 s, 720p's 2 s.
			res[i].vs = analyzeVideo(r.read(2100 * time.Millisecond).rtp)
		})
	}
	wg.Wait()
	results := map[string]result{}
	for i, path := range paths {
		results[path] = res[i]
	}

	plain, inband := results["plain"], results["inband"]
	for _, want := range []string{"packetization-mode=1", "profile-level-id=", "sprop-parameter-sets=", "a=control:trackID=0", "H264/90000"} {
		if !strings.Contains(plain.sdp, want) {
			t.Errorf("SDP lacks %q:\n%s", want, plain.sdp)
		}
	}
	if strings.Contains(inband.sdp, "sprop-parameter-sets") || !strings.Contains(inband.sdp, "profile-level-id=") {
		t.Errorf("InBandOnly SDP:\n%s", inband.sdp)
	}
	if len(inband.vs.spsMarker) == 0 {
		t.Error("InBandOnly: no SPS in band")
	}
	if big := results["big"].vs.maxSize; big <= 1472 {
		t.Errorf("BigPackets: largest packet %d bytes, want over 1472", big)
	}
	if p := plain.vs.maxSize; p > 1472 {
		t.Errorf("plain camera sent a %d-byte packet", p)
	}
	if m := results["marker"].vs.spsMarker; len(m) == 0 || !m[0] {
		t.Errorf("MarkerOnParams: SPS markers %v", m)
	}
	if m := plain.vs.spsMarker; len(m) == 0 || m[0] {
		t.Errorf("plain camera: SPS markers %v", m)
	}
}

func TestStall(t *testing.T) {
	t.Parallel()
	s, cams := startServer(t, CameraConfig{Path: "cam", Clip: clip320})
	cam := cams[0]
	u := "rtsp://" + s.Addr() + "/cam"
	r := dialRaw(t, s.Addr(), "", "")
	r.play(u, false)
	if got := r.read(300 * time.Millisecond); len(got.rtp) == 0 {
		t.Fatal("no media before the stall")
	}
	cam.Stall(true)
	r.read(100 * time.Millisecond) // what was in flight
	got := r.read(2500 * time.Millisecond)
	if got.err != nil || len(got.rtp) != 0 || got.rtcp == 0 {
		t.Fatalf("stalled: err %v, %d RTP, %d RTCP; want no RTP, some RTCP, connection open", got.err, len(got.rtp), got.rtcp)
	}
	if res := r.do(base.GetParameter, u, nil); res.StatusCode != base.StatusOK {
		t.Fatalf("keepalive while stalled: %d", res.StatusCode)
	}
	if cam.Sessions() != 1 {
		t.Fatalf("%d sessions while stalled", cam.Sessions())
	}
	cam.Stall(false)
	if got := r.read(500 * time.Millisecond); len(got.rtp) == 0 {
		t.Fatal("no media after the stall")
	}
}

func TestDrop(t *testing.T) {
	t.Parallel()
	s, cams := startServer(t, CameraConfig{Path: "cam", Clip: clip320}, CameraConfig{Path: "other", Clip: clip320})
	r := dialRaw(t, s.Addr(), "", "")
	r.play("rtsp://"+s.Addr()+"/cam", false)
	other := dialRaw(t, s.Addr(), "", "")
	other.play("rtsp://"+s.Addr()+"/other", false)
	r.read(200 * time.Millisecond)
	cams[0].Drop()
	got := r.read(time.Second)
	if !errors.Is(got.err, io.EOF) && !errors.Is(got.err, syscall.ECONNRESET) {
		t.Fatalf("after Drop: %v, want the connection closed", got.err)
	}
	if o := other.read(300 * time.Millisecond); o.err != nil || len(o.rtp) == 0 {
		t.Fatalf("other camera affected by Drop: %v", o.err)
	}
	waitFor(t, func() bool { return cams[0].Sessions() == 0 })

	// gortsplib's client sees it too.
	c, _, _, err := gortsplibPlay(t, s.URL("cam"), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(100 * time.Millisecond)
	cams[0].Drop()
	werr := make(chan error, 1)
	go func() { werr <- c.Wait() }()
	select {
	case err := <-werr:
		if err == nil {
			t.Fatal("client ended without error")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("client did not see the drop")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("condition not met in 3 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s, cams := startServer(t, CameraConfig{Path: "cam", Clip: clip320})
	u := "rtsp://" + s.Addr() + "/cam"
	r := dialRaw(t, s.Addr(), "", "")
	r.play(u, false)
	before := r.read(300 * time.Millisecond)
	if len(before.rtp) == 0 {
		t.Fatal("no media")
	}
	last := before.rtp[len(before.rtp)-1]
	lastAt := time.Now()
	cams[0].Restart()
	if got := r.read(time.Second); got.err == nil {
		t.Fatal("Restart did not drop the connection")
	}
	r2 := dialRaw(t, s.Addr(), "", "")
	r2.play(u, false)
	after := r2.read(300 * time.Millisecond)
	if len(after.rtp) == 0 {
		t.Fatal("no media after restart")
	}
	first := after.rtp[0]
	if first.SSRC == last.SSRC {
		t.Error("same SSRC after restart")
	}
	// Continuous timestamps would have advanced by the elapsed time.
	expect := last.Timestamp + uint32(time.Since(lastAt).Seconds()*90000)
	if d := int32(first.Timestamp - expect); d > -90000 && d < 90000 {
		t.Errorf("timestamp continued across restart: %d, expected about %d", first.Timestamp, expect)
	}
}

func TestSetDown(t *testing.T) {
	t.Parallel()
	s, cams := startServer(t, CameraConfig{Path: "cam", Clip: clip320})
	u := "rtsp://" + s.Addr() + "/cam"
	cams[0].SetDown(true)
	r := dialRaw(t, s.Addr(), "", "")
	if _, err := r.request(base.Describe, u, nil); err == nil {
		t.Fatal("DESCRIBE answered while down")
	}
	if _, _, _, err := gortsplibPlay(t, s.URL("cam"), gortsplib.TransportTCP); err == nil {
		t.Fatal("gortsplib played a camera that is down")
	}
	cams[0].SetDown(false)
	r = dialRaw(t, s.Addr(), "", "")
	if res, err := r.request(base.Describe, u, nil); err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("DESCRIBE after SetDown(false): %v", err)
	}
	if cams[0].Connects() != 0 {
		t.Errorf("Connects %d, want 0", cams[0].Connects())
	}
}

func TestCounters(t *testing.T) {
	t.Parallel()
	s, cams := startServer(t, CameraConfig{Path: "cam", Clip: clip320, FPS: 50})
	cam := cams[0]
	time.Sleep(500 * time.Millisecond)
	if n := cam.FramesSent(); n < 20 || n > 30 {
		t.Errorf("FramesSent %d after 0.5 s at 50 fps with nobody watching", n)
	}
	if cam.Sessions() != 0 || cam.Connects() != 0 {
		t.Fatalf("sessions %d connects %d before any client", cam.Sessions(), cam.Connects())
	}
	u := "rtsp://" + s.Addr() + "/cam"
	r1 := dialRaw(t, s.Addr(), "", "")
	r1.play(u, false)
	r2 := dialRaw(t, s.Addr(), "", "")
	r2.play(u, false)
	waitFor(t, func() bool { return cam.Sessions() == 2 })
	if cam.Connects() != 2 {
		t.Errorf("Connects %d, want 2", cam.Connects())
	}
	// Both sessions get the same stream, with 1/50 s steps.
	g1, g2 := r1.read(time.Second), r2.read(50*time.Millisecond)
	checkVideo(t, g1.rtp, time.Second, 50)
	if len(g2.rtp) == 0 || g2.rtp[0].SSRC != g1.rtp[0].SSRC {
		t.Error("sessions of one camera see different streams")
	}
	if res := r1.do(base.Teardown, u, nil); res.StatusCode != base.StatusOK {
		t.Fatalf("TEARDOWN: %d", res.StatusCode)
	}
	waitFor(t, func() bool { return cam.Sessions() == 1 })
	r2.nc.Close()
	waitFor(t, func() bool { return cam.Sessions() == 0 })
	if cam.Connects() != 2 {
		t.Errorf("Connects %d, want 2", cam.Connects())
	}
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, CameraConfig{Path: "cam", Clip: clip320})
	u := "rtsp://" + s.Addr() + "/cam"
	r := dialRaw(t, s.Addr(), "", "")
	check := func(what string, res *base.Response, err error, want base.StatusCode) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", what, res.StatusCode, want)
		}
	}
	res, err := r.request(base.Options, u, nil)
	check("OPTIONS", res, err, base.StatusOK)
	if !strings.Contains(res.Header["Public"][0], "GET_PARAMETER") {
		t.Errorf("Public: %v", res.Header["Public"])
	}
	res, err = r.request(base.Describe, "rtsp://"+s.Addr()+"/nope", nil)
	check("DESCRIBE unknown path", res, err, base.StatusNotFound)
	res, err = r.request(base.Describe, u, nil)
	check("DESCRIBE", res, err, base.StatusOK)
	if cb := res.Header["Content-Base"]; len(cb) != 1 || cb[0] != u+"/" {
		t.Errorf("Content-Base %v", cb)
	}
	res, err = r.request(base.Setup, u+"/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP;multicast;client_port=5000-5001"}})
	check("SETUP multicast", res, err, base.StatusUnsupportedTransport)
	res, err = r.request(base.Setup, u+"/trackID=1", base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=2-3"}})
	check("SETUP missing track", res, err, base.StatusNotFound)
	res, err = r.request(base.Play, u, base.Header{"Session": base.HeaderValue{"12345678"}})
	check("PLAY unknown session", res, err, base.StatusSessionNotFound)
	res, err = r.request(base.Setup, u+"/trackID=0", base.Header{"Transport": base.HeaderValue{"RTP/AVP;unicast;client_port=5000-5001"}})
	check("SETUP udp", res, err, base.StatusOK)
	if !strings.Contains(res.Header["Transport"][0], "server_port=") || !strings.Contains(res.Header["Session"][0], "timeout=60") {
		t.Errorf("SETUP headers: %v", res.Header)
	}
	sess := r.sess
	r.sess = "bogus"
	res, err = r.request(base.GetParameter, u, nil)
	check("GET_PARAMETER unknown session", res, err, base.StatusSessionNotFound)
	r.sess = sess
	res, err = r.request(base.GetParameter, u, nil)
	check("GET_PARAMETER", res, err, base.StatusOK)
	res, err = r.request(base.Teardown, u, nil)
	check("TEARDOWN", res, err, base.StatusOK)
}

func TestAddRemoveCamera(t *testing.T) {
	t.Parallel()
	s := &Server{}
	defer s.Close()
	for _, tc := range []struct {
		cfg  CameraConfig
		want string
	}{
		{CameraConfig{Path: "", Clip: clip320}, "empty path"},
		{CameraConfig{Path: "a"}, `"a": no clip`},
		{CameraConfig{Path: "a", Clip: "missing.h264"}, "missing.h264"},
		{CameraConfig{Path: "a", Clip: clip320, Auth: AuthBasic}, "needs a user"},
		{CameraConfig{Path: "a", Clip: clip320, Audio: "missing.ulaw"}, "audio"},
		{CameraConfig{Path: "a", Clip: clip320, FPS: -1}, "fps"},
	} {
		if _, err := s.AddCamera(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := s.AddCamera(CameraConfig{Path: "/a/", Clip: clip320}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddCamera(CameraConfig{Path: "a", Clip: clip320}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("duplicate path: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Added after Start, with credentials: the URL carries them, Redacted hides them.
	b, err := s.AddCamera(CameraConfig{Path: "b", Clip: clip320, User: "u", Pass: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.URL("b"); got != "rtsp://u:secret@"+s.Addr()+"/b" {
		t.Errorf("URL %s", got)
	}
	if got := Redacted(s.URL("b")); got != "rtsp://u:***@"+s.Addr()+"/b" {
		t.Errorf("Redacted %s", got)
	}
	r := dialRaw(t, s.Addr(), "u", "secret")
	r.play("rtsp://"+s.Addr()+"/b", false)
	if got := r.read(200 * time.Millisecond); len(got.rtp) == 0 {
		t.Fatal("no media from a camera added after Start")
	}
	s.RemoveCamera("b")
	if got := r.read(time.Second); got.err == nil {
		t.Fatal("RemoveCamera left the session open")
	}
	if b.Sessions() != 0 {
		waitFor(t, func() bool { return b.Sessions() == 0 })
	}
	r = dialRaw(t, s.Addr(), "", "")
	if res, err := r.request(base.Describe, "rtsp://"+s.Addr()+"/b", nil); err != nil || res.StatusCode != base.StatusNotFound {
		t.Fatalf("DESCRIBE removed camera: %v", err)
	}
}
