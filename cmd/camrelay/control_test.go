package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/transport"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

const apiUser, apiPass = "admin", "api-secret"

// apiConfig is the api: section of the control tests: a hashed user, as an
// operator would write it (camrelay passwd / MediaMTX's argon2 form).
func apiConfig(t *testing.T) string {
	t.Helper()
	h, err := auth.HashArgon2id(apiPass)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("api:\n  listen: 127.0.0.1:0\n  users:\n    - {user: %s, pass: '%s'}\n", apiUser, h)
}

// call makes an API request; auth false sends no credentials.
func (e *env) call(method, path string, body any, withAuth bool) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, "http://"+e.apiAddr+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if withAuth {
		req.SetBasicAuth(apiUser, apiPass)
	}
	res, err := (&http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (e *env) mtxClient() *mediamtx.Client { return &mediamtx.Client{BaseURL: e.mtx.APIURL()} }

// Issue 4, check 1: add a camera through the API: MediaMTX has the path
// ready within 3 s; delete it: the path is gone and the camera connection
// closed; other cameras never flicker.
func TestAPIAddAndDeleteCamera(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "a"})
	e.camera(camsim.CameraConfig{Path: "b"})
	cc := e.camera(camsim.CameraConfig{Path: "c", User: "admin", Pass: "c-pass", Auth: camsim.AuthDigest})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: a, source: %q}\n  - {name: b, source: %q}\n",
		e.output(), apiConfig(t), e.sim.URL("a"), e.sim.URL("b")))
	e.waitReady(10*time.Second, "a", "b")
	before := e.paths()

	start := time.Now()
	code, body := e.call("POST", "/v1/cameras", map[string]any{"name": "c", "source": e.sim.URL("c"), "transport": "tcp"}, true)
	if code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	if strings.Contains(string(body), "c-pass") {
		t.Errorf("the answer shows the camera's password: %s", body)
	}
	e.waitReady(3*time.Second-time.Since(start), "c")
	t.Logf("camera added through the API was ready in MediaMTX after %v", time.Since(start).Round(time.Millisecond))
	if b, _ := os.ReadFile(e.configPath); !strings.Contains(string(b), "name: c") {
		t.Errorf("the camera was not saved in the configuration file")
	}

	if code, body := e.call("DELETE", "/v1/cameras/c", nil, true); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	e.eventually(5*time.Second, "path c to disappear and the camera connection to close", func() bool {
		p, ok := e.paths()["c"]
		return (!ok || !p.Ready) && cc.Sessions() == 0
	})
	after := e.paths()
	for _, n := range []string{"a", "b"} {
		if after[n].Source == nil || after[n].Source.ID != before[n].Source.ID {
			t.Errorf("camera %s flickered: publisher %v -> %v", n, before[n].Source, after[n].Source)
		}
	}
	if code, _ := e.call("GET", "/v1/cameras/c", nil, true); code != http.StatusNotFound {
		t.Errorf("GET after delete: %d", code)
	}
}

// Issue 4, check 2: cameras added through the API are back after a
// restart.
func TestAPIChangesSurviveRestart(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "x"})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras: []\n", e.output(), apiConfig(t)))
	path := e.configPath
	if code, body := e.call("POST", "/v1/cameras", map[string]any{"name": "x", "source": e.sim.URL("x")}, true); code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	e.waitReady(5*time.Second, "x")

	// A second camrelay on the same file, as after a restart (the first
	// one is stopped first, as a restart would).
	e.stopRelay()
	e.eventually(10*time.Second, "path x released", func() bool { return !e.paths()["x"].Ready })
	e.restartRelay(path)
	e.waitReady(10*time.Second, "x")
	if v, ok := e.app.Camera("x"); !ok || v.Status.State != relay.StateStreaming && v.Status.State != relay.StateConnecting {
		t.Fatalf("after restart: %+v %v", v, ok)
	}
}

