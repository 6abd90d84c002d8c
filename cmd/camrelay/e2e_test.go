package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/transport"
)

// Fast retries keep the failure tests short; production defaults are
// 500ms..30s.
const fastDefaults = `
defaults:
  backoff_min: 100ms
  backoff_max: 1s
`

// Issue 2, check 1: an H.264 camera behind Digest auth relayed in copy mode.
func TestCopyRelayDigestCamera(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "lobby", Clip: clip720, User: "admin", Pass: "cam-secret", Auth: camsim.AuthDigest})
	e.runRelay(fmt.Sprintf(`
output: %s
cameras:
  - name: lobby
    source: %s
`, e.output(), e.sim.URL("lobby")))
	e.waitReady(10*time.Second, "lobby")

	streams := e.ffprobe("lobby")
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width != 1280 || streams[0].Height != 720 {
		t.Fatalf("ffprobe sees %+v, want one h264 stream at 1280x720", streams)
	}

	e.ffmpegDecodes("lobby", 4)

	r := e.reader("lobby")
	// Settle past the start of a new reader (joining mid-GOP, the first
	// keyframe) before measuring: a second of decoded video.
	e.eventually(10*time.Second, "a second of decoded video at the reader", func() bool {
		s := r.Stats()
		return s.Width != 0 && s.Frames >= 25
	})
	// The frame rate over 125 frames (5 s at 25 fps).
	fps := rateOf(10*time.Second, 125, func() uint64 { return r.Stats().Frames })
	if fps < 22.5 || fps > 27.5 {
		t.Errorf("reader received %.1f fps over 125 frames, want 25 within 10%%", fps)
	}
	s1 := r.Stats()
	if s1.Stamps < 100 || s1.StampsBack != 0 {
		t.Errorf("SEI send times: %d read, %d out of order; want them all in order", s1.Stamps, s1.StampsBack)
	}
	if s1.Width != 1280 || s1.Height != 720 {
		t.Errorf("reader saw %dx%d", s1.Width, s1.Height)
	}
	t.Logf("camera -> camrelay -> MediaMTX -> reader latency: p50 %v p99 %v (%d stamps)",
		s1.Latency.Quantile(0.5), s1.Latency.Quantile(0.99), s1.Latency.Count())
	st := e.status("lobby")
	if st.State != relay.StateStreaming || st.Sink.State != relay.SinkPublishing || st.Width != 1280 {
		t.Errorf("status %+v", st)
	}
	assertNoSecrets(t, "camrelay log", e.logs.String(), "cam-secret", mtxtest.RelayPass)
}

// Issue 2, check 2: a camera with audio: both tracks arrive.
func TestCameraWithAudio(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "door", Audio: audioClip})
	e.runRelay(fmt.Sprintf("output: %s\ncameras:\n  - {name: door, source: %q, transport: tcp}\n", e.output(), e.sim.URL("door")))
	e.waitReady(10*time.Second, "door")
	streams := e.ffprobe("door")
	var kinds []string
	for _, s := range streams {
		kinds = append(kinds, s.CodecType+":"+s.CodecName)
	}
	if strings.Join(kinds, ",") != "video:h264,audio:pcm_mulaw" {
		t.Fatalf("ffprobe sees %v, want video:h264 and audio:pcm_mulaw", kinds)
	}
	r := e.reader("door")
	flowing := func(s transport.ReaderStats) bool {
		return len(s.Packets) == 2 && s.Packets[0] != 0 && s.Packets[1] >= 50
	}
	waitWithin(10*time.Second, func() bool { return flowing(r.Stats()) })
	if s := r.Stats(); !flowing(s) {
		t.Fatalf("reader packets per track %v, want video and about 50/s of audio", s.Packets)
	}
}

