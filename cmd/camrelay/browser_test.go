package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/internal/testenv/netns"
	"github.com/camrelay/camrelay/relay/auth"
)

// chromiumFlags run Chromium headless, offline and quiet: no sync,
// component updates, metrics, media-router discovery or other background
// requests, and a throwaway profile. WebRTC (DESIGN.md, "Network
// hygiene"): no mDNS host names (resolving them needs multicast); the IP
// handling policy "default" without media permissions lets Chromium use the
// default route's interface only, and enumerate no adapters. In the
// namespace there is no default route and nothing but lo, so the offer
// carries no host candidate at all (the test checks that any it carries is
// loopback): Chromium's connectivity checks leave its wildcard socket for
// MediaMTX's only candidate, 127.0.0.1, and MediaMTX learns the browser's
// 127.0.0.1 address from them (peer-reflexive). Loopback is allowed in
// peer connections, where Chromium would otherwise drop it.
func chromiumFlags(profile string) []string {
	return []string{
		"--headless=new",
		"--no-sandbox", // as root, which the namespace needs
		"--disable-gpu",
		"--disable-dev-shm-usage",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-default-apps",
		"--disable-extensions",
		"--disable-breakpad",
		"--disable-domain-reliability",
		"--metrics-recording-only",
		"--password-store=basic",
		"--use-mock-keychain",
		"--mute-audio",
		"--autoplay-policy=no-user-gesture-required",
		"--user-data-dir=" + profile,
		"--window-size=1100,760",
		"--allow-loopback-in-peer-connection",
		"--force-webrtc-ip-handling-policy=default",
		"--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,DialMediaRouteProvider,OptimizationHints,Translate",
		"about:blank",
	}
}

// cardInfo is what the page shows of one camera.
type cardInfo struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Preview string `json:"preview"`
	Frames  int    `json:"frames"`
	Reason  string `json:"reason"`
	Hidden  bool   `json:"hidden"`
	Viewers string `json:"viewers"`
}

// cardsJS reads every card, counting decoded frames from the video element
// itself (getVideoPlaybackQuality), not from what the page says.
const cardsJS = `[...document.querySelectorAll('article.cam')].map(a => {
  const v = a.querySelector('video');
  const q = v && v.srcObject && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
  return {name: a.dataset.name, state: a.dataset.state || '', preview: a.dataset.preview || '', frames: q,
          reason: a.querySelector('.reason').textContent, hidden: a.hidden,
          viewers: a.querySelector('[data-f="viewers"]').textContent};
})`

