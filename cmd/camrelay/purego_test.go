package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camrelay/camrelay/internal/testenv/loopback"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
)

// Issue 3, check 6: a pure-Go build (CGO_ENABLED=0) compiles, relays copy
// cameras and refuses transcoding cameras with a message that says how to
// build with libav.
func TestPureGoBuild(t *testing.T) {
	bin := buildCamrelay(t, "CGO_ENABLED=0")
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "plain"})
	dir := t.TempDir()

	mixed := filepath.Join(dir, "mixed.yml")
	os.WriteFile(mixed, []byte(fmt.Sprintf(`
output: rtsp://relay:%s@%s/{path}
api: {listen: off}
cameras:
  - {name: plain, source: %q}
  - {name: mjpeg, source: 'http://127.0.0.1:1/video.mjpg'}
  - {name: h265, source: 'rtsp://127.0.0.1:1/h265', mode: transcode}
`, mtxtest.RelayPass, e.mtx.RTSPAddr(), e.sim.URL("plain"))), 0o600)
	for _, cmd := range []string{"check", "run"} {
		out, err := exec.Command(bin, cmd, "-c", mixed).CombinedOutput()
		if err == nil {
			t.Fatalf("%s accepted transcoding cameras in a pure-Go build:\n%s", cmd, out)
		}
		for _, want := range []string{`camera "mjpeg": mode: transcoding needs camrelay built with libav`, `camera "h265": mode:`, "go build -tags libav"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("camrelay %s: output lacks %q:\n%s", cmd, want, out)
			}
		}
	}
	if p, ok := e.paths()["plain"]; ok && p.Ready {
		t.Fatal("the refused configuration started a camera anyway")
	}

	copyOnly := filepath.Join(dir, "copy.yml")
	os.WriteFile(copyOnly, []byte(fmt.Sprintf("output: rtsp://relay:%s@%s/{path}\napi: {listen: off}\ncameras:\n  - {name: plain, source: %q}\n",
		mtxtest.RelayPass, e.mtx.RTSPAddr(), e.sim.URL("plain"))), 0o600)
	cmd := exec.Command(bin, "run", "-c", copyOnly)
	var logs loopback.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	e.waitReady(10*time.Second, "plain")
}
