package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay"
)

// rtmpCamera is an RTMP camera: MediaMTX's own RTMP server, fed by ffmpeg
// publishing a clip in a loop. Stop and start simulate the camera going
// away; SIGSTOP on the publisher freezes it with the connection open.
type rtmpCamera struct {
	t    *testing.T
	mtx  *mtxtest.Server
	url  string
	clip string
	cmd  *exec.Cmd
}

func startRTMPCamera(t *testing.T, path string) *rtmpCamera {
	t.Helper()
	port := loopback.TCPPort(t)
	mtx := mtxtest.Start(t, mtxtest.Config{
		// Reading the camera needs its credentials (RTMP carries them in
		// the query); the clip's publisher and the readiness probe do not.
		Users: []mtxtest.User{
			{User: "admin", Pass: "cam-secret", Permissions: []mtxtest.Permission{{Action: "read"}}},
			{User: "any", IPs: []string{"127.0.0.1", "::1"}, Permissions: []mtxtest.Permission{{Action: "publish"}, {Action: "api"}}},
		},
		API:   true,
		Extra: fmt.Sprintf("rtmp: yes\nrtmpAddress: 127.0.0.1:%d\n", port),
	})
	// A raw H.264 clip cannot be looped (ffmpeg cannot seek it): remux it.
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "h264", "-framerate", "25", "-i", clip720, "-c", "copy", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg remux: %v: %s", err, out)
	}
	c := &rtmpCamera{t: t, mtx: mtx, clip: clip, url: fmt.Sprintf("rtmp://127.0.0.1:%d/%s", port, path)}
	c.start()
	t.Cleanup(c.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("RTMP camera's MediaMTX log (tail):\n%s", tail(mtx.Log(), 3000))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := mtx.WaitPathReady(ctx, path); err != nil {
		t.Fatalf("RTMP camera: %v\n%s", err, tail(mtx.Log(), 2000))
	}
	return c
}

func (c *rtmpCamera) start() {
	c.t.Helper()
	c.cmd = exec.Command("ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", c.clip, "-c", "copy", "-f", "flv", c.url)
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("ffmpeg: %v", err)
	}
}

func (c *rtmpCamera) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGCONT)
		c.cmd.Process.Kill()
		c.cmd.Wait()
		c.cmd = nil
	}
}

// Issue 10, must show 1: an RTMP camera (MediaMTX's RTMP server fed by
// ffmpeg) relayed by camrelay into a second MediaMTX with auth; ffprobe
// sees H.264 at the sink. Reconnects, stall detection and status too.
func TestRTMPCameraRelayed(t *testing.T) {
	cam := startRTMPCamera(t, "channel0_main")
	e := newEnv(t, mtxtest.Config{})
	e.runRelay(fmt.Sprintf(`
output: %s
cameras:
  - name: reolink
    source: %s?user=admin&pass=cam-secret
    stall_timeout: 2s
defaults:
  backoff_max: 1s
`, e.output(), cam.url))
	e.waitReady(20*time.Second, "reolink")

	streams := e.ffprobe("reolink")
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width != 1280 || streams[0].Height != 720 {
		t.Fatalf("ffprobe sees %+v, want one h264 stream at 1280x720", streams)
	}
	e.ffmpegDecodes("reolink", 3)
	st := e.status("reolink")
	if st.State != relay.StateStreaming || st.Sink.State != relay.SinkPublishing || st.Width != 1280 || st.Height != 720 {
		t.Errorf("status %+v", st)
	}

	// Frozen camera: the RTMP connection stays open, nothing arrives.
	cam.cmd.Process.Signal(syscall.SIGSTOP)
	e.eventually(10*time.Second, "the stall to be detected", func() bool {
		return strings.Contains(e.status("reolink").LastError, "stalled")
	})
	cam.cmd.Process.Signal(syscall.SIGCONT)

	// Camera gone and back: camrelay reconnects by itself.
	cam.stop()
	e.eventually(10*time.Second, "the camera's loss to show in the status", func() bool {
		return e.status("reolink").State != relay.StateStreaming
	})
	cam.start()
	e.eventually(20*time.Second, "the camera to stream again", func() bool {
		st := e.status("reolink")
		return st.State == relay.StateStreaming && st.Reconnects > 0
	})
	e.waitReady(10*time.Second, "reolink")
	assertNoSecrets(t, "camrelay log", e.logs.String(), "cam-secret", mtxtest.RelayPass)
}
