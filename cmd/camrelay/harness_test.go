package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clipSmall = "../../testdata/clips/h264_320x240_25.h264"
	clip720   = "../../testdata/clips/h264_1280x720_25.h264"
	audioClip = "../../testdata/clips/g711u_8000.ulaw"
)

// env is one end-to-end setup: a real MediaMTX (internal auth, anonymous
// publishing refused), camsim cameras, and camrelay running in-process.
type env struct {
	t    *testing.T
	mtx  *mtxtest.Server
	sim  *camsim.Server
	logs *loopback.Buffer
	app  *relay.App
	// apiAddr is camrelay's API, when the config turns it on.
	apiAddr        string
	configPath     string
	stopRelay      func()
	reconcileEvery time.Duration
}

func newEnv(t *testing.T, mc mtxtest.Config) *env {
	t.Helper()
	mc.API = true
	e := &env{t: t, mtx: mtxtest.Start(t, mc), sim: &camsim.Server{}, logs: &loopback.Buffer{}}
	if err := e.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sim.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("camrelay log:\n%s", e.logs.String())
			t.Logf("MediaMTX log (tail):\n%s", tail(e.mtx.Log(), 3000))
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (e *env) camera(c camsim.CameraConfig) *camsim.Camera {
	e.t.Helper()
	if c.Clip == "" {
		c.Clip = clipSmall
	}
	cam, err := e.sim.AddCamera(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return cam
}

// output is the default output template into this MediaMTX as the relay
// user.
func (e *env) output() string {
	return "rtsp://" + mtxtest.RelayUser + ":" + mtxtest.RelayPass + "@" + e.mtx.RTSPAddr() + "/{path}"
}

// runRelay writes the config and runs camrelay until the test ends.
func (e *env) runRelay(cfg string) *relay.App {
	e.t.Helper()
	if !strings.Contains(cfg, "\napi:") {
		cfg += "\napi:\n  listen: 127.0.0.1:0\n" // a free port: tests run side by side
	}
	path := filepath.Join(e.t.TempDir(), "camrelay.yml")
	e.configPath = path
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return e.restartRelay(path)
}

// restartRelay runs camrelay on an existing configuration file.
func (e *env) restartRelay(path string) *relay.App {
	e.t.Helper()
	e.app = &relay.App{ConfigPath: path, ReconcileEvery: e.reconcileEvery,
		Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := e.app.Load(); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := start(ctx, e.app, nil)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	e.apiAddr = r.apiAddr
	var once sync.Once
	e.stopRelay = func() {
		once.Do(func() {
			cancel()
			if err := r.wait(); err != nil {
				e.t.Errorf("camrelay run: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stopRelay)
	return e.app
}

// pollEvery is how often the waits below look at their condition.
const pollEvery = 50 * time.Millisecond

// eventually waits until f holds and fails the test if it does not within
// d. Tests wait on conditions like this, never on a fixed sleep.
func (e *env) eventually(d time.Duration, what string, f func() bool) {
	e.t.Helper()
	if !waitWithin(d, f) {
		e.t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// waitWithin reports whether f holds before d has passed, polling it; the
// caller decides what a timeout means.
func waitWithin(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// holdsFor reports whether f stays true for all of d, polling it, and returns
// false as soon as it is not. d is the observation window of the behaviour
// under test ("nothing happens for 2 s"), not a wait for something to happen.
func holdsFor(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for f() {
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(pollEvery)
	}
	return false
}

// rateOf measures how fast count grows: it waits until count has grown by n
// (or d has passed) and returns the growth per second over the time that
// took. A rate far off shows in the result, not as a timeout, so callers keep
// their own assertion on it.
func rateOf(d time.Duration, n uint64, count func() uint64) float64 {
	const step = 10 * time.Millisecond // fine enough for a rate over seconds
	c0, t0 := count(), time.Now()
	deadline := t0.Add(d)
	for {
		c, now := count(), time.Now()
		if c-c0 >= n || now.After(deadline) {
			return float64(c-c0) / now.Sub(t0).Seconds()
		}
		time.Sleep(step)
	}
}

func (e *env) status(name string) relay.CameraStatus {
	e.t.Helper()
	st, ok := e.app.Supervisor().CameraStatus(name)
	if !ok {
		e.t.Fatalf("camera %q not running", name)
	}
	return st
}

// mtxPath is what MediaMTX's API says of a path.
type mtxPath struct {
	Name   string `json:"name"`
	Ready  bool   `json:"ready"`
	Source *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"source"`
	Tracks        []string `json:"tracks"`
	BytesReceived uint64   `json:"bytesReceived"`
	Readers       []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"readers"`
}

func (e *env) paths() map[string]mtxPath {
	e.t.Helper()
	var out struct {
		Items []mtxPath `json:"items"`
	}
	e.apiGet("/v3/paths/list?itemsPerPage=1000", &out)
	m := map[string]mtxPath{}
	for _, p := range out.Items {
		m[p.Name] = p
	}
	return m
}

func (e *env) apiGet(path string, v any) {
	e.t.Helper()
	res, err := http.Get(e.mtx.APIURL() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		e.t.Fatalf("GET %s: %s: %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitReady(d time.Duration, names ...string) {
	e.t.Helper()
	e.eventually(d, fmt.Sprintf("MediaMTX paths %v to be ready", names), func() bool {
		ps := e.paths()
		for _, n := range names {
			if !ps[n].Ready {
				return false
			}
		}
		return true
	})
}

func (e *env) reader(path string) *transport.RTSPReader {
	e.t.Helper()
	r := &transport.RTSPReader{URL: e.mtx.RTSPURL(path, "", "")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		e.t.Fatalf("reading %s from MediaMTX: %v", path, err)
	}
	e.t.Cleanup(r.Close)
	return r
}

// ffprobeStreams runs ffprobe, an independent client, on a MediaMTX path.
type probeStream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

func (e *env) ffprobe(path string) []probeStream {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json",
		e.mtx.RTSPURL(path, "", "")).Output()
	if err != nil {
		e.t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []probeStream `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		e.t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	return res.Streams
}

// assertNoSecrets fails if any of the secrets appears in s.
func assertNoSecrets(t *testing.T, where, s string, secrets ...string) {
	t.Helper()
	for _, x := range secrets {
		if strings.Contains(s, x) {
			t.Errorf("%s contains the credential %q", where, x)
		}
	}
}

// joinedMidGOP are the messages FFmpeg's H.264 decoder prints for the frames
// before the first keyframe: MediaMTX starts RTSP readers wherever the stream
// is, so an independent decoder joining mid-GOP always sees these. Anything
// else (concealment, bad slices, invalid NAL units) is damage.
var joinedMidGOP = regexp.MustCompile(`reference picture missing during reorder|Missing reference picture|decode_slice_header error|Last message repeated|co located POCs unavailable|mmco: unref short failure|no frame!|non-existing PPS 0 referenced`)

// ffmpegDecodes decodes seconds of a MediaMTX path with ffmpeg and fails on
// any decoding error other than those of joining mid-GOP.
func (e *env) ffmpegDecodes(path string, seconds int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+20)*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", e.mtx.RTSPURL(path, "", ""),
		"-t", strconv.Itoa(seconds), "-f", "null", "-").CombinedOutput()
	if err != nil {
		e.t.Fatalf("ffmpeg decode of %s: %v: %s", path, err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !joinedMidGOP.MatchString(l) {
			e.t.Errorf("ffmpeg decoding %s: %s", path, l)
		}
	}
}

// ffmpegPublish publishes one second of the small clip with ffmpeg, an
// independent client.
func ffmpegPublish(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "h264", "-i", clipSmall, "-t", "1", "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", url).CombinedOutput()
}

// buildCamrelay builds the camrelay binary into the test's temporary folder
// (the go build cache makes later builds quick); env adds to the build's
// environment, e.g. CGO_ENABLED=0 for the pure-Go build.
func buildCamrelay(t *testing.T, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "camrelay")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", env, err, out)
	}
	return bin
}
