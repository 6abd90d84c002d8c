package main

import (
	"fmt"
	"io"
	"net/http"
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

// Issue 13, must show 5: audio: opus (or aac) on a copy camera, in a
// pure-Go build, is refused at check, saying how to build with libav;
// audio: drop is not (it needs no codec).
func TestCopyAudioPureGo(t *testing.T) {
	bin := buildCamrelay(t, "CGO_ENABLED=0")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yml")
	os.WriteFile(cfg, []byte(`
output: rtsp://relay:x@127.0.0.1:1/{path}
api: {listen: off}
cameras:
  - {name: door, source: 'rtsp://127.0.0.1:1/door', audio: opus}
  - {name: yard, source: 'rtsp://127.0.0.1:1/yard', audio: aac}
  - {name: hall, source: 'rtsp://127.0.0.1:1/hall', audio: drop}
  - {name: gate, source: 'rtsp://127.0.0.1:1/gate', video: {fps: 10}}
`), 0o600)
	out, err := exec.Command(bin, "check", "-c", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("check accepted audio: opus in a pure-Go build:\n%s", out)
	}
	for _, want := range []string{
		`camera "door": audio: opus re-encodes the camera's audio, and transcoding needs camrelay built with libav`,
		`camera "yard": audio: aac re-encodes`,
		"go build -tags libav",
		`camera "gate": video: only a camera with mode: transcode takes video settings`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), `camera "hall"`) {
		t.Errorf("audio: drop refused:\n%s", out)
	}
}

// Issue 13: in a pure-Go build, snapshot.jpg answers 501 saying how to
// build with libav; an unknown camera is still 404.
func TestSnapshotPureGo(t *testing.T) {
	bin := buildCamrelay(t, "CGO_ENABLED=0")
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "plain"})
	port := loopback.TCPPort(t)
	cfg := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("output: rtsp://relay:%s@%s/{path}\napi: {listen: 127.0.0.1:%d}\ncameras:\n  - {name: plain, source: %q}\n",
		mtxtest.RelayPass, e.mtx.RTSPAddr(), port, e.sim.URL("plain"))), 0o600)
	cmd := exec.Command(bin, "run", "-c", cfg)
	var logs loopback.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("camrelay log:\n%s", logs.String())
		}
	}()
	e.waitReady(10*time.Second, "plain")
	get := func(path string) (int, string) {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/v1/cameras/plain/snapshot.jpg"); code != 501 || !strings.Contains(body, "go build -tags libav") {
		t.Errorf("snapshot in a pure-Go build: %d %s, want 501 saying how to build with libav", code, body)
	}
	if code, body := get("/v1/cameras/nosuch/snapshot.jpg"); code != 404 {
		t.Errorf("unknown camera: %d %s, want 404", code, body)
	}
}