// Issue 4, check 3: direct cameras: provisioned with the right fields; a
// path camrelay did not create is left alone; drift is repaired; removing
// the camera removes only its path.
func TestDirectCamerasProvisioned(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "d1"})
	e.camera(camsim.CameraConfig{Path: "d2"})
	mc := e.mtxClient()
	ctx := context.Background()
	// Made by hand before camrelay starts: one unrelated, one that clashes
	// with a configured camera.
	if err := mc.AddPath(ctx, "manual", mediamtx.PathConf{Source: "publisher"}); err != nil {
		t.Fatal(err)
	}
	if err := mc.AddPath(ctx, "clash", mediamtx.PathConf{Source: "publisher"}); err != nil {
		t.Fatal(err)
	}
	e.reconcileEvery = 300 * time.Millisecond
	e.runRelay(fmt.Sprintf(`
output: %s
%s
mediamtx: {api: %s}
cameras:
  - {name: d1, source: %q, mode: direct, transport: tcp}
  - {name: d2, source: %q, mode: direct, on_demand: true}
  - {name: clash, source: %q, mode: direct}
`, e.output(), apiConfig(t), e.mtx.APIURL(), e.sim.URL("d1"), e.sim.URL("d2"), e.sim.URL("d1")))

	e.eventually(5*time.Second, "d1 and d2 provisioned", func() bool {
		_, err1 := mc.ConfigPath(ctx, "d1")
		_, err2 := mc.ConfigPath(ctx, "d2")
		return err1 == nil && err2 == nil
	})
	d1, _ := mc.ConfigPath(ctx, "d1")
	d2, _ := mc.ConfigPath(ctx, "d2")
	if d1["source"] != e.sim.URL("d1") || d1["sourceOnDemand"] != false || d1["rtspTransport"] != "tcp" {
		t.Errorf("d1 provisioned as %v", pick(d1))
	}
	if d2["sourceOnDemand"] != true || d2["rtspTransport"] != "automatic" {
		t.Errorf("d2 provisioned as %v", pick(d2))
	}
	e.waitReady(10*time.Second, "d1") // MediaMTX pulls d1 itself
	e.eventually(5*time.Second, "direct camera status from MediaMTX", func() bool {
		v1, _ := e.app.Camera("d1")
		v2, _ := e.app.Camera("d2")
		vc, _ := e.app.Camera("clash")
		return v1.Status.State == relay.StateStreaming && v2.Status.State == relay.StateIdle &&
			vc.Status.State == relay.StateError && strings.Contains(vc.Status.LastError, "did not create")
	})
	if c, _ := mc.ConfigPath(ctx, "clash"); c["source"] != "publisher" {
		t.Errorf("camrelay changed a path it did not create: %v", pick(c))
	}

	// Drift: somebody edits d1 by hand.
	if err := mc.PatchPath(ctx, "d1", mediamtx.PathConf{RTSPTransport: "udp"}); err != nil {
		t.Fatal(err)
	}
	e.eventually(5*time.Second, "the drift to be repaired", func() bool {
		d1, _ := mc.ConfigPath(ctx, "d1")
		return d1["rtspTransport"] == "tcp"
	})

	if code, body := e.call("DELETE", "/v1/cameras/d1", nil, true); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if _, err := mc.ConfigPath(ctx, "d1"); !mediamtx.IsNotFound(err) {
		t.Errorf("d1 still configured in MediaMTX: %v", err)
	}
	for _, keep := range []string{"manual", "clash", "d2"} {
		if _, err := mc.ConfigPath(ctx, keep); err != nil {
			t.Errorf("path %s: %v", keep, err)
		}
	}
}

func pick(m map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"source", "sourceOnDemand", "rtspTransport", "sourceOnDemandCloseAfter"} {
		out[k] = m[k]
	}
	return out
}