// Issue 13, "Must show" 1 and 5: the status page in a real browser.
// Headless Chromium loads the page from an in-process camrelay (API behind
// Basic auth, its JWT issuer on) that relays camsim cameras into a real
// MediaMTX with WebRTC on, which trusts camrelay's tokens: every camera is
// listed streaming, previews play over WHEP with the page's short-lived
// read tokens (frames decoded in the page), a camera removed from camsim
// shows its error within 10 s, the camera page has its state history and
// latency sparkline, and a screenshot is saved. A request without
// credentials gets 401 and no data.
func TestStatusPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short (race) runs; runs in the full suite")
	}
	bin, err := chromiumBinary()
	if err != nil {
		t.Skip(err.Error())
	}
	if !netns.InLoopback(t, 4*time.Minute) {
		return
	}

	// MediaMTX in jwt mode, trusting camrelay's JWKS, with WHEP on loopback.
	apiPort := loopback.TCPPort(t)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	webrtcPort, iceUDPPort := loopback.TCPPort(t), loopback.UDPPort(t)
	e := newEnv(t, mtxtest.Config{AuthMethod: "jwt", AuthJWTJWKS: apiURL + "/.well-known/jwks.json",
		Extra: "authJWTExclude: [{action: api}, {action: metrics}]\n" + mtxtest.WebRTCLoopback(webrtcPort, iceUDPPort)})
	e.reconcileEvery = time.Second // viewer counts from MediaMTX's API, refreshed each second
	names := []string{"entrance", "lobby", "parking"}
	for _, n := range names {
		e.camera(camsim.CameraConfig{Path: n})
	}
	const apiPass = "page-pass"
	hash, err := auth.HashArgon2id(apiPass)
	if err != nil {
		t.Fatal(err)
	}
	var cams strings.Builder
	for _, n := range names {
		fmt.Fprintf(&cams, "  - {name: %s, source: %q, transport: tcp}\n", n, e.sim.URL(n))
	}
	e.runRelay(fmt.Sprintf(`output: rtsp://camrelay@%s/{path}
%s
api:
  listen: 127.0.0.1:%d
  users: [{user: admin, pass: '%s'}]
mediamtx: {api: %s}
auth: {keys: %s, publish_tokens: true}
ui: {whep_url: 'http://{host}:%d/{path}/whep'}
cameras:
%s`, e.mtx.RTSPAddr(), fastDefaults, apiPort, hash, e.mtx.APIURL(), filepath.Join(t.TempDir(), "keys"), webrtcPort, cams.String()))
	e.waitReady(30*time.Second, names...)

	// Bad input: the page without credentials is 401 and carries nothing.
	res, err := http.Get(apiURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "<html") || strings.Contains(string(body), "lobby") {
		t.Errorf("GET / without credentials: %s: %s", res.Status, body)
	}

	ch, err := startChrome(bin, chromiumFlags(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	console := &consoleLog{}
	console.collect(ch)
	tb, err := ch.newTab(ctx)
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(ch.stderr.String(), 3000))
	}
	// The browser answers the API's Basic challenge as a user typing the
	// password would; only the API's own requests are intercepted.
	ch.on("Fetch.requestPaused", func(s string, p json.RawMessage) {
		var ev struct {
			RequestID string `json:"requestId"`
		}
		json.Unmarshal(p, &ev)
		ch.send(s, "Fetch.continueRequest", map[string]any{"requestId": ev.RequestID})
	})
	ch.on("Fetch.authRequired", func(s string, p json.RawMessage) {
		var ev struct {
			RequestID string `json:"requestId"`
		}
		json.Unmarshal(p, &ev)
		ch.send(s, "Fetch.continueWithAuth", map[string]any{"requestId": ev.RequestID,
			"authChallengeResponse": map[string]any{"response": "ProvideCredentials", "username": "admin", "password": apiPass}})
	})
	for _, m := range []struct {
		method string
		params any
	}{
		{"Runtime.enable", nil},
		{"Log.enable", nil},
		{"Page.enable", nil},
		{"Fetch.enable", map[string]any{"handleAuthRequests": true, "patterns": []any{map[string]any{"urlPattern": apiURL + "/*"}}}},
		{"Page.navigate", map[string]any{"url": apiURL + "/"}},
	} {
		if err := tb.call(ctx, m.method, m.params, nil); err != nil {
			t.Fatal(err)
		}
	}

	artifacts := artifactDir(t)
	shot := func(name string) string {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		png, err := tb.screenshot(sctx)
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return ""
		}
		p := filepath.Join(artifacts, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return ""
		}
		t.Logf("screenshot: %s", p)
		return p
	}
	var cards []cardInfo
	// fail reports with what the page showed and said.
	fail := func(format string, a ...any) {
		t.Helper()
		shot("status-page-failure.png")
		js, _ := json.MarshalIndent(cards, "", "  ")
		t.Fatalf(format+"\ncards: %s\npage console:\n%s\nchromium (tail):\n%s", append(a, js, console.String(), tail(ch.stderr.String(), 3000))...)
	}
	readCards := func() bool {
		ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
		defer ecancel()
		var cs []cardInfo
		if err := tb.eval(ectx, cardsJS, &cs); err != nil {
			console.add("test: reading the cards: " + err.Error())
			return false
		}
		cards = cs
		return true
	}
	card := func(name string) cardInfo {
		for _, c := range cards {
			if c.Name == name {
				return c
			}
		}
		return cardInfo{}
	}

	// Every camera is listed, streaming.
	if !waitWithin(60*time.Second, func() bool {
		if !readCards() || len(cards) != len(names) {
			return false
		}
		for _, n := range names {
			if card(n).State != "streaming" {
				return false
			}
		}
		return true
	}) {
		fail("the page does not list %v all streaming within 60s", names)
	}

	// Chromium's ICE candidates are loopback addresses, never mDNS names
	// (which need multicast) nor another interface's.
	var cands []string
	if err := tb.eval(ctx, `(async () => {
	  const pc = new RTCPeerConnection({iceServers: []});
	  pc.addTransceiver('video', {direction: 'recvonly'});
	  await pc.setLocalDescription(await pc.createOffer());
	  await new Promise((r) => { setTimeout(r, 3000);
	    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); }; });
	  const c = pc.localDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate'));
	  pc.close();
	  return c; })()`, &cands); err != nil {
		fail("gathering ICE candidates: %v", err)
	}
	for _, c := range cands {
		if f := strings.Fields(c); len(f) < 5 || (f[4] != "127.0.0.1" && f[4] != "::1") {
			t.Errorf("Chromium offers a candidate that is not loopback: %s", c)
		}
	}
	t.Logf("Chromium's ICE candidates: %q", cands)

	// Previews play: frames decoded in the page, through WebRTC.
	playing := func() int {
		n := 0
		for _, c := range cards {
			if c.Preview == "webrtc" && c.Frames > 0 {
				n++
			}
		}
		return n
	}
	if !waitWithin(60*time.Second, func() bool { return readCards() && playing() >= 2 }) {
		fail("fewer than two previews decode video over WebRTC within 60s")
	}
	// ...and keep playing: the frame counts grow.
	before := map[string]int{}
	for _, c := range cards {
		before[c.Name] = c.Frames
	}
	if !waitWithin(20*time.Second, func() bool {
		if !readCards() {
			return false
		}
		grew := 0
		for _, c := range cards {
			if c.Preview == "webrtc" && c.Frames > before[c.Name]+10 {
				grew++
			}
		}
		return grew >= 2
	}) {
		fail("the previews stopped decoding")
	}
	if paths := e.paths(); len(paths["lobby"].Readers) == 0 {
		t.Errorf("MediaMTX has no reader on lobby while the page plays it: %+v", paths["lobby"])
	}
	// The page counts itself among the viewers MediaMTX reports.
	if !waitWithin(15*time.Second, func() bool { return readCards() && card("lobby").Viewers == "1" }) {
		fail("lobby's card does not show the page's own viewer")
	}
	for _, c := range cards {
		t.Logf("card %s: %s, preview %s, %d frames decoded, %s viewers", c.Name, c.State, c.Preview, c.Frames, c.Viewers)
	}
	shot("status-page.png")

	// A camera stopped in camsim turns to its error on the page within 10 s.
	e.sim.RemoveCamera("parking")
	stopped := time.Now()
	if !waitWithin(10*time.Second, func() bool {
		if !readCards() {
			return false
		}
		c := card("parking")
		return (c.State == "error" || c.State == "backoff") && c.Reason != ""
	}) {
		fail("the stopped camera does not show its error within 10s")
	}
	t.Logf("parking shown %s after %v: %q", card("parking").State, time.Since(stopped).Round(10*time.Millisecond), card("parking").Reason)
	if strings.Contains(card("parking").Reason, "relaypass") {
		t.Errorf("the page shows a credential: %q", card("parking").Reason)
	}
	if c := card("lobby"); c.State != "streaming" {
		t.Errorf("lobby changed to %s when parking stopped", c.State)
	}
	// The stopped camera's tile falls back to its last snapshot.
	if !waitWithin(10*time.Second, func() bool {
		var loaded bool
		err := tb.eval(ctx, `(() => { const i = document.querySelector('article[data-name="parking"] img');
		  return i.complete && i.naturalWidth > 0 && getComputedStyle(i).display !== 'none'; })()`, &loaded)
		return err == nil && loaded && readCards() && card("parking").Preview == "snapshot"
	}) {
		fail("the stopped camera's tile shows no snapshot")
	}
	// docs/status-page.png is this picture: CAMRELAY_UPDATE_SCREENSHOT=1
	// writes it there.
	if p := shot("status-page-stopped.png"); p != "" && os.Getenv("CAMRELAY_UPDATE_SCREENSHOT") != "" {
		if b, err := os.ReadFile(p); err == nil && os.WriteFile("../../docs/status-page.png", b, 0o644) == nil {
			t.Logf("docs/status-page.png updated")
		}
	}

	// Filters: "not streaming" shows only the stopped camera.
	var shown []string
	if err := tb.eval(ctx, `(() => { const s = document.getElementById('f-state'); s.value = 'problems'; s.dispatchEvent(new Event('change'));
	  return [...document.querySelectorAll('article.cam')].filter(a => !a.hidden).map(a => a.dataset.name); })()`, &shown); err != nil {
		fail("filter: %v", err)
	}
	if len(shown) != 1 || shown[0] != "parking" {
		t.Errorf("state filter 'not streaming' shows %v, want [parking]", shown)
	}
	if err := tb.eval(ctx, `(() => { const s = document.getElementById('f-state'); s.value = ''; s.dispatchEvent(new Event('change'));
	  const n = document.getElementById('f-name'); n.value = 'LOB'; n.dispatchEvent(new Event('input'));
	  return [...document.querySelectorAll('article.cam')].filter(a => !a.hidden).map(a => a.dataset.name); })()`, &shown); err != nil {
		fail("filter: %v", err)
	}
	if len(shown) != 1 || shown[0] != "lobby" {
		t.Errorf("name filter 'LOB' shows %v, want [lobby]", shown)
	}
	tb.eval(ctx, `(() => { const n = document.getElementById('f-name'); n.value = ''; n.dispatchEvent(new Event('input')); return true; })()`, nil)

	// The camera page: state history (the stop is in it) and the latency
	// sparkline, with the preview still playing.
	if err := tb.eval(ctx, `(() => { location.hash = '#/camera/parking'; return true; })()`, nil); err != nil {
		fail("camera page: %v", err)
	}
	var detail struct {
		History []string `json:"history"`
		Visible bool     `json:"visible"`
	}
	const detailJS = `({history: [...document.querySelectorAll('#d-history tr')].map(r => r.textContent),
	  visible: !document.getElementById('camera-view').hidden})`
	if !waitWithin(15*time.Second, func() bool {
		if tb.eval(ctx, detailJS, &detail) != nil || !detail.Visible || len(detail.History) < 2 {
			return false
		}
		return strings.Contains(detail.History[0], "error") || strings.Contains(detail.History[0], "backoff")
	}) {
		fail("the camera page of parking does not show its history with the stop: %+v", detail)
	}
	if err := tb.eval(ctx, `(() => { location.hash = '#/camera/lobby'; return true; })()`, nil); err != nil {
		fail("camera page: %v", err)
	}
	var spark struct {
		P50, P99 int
		Frames   int
		History  int
		Paused   bool
	}
	const sparkJS = `(() => { const v = document.querySelector('#d-media video');
		  const pts = (id) => document.getElementById(id).getAttribute('points').trim().split(' ').filter(Boolean).length;
		  return {P50: pts('d-p50'), P99: pts('d-p99'), History: document.querySelectorAll('#d-history tr').length,
		          Frames: v && v.srcObject ? v.getVideoPlaybackQuality().totalVideoFrames : 0, Paused: !v || v.paused}; })()`
	tb.eval(ctx, sparkJS, &spark)
	framesBefore := spark.Frames
	if !waitWithin(20*time.Second, func() bool {
		err := tb.eval(ctx, sparkJS, &spark)
		return err == nil && spark.P50 >= 2 && spark.P99 >= 2 && spark.History >= 1 && !spark.Paused && spark.Frames > framesBefore+25
	}) {
		fail("the camera page of lobby lacks its sparkline, history or preview: %+v", spark)
	}
	t.Logf("camera page of lobby: %d latency points, %d history rows, %d frames", spark.P50, spark.History, spark.Frames)
	shot("camera-page.png")

	// Nothing on the page broke the content security policy or threw.
	for _, bad := range []string{"Content Security Policy", "exception:"} {
		if console.contains(bad) {
			t.Errorf("page console has %q:\n%s", bad, console.String())
		}
	}
	// The page's token requests went through camrelay: MediaMTX saw bearer
	// tokens, and the read of a path without one is refused.
	if code, body := whepStatus(t, fmt.Sprintf("http://127.0.0.1:%d/lobby/whep", webrtcPort)); !refused(code, body) {
		t.Errorf("WHEP without a token: %d %s, want it refused", code, body)
	}
}

// whepStatus posts an offer without credentials and returns the answer:
// MediaMTX checks auth before the SDP.
func whepStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, strings.TrimSpace(string(b))
}

// refused is MediaMTX v1.15.3 refusing a WHEP request for its credentials:
// 401, or 400 with "authentication failed" when no credentials came.
func refused(code int, body string) bool {
	return code == http.StatusUnauthorized || code == http.StatusBadRequest && strings.Contains(body, "authentication failed")
}

// artifactDir is where screenshots go: $CAMRELAY_TEST_ARTIFACTS, or a
// folder under the system's temporary folder that outlives the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CAMRELAY_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "camrelay-test-artifacts", t.Name())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