// Issue 2, check 3: wrong camera password, wrong MediaMTX password,
// unreachable camera, unreachable MediaMTX.
func TestFailuresAreClearRetriedAndRedacted(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "locked", User: "admin", Pass: "right-pass", Auth: camsim.AuthDigest})
	e.camera(camsim.CameraConfig{Path: "fine"})
	deadCam := fmt.Sprintf("rtsp://admin:dead-pass@127.0.0.1:%d/x", loopback.TCPPort(t))
	deadMTX := fmt.Sprintf("rtsp://relay:mtx-pass@127.0.0.1:%d/{path}", loopback.TCPPort(t))
	wrongMTX := "rtsp://relay:wrong-mtx-pass@" + e.mtx.RTSPAddr() + "/{path}"
	lockedURL := strings.Replace(e.sim.URL("locked"), "right-pass", "wrong-cam-pass", 1)
	e.runRelay(fmt.Sprintf(`
output: %s
%s
cameras:
  - {name: wrongcampass, source: %q}
  - {name: wrongcamtcp, source: %q, transport: tcp}
  - {name: wrongmtxpass, source: %q, output: %q}
  - {name: deadcam, source: %q}
  - {name: deadcamtcp, source: %q, transport: tcp}
  - {name: deadmtx, source: %q, output: %q}
`, e.output(), fastDefaults, lockedURL, lockedURL, e.sim.URL("fine"), strings.ReplaceAll(wrongMTX, "{path}", "x"),
		deadCam, deadCam, e.sim.URL("fine"), strings.ReplaceAll(deadMTX, "{path}", "y")))

	want := map[string]func(relay.CameraStatus) (string, bool){
		"wrongcampass": func(s relay.CameraStatus) (string, bool) {
			return s.LastError, s.State == relay.StateError && strings.Contains(s.LastError, "401")
		},
		"wrongmtxpass": func(s relay.CameraStatus) (string, bool) {
			return s.Sink.LastError, s.Sink.State == relay.SinkError && strings.Contains(s.Sink.LastError, "announce: 401")
		},
		"deadcam": func(s relay.CameraStatus) (string, bool) {
			return s.LastError, s.State == relay.StateBackoff && strings.Contains(s.LastError, "connection refused")
		},
		// transport: tcp goes through camrelay's own RTSP client
		"wrongcamtcp": func(s relay.CameraStatus) (string, bool) {
			return s.LastError, s.State == relay.StateError && strings.Contains(s.LastError, "401")
		},
		"deadcamtcp": func(s relay.CameraStatus) (string, bool) {
			return s.LastError, s.State == relay.StateBackoff && strings.Contains(s.LastError, "connection refused")
		},
		"deadmtx": func(s relay.CameraStatus) (string, bool) {
			return s.Sink.LastError, s.Sink.State == relay.SinkBackoff && strings.Contains(s.Sink.LastError, "connection refused")
		},
	}
	for name, check := range want {
		e.eventually(10*time.Second, name+" to report its failure", func() bool { _, ok := check(e.status(name)); return ok })
	}
	// They keep retrying (with backoff), and nothing crashed.
	attempts := func(name string) int {
		n := 0
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "camera="+name+" ") && (strings.Contains(l, `msg="source failed"`) || strings.Contains(l, `msg="publish failed"`)) {
				n++
			}
		}
		return n
	}
	before := map[string]int{}
	for name := range want {
		before[name] = attempts(name)
	}
	waitWithin(3*time.Second, func() bool {
		for name := range want {
			if attempts(name) <= before[name] {
				return false
			}
		}
		return true
	})
	for name := range want {
		msg, _ := want[name](e.status(name))
		t.Logf("%s: %s", name, msg)
		if attempts(name) <= before[name] {
			t.Errorf("%s did not retry within 3 s", name)
		}
	}
	secrets := []string{"right-pass", "wrong-cam-pass", "dead-pass", "mtx-pass", "wrong-mtx-pass", mtxtest.RelayPass}
	assertNoSecrets(t, "camrelay log", e.logs.String(), secrets...)
	js, _ := json.Marshal(e.app.Supervisor().Status())
	assertNoSecrets(t, "status", string(js), secrets...)
	if !strings.Contains(e.logs.String(), `camera=wrongcampass`) {
		t.Error("log lines do not name the camera")
	}
}

// Issue 2, check 4: a camera gone for 3 s comes back (rebooted: new SSRC,
// timestamps and sequence numbers) and the viewer that was watching through
// MediaMTX keeps its session and one continuous timeline.
func TestCameraDropKeepsViewerSession(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	cam := e.camera(camsim.CameraConfig{Path: "yard"})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: yard, source: %q, transport: tcp}\n", e.output(), fastDefaults, e.sim.URL("yard")))
	e.waitReady(10*time.Second, "yard")
	pub := e.paths()["yard"].Source.ID
	r := e.reader("yard")
	e.eventually(5*time.Second, "frames at the reader", func() bool { return r.Stats().Frames > 25 })

	cam.SetDown(true)
	cam.Restart()
	// Not synchronization: this is the outage under test, a camera gone
	// for 3 s (camrelay retries it meanwhile, fastDefaults: 100ms..1s).
	time.Sleep(3 * time.Second)
	during := r.Stats().Frames
	cam.SetDown(false)
	e.eventually(10*time.Second, "frames again after the camera came back", func() bool { return r.Stats().Frames > during+25 })
	select {
	case <-r.Done():
		t.Fatalf("the viewer's session ended: %v", r.Err())
	default:
	}
	if id := e.paths()["yard"].Source.ID; id != pub {
		t.Errorf("MediaMTX publish session changed from %s to %s: viewers were disconnected", pub, id)
	}
	st := e.status("yard")
	if st.Reconnects < 1 || st.Sink.Rebases < 1 || st.Sink.Sessions != 1 {
		t.Errorf("want one reconnect, a rebase and still one publish session: %+v", st)
	}
	if s := r.Stats(); s.StampsBack != 0 || s.DecodeError != 0 || s.TimeJumps != 0 {
		t.Errorf("after reconnect the viewer saw %d stamps out of order, %d decode errors, %d timestamp jumps", s.StampsBack, s.DecodeError, s.TimeJumps)
	}
}

