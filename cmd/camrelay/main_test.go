package main

import (
	"bytes"
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

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("output: rtsp://relay:${CHECK_PASS}@127.0.0.1:8554/{path}\ncameras:\n  - {name: lobby, source: 'rtsp://admin:hunter2@10.1.2.3/s1', path: site1/lobby}\n"), 0o600)
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("output: rtsp://127.0.0.1:8554/{path}\ncameras:\n  - {name: lobby, source: 'rtsp://admin:hunter2@10.1.2.3/s1', transport: tpc}\n"), 0o600)
	t.Setenv("CHECK_PASS", "s3cret")

	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("check of a good file: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "lobby: rtsp://admin:***@10.1.2.3/s1 -> rtsp://relay:***@127.0.0.1:8554/site1/lobby") {
		t.Errorf("check output: %s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "-c", bad}, &out, &errb); code != 1 {
		t.Fatalf("check of a bad file: exit %d", code)
	}
	if !strings.Contains(errb.String(), `camera "lobby": transport: must be tcp, udp or auto, not "tpc"`) {
		t.Errorf("error does not name the camera and field: %s", errb.String())
	}
	assertNoSecrets(t, "check output", out.String()+errb.String(), "hunter2", "s3cret")
	if code := run([]string{"bogus"}, &out, &errb); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// The binary, as users run it: SIGTERM closes the publish session and
// exits 0; the log never shows a credential.
func TestRunBinaryStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := buildCamrelay(t)
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "porch", User: "admin", Pass: "porch-secret", Auth: camsim.AuthBasic})
	cfg := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
output: rtsp://relay:${RELAY_PASS}@%s/{path}
api: {listen: 127.0.0.1:0}
cameras:
  - name: porch
    source: rtsp://admin:${PORCH_PASS}@%s/porch
`, e.mtx.RTSPAddr(), e.sim.Addr())), 0o600)
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Env = append(os.Environ(), "RELAY_PASS="+mtxtest.RelayPass, "PORCH_PASS=porch-secret")
	var logs loopback.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	e.waitReady(10*time.Second, "porch")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("camrelay exited with %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("camrelay did not exit within 10 s of SIGTERM\n%s", logs.String())
	}
	e.eventually(5*time.Second, "the MediaMTX path to be released", func() bool { return !e.paths()["porch"].Ready })
	if !strings.Contains(logs.String(), "stopping") {
		t.Errorf("no shutdown message in the log:\n%s", logs.String())
	}
	assertNoSecrets(t, "camrelay log", logs.String(), "porch-secret", mtxtest.RelayPass)
}