// Issue 4, check 4: an on-demand camera is connected only while MediaMTX
// has a reader, and released the configured time after the last one left.
func TestOnDemandCamera(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	cam := e.camera(camsim.CameraConfig{Path: "od"})
	e.runRelay(fmt.Sprintf(`
output: %s
%s
mediamtx: {api: %s}
serve: {listen: 127.0.0.1:0, user: mtx, pass: pull-secret, release_after: 2s}
cameras:
  - {name: od, source: %q, on_demand: true, transport: tcp}
`, e.output(), apiConfig(t), e.mtx.APIURL(), e.sim.URL("od")))
	e.eventually(5*time.Second, "the on-demand path to be provisioned", func() bool {
		_, err := e.mtxClient().ConfigPath(context.Background(), "od")
		return err == nil
	})
	// Not synchronization: nobody watches, and for this 2 s window the camera
	// must stay unconnected (it fails as soon as it is connected).
	holdsFor(2*time.Second, func() bool { return cam.Connects() == 0 })
	if n := cam.Connects(); n != 0 {
		t.Fatalf("the camera was connected %d times with nobody watching", n)
	}
	if v, _ := e.app.Camera("od"); v.Status.State != relay.StateIdle {
		t.Errorf("state %s, want idle", v.Status.State)
	}

	asked := time.Now()
	r := &transport.RTSPReader{URL: e.mtx.RTSPURL("od", "", "")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("reading od: %v", err)
	}
	e.eventually(5*time.Second, "video at the first viewer", func() bool { return r.Stats().Frames > 0 })
	if d := time.Since(asked); d > 3*time.Second {
		t.Errorf("first frame %v after asking, want within 3 s", d)
	} else {
		t.Logf("first viewer got video %v after asking", d.Round(time.Millisecond))
	}
	if cam.Sessions() != 1 {
		t.Errorf("camera sessions %d, want 1", cam.Sessions())
	}
	r.Close()
	left := time.Now()
	// Not synchronization: release_after is 2 s, so for the first 1.5 s
	// after the viewer left the camera must stay connected.
	holdsFor(1500*time.Millisecond, func() bool { return cam.Sessions() == 1 })
	if cam.Sessions() != 1 {
		t.Errorf("the camera was released %v after the viewer left, before the 2 s delay", time.Since(left))
	}
	e.eventually(10*time.Second, "the camera to be released", func() bool { return cam.Sessions() == 0 })
	t.Logf("camera released %v after the last viewer left (release_after 2s, plus 2s grace)", time.Since(left).Round(100*time.Millisecond))
	if strings.Contains(e.logs.String(), "pull-secret") {
		t.Error("the serve password was logged")
	}
}