// Issue 2, check 4 (second half): a camera that stalls without closing TCP.
func TestStalledCameraIsReconnected(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	cam := e.camera(camsim.CameraConfig{Path: "gate"})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: gate, source: %q, transport: tcp, stall_timeout: 1s}\n", e.output(), fastDefaults, e.sim.URL("gate")))
	e.waitReady(10*time.Second, "gate")
	connects := cam.Connects()
	cam.Stall(true)
	e.eventually(5*time.Second, "the stall to be detected", func() bool {
		st := e.status("gate")
		return st.Reconnects >= 1 && strings.Contains(st.LastError, "stalled") && cam.Connects() > connects
	})
	cam.Stall(false)
	e.eventually(5*time.Second, "streaming again", func() bool { return e.status("gate").State == relay.StateStreaming })
	f := e.status("gate").Frames
	e.eventually(5*time.Second, "frames again", func() bool { return e.status("gate").Frames > f+10 })
}

// Issue 2, check 5: MediaMTX restarted: every camera republishes.
func TestMediaMTXRestartRepublishes(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "a"})
	e.camera(camsim.CameraConfig{Path: "b", Audio: audioClip})
	e.runRelay(fmt.Sprintf("output: %s\n%s\ncameras:\n  - {name: a, source: %q}\n  - {name: b, source: %q}\n", e.output(), fastDefaults, e.sim.URL("a"), e.sim.URL("b")))
	e.waitReady(10*time.Second, "a", "b")
	if err := e.mtx.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitReady(15*time.Second, "a", "b")
	for _, n := range []string{"a", "b"} {
		if st := e.status(n); st.Sink.Sessions < 2 {
			t.Errorf("%s: %d publish sessions, want a new one after the restart", n, st.Sink.Sessions)
		}
	}
}

// Issue 2, check 6: 50 cameras in one process; killing one does not disturb
// the other 49.
func TestFiftyCamerasOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("50 cameras: skipped in -short (race) runs; runs in the full suite")
	}
	e := newEnv(t, mtxtest.Config{})
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "output: %s\n%s\ncameras:\n", e.output(), fastDefaults)
	var names []string
	for i := 1; i <= 50; i++ {
		n := fmt.Sprintf("cam%02d", i)
		names = append(names, n)
		e.camera(camsim.CameraConfig{Path: n})
		fmt.Fprintf(&cfg, "  - {name: %s, source: %q, transport: tcp}\n", n, e.sim.URL(n))
	}
	e.runRelay(cfg.String())
	e.waitReady(30*time.Second, names...)
	before := e.paths()
	e.sim.RemoveCamera("cam01")
	// camrelay notices cam01 is gone (and starts retrying it)...
	e.eventually(10*time.Second, "cam01 to be seen gone", func() bool {
		st := e.status("cam01")
		return st.State != relay.StateStreaming && st.LastError != ""
	})
	// ...and meanwhile every other camera keeps delivering into MediaMTX.
	waitWithin(10*time.Second, func() bool {
		ps := e.paths()
		for _, n := range names[1:] {
			if ps[n].BytesReceived <= before[n].BytesReceived {
				return false
			}
		}
		return true
	})
	after := e.paths()
	for _, n := range names[1:] {
		b, a := before[n], after[n]
		if !a.Ready || a.Source == nil || a.Source.ID != b.Source.ID {
			t.Errorf("%s was disturbed: ready %v, publisher %v -> %v", n, a.Ready, b.Source, a.Source)
		}
		if a.BytesReceived <= b.BytesReceived {
			t.Errorf("%s stopped receiving (%d -> %d bytes)", n, b.BytesReceived, a.BytesReceived)
		}
	}
	for _, n := range names[1:] {
		if st := e.status(n); st.Reconnects != 0 || st.State != relay.StateStreaming {
			t.Errorf("%s: state %s, %d reconnects", n, st.State, st.Reconnects)
		}
	}
	if st := e.status("cam01"); st.State == relay.StateStreaming {
		t.Errorf("cam01 still streaming after its camera was removed")
	}
}

