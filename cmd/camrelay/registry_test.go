package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

// Issue 10, must show 2: `camrelay probe` against a camera that wants
// Digest with qop="auth" prints its tracks (relaying it always worked; the
// probe's client did not answer qop).
func TestProbeDigestQopCamera(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "qop", User: "admin", Pass: "qop-secret", Auth: camsim.AuthDigestQop})
	var out, errb bytes.Buffer
	if code := run([]string{"probe", "-t", "1s", e.sim.URL("qop")}, &out, &errb); code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "track 0: video H264/90000, 320x240") {
		t.Errorf("probe output lacks the video track:\n%s", s)
	}
	assertNoSecrets(t, "probe output", out.String()+errb.String(), "qop-secret")
}

// An RTMP camera is probed through the same registry as every other kind.
func TestProbeRTMPCamera(t *testing.T) {
	cam := startRTMPCamera(t, "live")
	var out, errb bytes.Buffer
	if code := run([]string{"probe", "-t", "2s", cam.url + "?user=admin&pass=cam-secret"}, &out, &errb); code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errb.String())
	}
	s := out.String()
	for _, want := range []string{"track 0: video H264/90000, 1280x720", "fps", "WebRTC: ready"} {
		if !strings.Contains(s, want) {
			t.Errorf("probe output lacks %q:\n%s", want, s)
		}
	}
	assertNoSecrets(t, "probe output", s+errb.String(), "cam-secret")
	if code := run([]string{"probe", "gopher://127.0.0.1/x"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `unsupported URL scheme "gopher"`) {
		t.Errorf("probe of an unknown scheme: exit %d: %s", code, errb.String())
	}
}

// The readiness check dials an rtsps:// output without a port on 322, the
// RTSPS default, not on RTSP's 554.
func TestReadinessDialsRTSPSDefaultPort(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "cam"})
	e.runRelay(fmt.Sprintf(`
output: rtsps://%s:%s@127.0.0.1/{path}
cameras:
  - name: cam
    source: %s
`, mtxtest.RelayUser, mtxtest.RelayPass, e.sim.URL("cam")))
	var body []byte
	e.eventually(10*time.Second, "readyz to report the sink", func() bool {
		_, body = e.call("GET", "/readyz", nil, false)
		return bytes.Contains(body, []byte("unreachable"))
	})
	if !bytes.Contains(body, []byte("127.0.0.1:322")) || bytes.Contains(body, []byte(":554")) {
		t.Errorf("readyz names the wrong sink address: %s", body)
	}
	assertNoSecrets(t, "readyz", string(body), mtxtest.RelayPass)
}