// Issue 4, check 5: /metrics parses and its counters grow; status shows a
// camera in backoff with its redacted error.
func TestMetricsAndStatus(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "m"})
	dead := fmt.Sprintf("rtsp://admin:dead-secret@127.0.0.1:%d/x", loopback.TCPPort(t))
	e.runRelay(fmt.Sprintf("output: %s\n%s\n%s\ncameras:\n  - {name: m, source: %q}\n  - {name: dead, source: %q}\n",
		e.output(), apiConfig(t), fastDefaults, e.sim.URL("m"), dead))
	e.waitReady(10*time.Second, "m")
	frames := func() float64 {
		code, body := e.call("GET", "/metrics", nil, true)
		if code != 200 {
			t.Fatalf("metrics: %d", code)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		for _, m := range fams["camrelay_camera_frames_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "camera" && l.GetValue() == "m" {
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatal("no camrelay_camera_frames_total{camera=m}")
		return 0
	}
	f1 := frames()
	waitWithin(5*time.Second, func() bool { return frames() > f1 })
	if f2 := frames(); f2 <= f1 {
		t.Errorf("frame counter did not grow: %v -> %v", f1, f2)
	}
	e.eventually(5*time.Second, "dead camera in backoff", func() bool {
		code, body := e.call("GET", "/v1/cameras/dead", nil, true)
		var v relay.CameraView
		json.Unmarshal(body, &v)
		return code == 200 && v.Status.State == relay.StateBackoff && strings.Contains(v.Status.LastError, "connection refused")
	})
	_, body := e.call("GET", "/v1/cameras", nil, true)
	if strings.Contains(string(body), "dead-secret") || strings.Contains(string(body), mtxtest.RelayPass) {
		t.Errorf("camera list shows a credential: %s", body)
	}
	if code, _ := e.call("GET", "/healthz", nil, false); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if code, body := e.call("GET", "/readyz", nil, false); code != 200 {
		t.Errorf("readyz: %d %s", code, body)
	}
}

// Issue 4, check 6: authentication and bad requests.
func TestAPIRejectsBadRequests(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "a"})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: a, source: %q}\n", e.output(), apiConfig(t), e.sim.URL("a")))
	for _, p := range []string{"/v1/cameras", "/v1/cameras/a", "/metrics"} {
		if code, _ := e.call("GET", p, nil, false); code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, code)
		}
	}
	cases := []struct {
		name, method, path string
		body               any
		code               int
		want               string
	}{
		{"bad json", "POST", "/v1/cameras", `{"name": "x",`, 400, "invalid camera JSON"},
		{"two objects", "POST", "/v1/cameras", `{"name":"x","source":"rtsp://h/x"} {}`, 400, "one object"},
		{"unknown field", "POST", "/v1/cameras", `{"name":"x","source":"rtsp://h/x","sauce":1}`, 400, `unknown field "sauce"`},
		{"wrong type", "POST", "/v1/cameras", `{"name":"x","source":5}`, 400, "source"},
		{"invalid url", "POST", "/v1/cameras", map[string]any{"name": "x", "source": "ftp://h/x"}, 400, `source: unsupported scheme (want one of`},
		{"not a url", "POST", "/v1/cameras", map[string]any{"name": "x", "source": "rtsp://h:99999/x"}, 400, "source"},
		{"name with space", "POST", "/v1/cameras", map[string]any{"name": "a b", "source": "rtsp://h/x"}, 400, "name: may contain only"},
		{"name with slash first", "POST", "/v1/cameras", map[string]any{"name": "/x", "source": "rtsp://h/x"}, 400, "name: must not begin with a slash"},
		{"bad transport", "POST", "/v1/cameras", map[string]any{"name": "x", "source": "rtsp://h/x", "transport": "tpc"}, 400, "transport"},
		{"duplicate", "POST", "/v1/cameras", map[string]any{"name": "a", "source": "rtsp://h/x"}, 409, "already exists"},
		{"unknown get", "GET", "/v1/cameras/nope", nil, 404, "no camera"},
		{"unknown put", "PUT", "/v1/cameras/nope", map[string]any{"source": "rtsp://h/x"}, 404, "no camera"},
		{"unknown delete", "DELETE", "/v1/cameras/nope", nil, 404, "no camera"},
		{"rename by put", "PUT", "/v1/cameras/a", map[string]any{"name": "b", "source": "rtsp://h/x"}, 400, "name"},
		{"huge body", "POST", "/v1/cameras", `{"name":"x","source":"` + strings.Repeat("a", 2<<20) + `"}`, 400, "larger than"},
		{"bad page", "GET", "/v1/cameras?page=0", nil, 400, "page"},
	}
	for _, c := range cases {
		code, body := e.call(c.method, c.path, c.body, true)
		var msg struct{ Error string }
		json.Unmarshal(body, &msg)
		if code != c.code || !strings.Contains(msg.Error, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, msg.Error, c.code, c.want)
		}
	}
	// and the server is still fine
	if code, _ := e.call("GET", "/v1/cameras/a", nil, true); code != 200 {
		t.Errorf("after the bad requests: %d", code)
	}
}