// Issue 2, check 7: tcp, udp and auto source transports.
func TestSourceTransports(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	cams := map[string]*camsim.Camera{}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "output: %s\ncameras:\n", e.output())
	for _, tr := range []string{"tcp", "udp", "auto"} {
		cams[tr] = e.camera(camsim.CameraConfig{Path: "t" + tr, Audio: audioClip})
		fmt.Fprintf(&cfg, "  - {name: t%s, source: %q, transport: %s}\n", tr, e.sim.URL("t"+tr), tr)
	}
	e.runRelay(cfg.String())
	e.waitReady(15*time.Second, "ttcp", "tudp", "tauto")
	want := map[string][2]int{"tcp": {1, 0}, "udp": {0, 1}, "auto": {0, 1}} // auto tries UDP first; it works on loopback
	for tr, w := range want {
		tcp, udp := cams[tr].Transports()
		if tcp != w[0] || udp != w[1] {
			t.Errorf("transport %s: camera sees %d TCP and %d UDP sessions, want %v", tr, tcp, udp, w)
		}
		r := e.reader("t" + tr)
		e.eventually(5*time.Second, "frames via "+tr, func() bool { s := r.Stats(); return s.Frames > 25 && s.Packets[1] > 25 })
	}
}

// Issue 2, check 8: the MediaMTX of these tests really refuses anonymous
// publishers; ffmpeg, an independent client, is the anonymous publisher.
func TestAnonymousPublishingRefused(t *testing.T) {
	mtx := mtxtest.Start(t, mtxtest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "h264", "-i", clipSmall, "-t", "2", "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", mtx.RTSPURL("anon", "", "")).CombinedOutput()
	if err == nil {
		t.Fatalf("anonymous publish succeeded: %s", out)
	}
	if !strings.Contains(string(out), "401") && !strings.Contains(strings.ToLower(string(out)), "unauthorized") {
		t.Fatalf("ffmpeg failed, but not with 401: %s", out)
	}
	out, err = exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "h264", "-i", clipSmall, "-t", "1", "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", mtx.RTSPURL("named", mtxtest.RelayUser, mtxtest.RelayPass)).CombinedOutput()
	if err != nil {
		t.Fatalf("the relay user could not publish: %v: %s", err, out)
	}
}

// Camera quirks seen in the field: each camera is relayed and the
// reader at MediaMTX gets a decodable picture of the right size.
func TestCameraQuirks(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	quirks := map[string]camsim.CameraConfig{
		"qop":       {User: "admin", Pass: "qop-pass", Auth: camsim.AuthDigestQop},
		"second401": {User: "admin", Pass: "s-pass", Auth: camsim.AuthDigest, SecondChallenge: true},
		"basic":     {User: "admin", Pass: "b:p@ss", Auth: camsim.AuthBasic},
		"inband":    {InBandOnly: true},
		"bigpkts":   {Clip: clip720, BigPackets: true},
		"spsmark":   {MarkerOnParams: true},
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "output: %s\n%s\ncameras:\n", e.output(), fastDefaults)
	var names []string
	for name, c := range quirks {
		c.Path = name
		e.camera(c)
		names = append(names, name)
		fmt.Fprintf(&cfg, "  - {name: %s, source: %q, transport: tcp}\n", name, e.sim.URL(name))
	}
	e.runRelay(cfg.String())
	e.waitReady(15*time.Second, names...)
	for _, name := range names {
		r := e.reader(name)
		e.eventually(5*time.Second, name+": frames at the reader", func() bool { return r.Stats().Frames > 30 })
		s := r.Stats()
		w := 320
		if quirks[name].Clip == clip720 {
			w = 1280
		}
		if s.Width != w || s.DecodeError != 0 || s.StampsBack != 0 {
			t.Errorf("%s: reader saw width %d (want %d), %d decode errors, %d stamps out of order", name, s.Width, w, s.DecodeError, s.StampsBack)
		}
		r.Close()
	}
	e.ffmpegDecodes("bigpkts", 2)
	if st := e.status("bigpkts"); st.Split == 0 || st.Oversized != 0 {
		t.Errorf("bigpkts: %d packets split, %d dropped; want oversized packets re-fragmented", st.Split, st.Oversized)
	}
	assertNoSecrets(t, "camrelay log", e.logs.String(), "qop-pass", "s-pass", "b:p@ss")
}
