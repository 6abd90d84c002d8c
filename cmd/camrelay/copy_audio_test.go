package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image/jpeg"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/transport"
)

const (
	aacClip   = "../../testdata/clips/aac_16000.aac"
	clipH265  = "../../testdata/clips/h265_640x360_25.h265"
	copyFrame = 30 // frames compared byte for byte per camera
)

// frameHashes reads a stream and hashes each access unit's NAL units
// (parameter sets and delimiters left out: a server may add or repeat them),
// keyed by the frame number of camsim's SEI stamp.
type frameHashes struct {
	mu sync.Mutex
	m  map[uint64][32]byte
}

func (f *frameHashes) onFrame(codecName string, au [][]byte, _ int64) {
	h265 := codecName == "H265"
	var stamp codec.Stamp
	found := false
	sum := sha256.New()
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if s, ok := codec.ParseStampSEI(n, h265); ok {
			stamp, found = s, true
		}
		if t := n[0] & 0x1f; !h265 && (t == 7 || t == 8 || t == 9) {
			continue
		}
		if t := (n[0] >> 1) & 0x3f; h265 && (t >= 32 && t <= 35) {
			continue
		}
		fmt.Fprintf(sum, "%d:", len(n))
		sum.Write(n)
	}
	if !found {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var h [32]byte
	copy(h[:], sum.Sum(nil))
	f.m[stamp.Frame] = h
}

// compare counts the frames both saw and those whose bytes differ.
func (f *frameHashes) compare(g *frameHashes) (same, differ int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	for n, h := range f.m {
		if h2, ok := g.m[n]; ok {
			if h == h2 {
				same++
			} else {
				differ++
			}
		}
	}
	return same, differ
}

func (e *env) hashReader(url string) *frameHashes {
	e.t.Helper()
	f := &frameHashes{m: map[uint64][32]byte{}}
	r := &transport.RTSPReader{URL: url, OnFrame: f.onFrame}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		e.t.Fatalf("reading %s: %v", transport.RedactURL(url), err)
	}
	e.t.Cleanup(r.Close)
	return f
}

func codecNames(ss []probeStream) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.CodecName)
	}
	return strings.Join(out, ",")
}

// Issue 13, must show 2: copy cameras with G.711 and AAC audio and
// audio: opus: MediaMTX has H.264 plus Opus (what browsers play over
// WebRTC), and the video is the camera's, byte for byte; audio: drop
// leaves the video alone.
func TestCopyAudio(t *testing.T) {
	if !libav.Available {
		t.Skip("audio: opus needs libav (go test -tags libav)")
	}
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "g711", Audio: audioClip})
	e.camera(camsim.CameraConfig{Path: "aac", Audio: aacClip})
	e.camera(camsim.CameraConfig{Path: "aacaac", Audio: aacClip})
	e.camera(camsim.CameraConfig{Path: "mute", Audio: audioClip})
	e.runRelay(fmt.Sprintf(`output: %s
cameras:
  - {name: g711, source: %q, transport: tcp, audio: opus}
  - {name: aac, source: %q, transport: tcp, audio: opus}
  - {name: aacaac, source: %q, transport: tcp, audio: aac}
  - {name: mute, source: %q, transport: tcp, audio: drop}
`, e.output(), e.sim.URL("g711"), e.sim.URL("aac"), e.sim.URL("aacaac"), e.sim.URL("mute")))
	e.waitReady(15*time.Second, "g711", "aac", "aacaac", "mute")

	// The camera itself, and what MediaMTX serves, read side by side.
	type pair struct{ cam, mtx *frameHashes }
	pairs := map[string]pair{}
	for _, name := range []string{"g711", "aac"} {
		pairs[name] = pair{e.hashReader(e.sim.URL(name)), e.hashReader(e.mtx.RTSPURL(name, "", ""))}
	}

	want := map[string]string{"g711": "h264,opus", "aac": "h264,opus", "aacaac": "h264,aac", "mute": "h264"}
	for name, w := range want {
		if got := codecNames(e.ffprobe(name)); got != w {
			t.Errorf("%s: ffprobe sees %s, want %s", name, got, w)
		}
	}
	for name, p := range pairs {
		e.eventually(15*time.Second, name+": frames seen by both readers", func() bool {
			same, differ := p.cam.compare(p.mtx)
			return same+differ >= copyFrame
		})
		same, differ := p.cam.compare(p.mtx)
		t.Logf("%s: %d frames byte-identical at the camera and at MediaMTX, %d differ", name, same, differ)
		if differ != 0 {
			t.Errorf("%s: %d of %d frames differ between the camera and MediaMTX", name, differ, same+differ)
		}
	}
	// Audio flows: Opus packets (20 ms each) at MediaMTX for both.
	for _, name := range []string{"g711", "aac", "aacaac"} {
		r := e.reader(name)
		e.eventually(10*time.Second, name+": audio packets at MediaMTX", func() bool {
			st := r.Stats()
			return len(st.Packets) == 2 && st.Packets[1] >= 25
		})
	}
	e.ffmpegDecodes("g711", 2)
	e.ffmpegDecodes("aac", 2)
	if st := e.status("g711"); strings.Join(st.Tracks, ",") != "video H264/90000,audio OPUS/48000/2" {
		t.Errorf("status tracks %v", st.Tracks)
	}
}