// Issue 4, check 7: 200 add/delete calls with cameras streaming: no
// goroutine or memory growth, no lost camera.
func TestAPIAddDeleteLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("200 API calls: skipped in -short (race) runs; runs in the full suite")
	}
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "s1"})
	e.camera(camsim.CameraConfig{Path: "s2"})
	churn := e.camera(camsim.CameraConfig{Path: "churn"})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: s1, source: %q}\n  - {name: s2, source: %q}\n",
		e.output(), apiConfig(t), e.sim.URL("s1"), e.sim.URL("s2")))
	e.waitReady(10*time.Second, "s1", "s2")
	before := e.paths()
	measure := func() (int, uint64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapInuse
	}
	// gone is when a deleted churn camera has let go of both ends: no
	// session at the camera, no publisher at MediaMTX.
	gone := func() bool {
		p, ok := e.paths()["churn"]
		return churn.Sessions() == 0 && (!ok || p.Source == nil)
	}
	// Warm up once so that pools and caches exist before measuring.
	e.call("POST", "/v1/cameras", map[string]any{"name": "churn", "source": e.sim.URL("churn")}, true)
	e.call("DELETE", "/v1/cameras/churn", nil, true)
	e.eventually(10*time.Second, "the warm-up camera to be gone", gone)
	g0, m0 := measure()
	for i := 0; i < 100; i++ {
		if code, body := e.call("POST", "/v1/cameras", map[string]any{"name": "churn", "source": e.sim.URL("churn")}, true); code != http.StatusCreated {
			t.Fatalf("add %d: %d %s", i, code, body)
		}
		if code, body := e.call("DELETE", "/v1/cameras/churn", nil, true); code != http.StatusNoContent {
			t.Fatalf("delete %d: %d %s", i, code, body)
		}
	}
	e.eventually(10*time.Second, "the churn camera to be gone", gone)
	// Goroutines of the last pipeline may still be ending: wait (with a
	// deadline) for the count to come back; a leak never does.
	g1, m1 := measure()
	waitWithin(10*time.Second, func() bool { g1, m1 = measure(); return g1 <= g0+5 })
	t.Logf("after 200 API calls: goroutines %d -> %d, heap in use %d KiB -> %d KiB", g0, g1, m0>>10, m1>>10)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if m1 > m0+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB", m0>>10, m1>>10)
	}
	after := e.paths()
	for _, n := range []string{"s1", "s2"} {
		if !after[n].Ready || after[n].Source.ID != before[n].Source.ID {
			t.Errorf("%s was disturbed by the churn", n)
		}
	}
	if names := e.app.Supervisor().Names(); strings.Join(names, ",") != "s1,s2" {
		t.Errorf("running cameras %v", names)
	}
}

// Issue 4: a change of the configuration file is picked up (file watch),
// and only the cameras whose settings changed restart; an invalid file is
// refused whole and nothing changes.
func TestConfigFileReload(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	for _, n := range []string{"keep", "change", "added"} {
		e.camera(camsim.CameraConfig{Path: n})
	}
	base := fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: keep, source: %q}\n  - {name: change, source: %q}\n",
		e.output(), apiConfig(t), e.sim.URL("keep"), e.sim.URL("change"))
	e.runRelay(base)
	e.waitReady(10*time.Second, "keep", "change")
	before := e.paths()

	// Edit the file the way an operator would: transport changed on one
	// camera, one camera added.
	edited := strings.Replace(base, fmt.Sprintf("{name: change, source: %q}", e.sim.URL("change")),
		fmt.Sprintf("{name: change, source: %q, transport: tcp}", e.sim.URL("change")), 1) +
		fmt.Sprintf("  - {name: added, source: %q}\n", e.sim.URL("added"))
	if err := os.WriteFile(e.configPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	e.waitReady(10*time.Second, "added")
	e.eventually(10*time.Second, "the changed camera to be republished", func() bool {
		p := e.paths()["change"]
		return p.Ready && p.Source.ID != before["change"].Source.ID
	})
	if p := e.paths()["keep"]; p.Source == nil || p.Source.ID != before["keep"].Source.ID {
		t.Errorf("the unchanged camera restarted on reload")
	}

	// An invalid file: refused, running cameras untouched.
	if err := os.WriteFile(e.configPath, []byte(edited+"  - {name: broken, source: 'ftp://x'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.eventually(5*time.Second, "the refusal to be logged", func() bool {
		return strings.Contains(e.logs.String(), "reload refused") && strings.Contains(e.logs.String(), `camera \"broken\": source`)
	})
	if names := e.app.Supervisor().Names(); strings.Join(names, ",") != "added,change,keep" {
		t.Errorf("cameras after the refused reload: %v", names)
	}
}