// Issue 13, must show 3: snapshot.jpg of copy cameras (H.264 and H.265):
// the newest keyframe decoded on request, ?width= for thumbnails; an
// unknown camera is 404.
func TestSnapshotCopyCameras(t *testing.T) {
	if !libav.Available {
		t.Skip("snapshots need libav (go test -tags libav)")
	}
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "s264"})
	e.camera(camsim.CameraConfig{Path: "s265", Codec: "H265", Clip: clipH265})
	e.camera(camsim.CameraConfig{Path: "sjpg", Codec: "JPEG", Width: 320, Height: 240})
	e.runRelay(fmt.Sprintf("output: %s\ncameras:\n  - {name: s264, source: %q}\n  - {name: s265, source: %q}\n  - {name: sjpg, source: %q}\n",
		e.output(), e.sim.URL("s264"), e.sim.URL("s265"), e.sim.URL("sjpg")))
	e.waitReady(15*time.Second, "s264", "s265", "sjpg")

	for _, c := range []struct {
		name, query string
		w, h        int
	}{
		{"s264", "", 320, 240},
		{"s264", "?width=160", 160, 120},
		{"s265", "", 640, 360},
		{"s265", "?width=160", 160, 90},
		{"sjpg", "?width=160", 160, 120}, // RTP/JPEG (RFC 2435) copy camera
	} {
		code, body := e.call("GET", "/v1/cameras/"+c.name+"/snapshot.jpg"+c.query, nil, false)
		if code != 200 {
			t.Errorf("%s snapshot%s: %d %s", c.name, c.query, code, body)
			continue
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Errorf("%s snapshot%s: not a JPEG: %v", c.name, c.query, err)
			continue
		}
		if cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s snapshot%s: %dx%d, want %dx%d", c.name, c.query, cfg.Width, cfg.Height, c.w, c.h)
		}
	}
	// Cached for a second: the same bytes again at once.
	_, a := e.call("GET", "/v1/cameras/s264/snapshot.jpg", nil, false)
	_, b := e.call("GET", "/v1/cameras/s264/snapshot.jpg", nil, false)
	if !bytes.Equal(a, b) {
		t.Error("two snapshots within a second differ: not cached")
	}
	if code, body := e.call("GET", "/v1/cameras/nosuch/snapshot.jpg", nil, false); code != 404 {
		t.Errorf("unknown camera: %d %s, want 404", code, body)
	}
	for _, q := range []string{"?width=8", "?width=5000", "?width=abc"} {
		if code, body := e.call("GET", "/v1/cameras/s264/snapshot.jpg"+q, nil, false); code != 400 || !strings.Contains(string(body), "width") {
			t.Errorf("snapshot%s: %d %s, want 400 naming width", q, code, body)
		}
	}
}
