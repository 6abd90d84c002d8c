package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay/auth"
)

func TestProbeCommand(t *testing.T) {
	e := newEnv(t, mtxtest.Config{})
	e.camera(camsim.CameraConfig{Path: "p", Audio: audioClip, User: "admin", Pass: "probe-secret", Auth: camsim.AuthDigest})
	var out, errb bytes.Buffer
	if code := run([]string{"probe", "-t", "2s", e.sim.URL("p")}, &out, &errb); code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errb.String())
	}
	s := out.String()
	for _, want := range []string{"track 0: video H264/90000, 320x240, 2", "fps", "track 1: audio PCMU/8000", "WebRTC: ready", "no transcoding needed"} {
		if !strings.Contains(s, want) {
			t.Errorf("probe output lacks %q:\n%s", want, s)
		}
	}
	assertNoSecrets(t, "probe output", s+errb.String(), "probe-secret")
	out.Reset()
	errb.Reset()
	bad := strings.Replace(e.sim.URL("p"), "probe-secret", "wrong-secret", 1)
	if code := run([]string{"probe", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Errorf("probe with a wrong password: exit %d: %s", code, errb.String())
	}
	assertNoSecrets(t, "probe error", errb.String(), "wrong-secret")
}

func TestPasswdCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := cmdPasswd(nil, strings.NewReader("s3cret pass\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	h := auth.Credential(strings.TrimSpace(out.String()))
	if !strings.HasPrefix(string(h), "argon2:$argon2id$") || !h.Check("s3cret pass") || h.Check("s3cret") {
		t.Fatalf("hash %q", h)
	}
}

// The MediaMTX configuration camrelay prints is accepted by MediaMTX and
// gives exactly the intended access: camrelay publishes, anonymous users
// read, and nobody else publishes.
func TestMediaMTXConfigWorksInMediaMTX(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "camrelay.yml")
	os.WriteFile(cfgPath, []byte(`
output: rtsp://relay:${MC_PASS}@127.0.0.1:8554/{path}
serve: {listen: 127.0.0.1:8556, user: mtx, pass: pull-pass}
cameras:
  - {name: lobby, source: 'rtsp://admin:cam-pass@10.0.0.5/s1'}
  - {name: gate, source: 'rtsp://admin:gate-pass@10.0.0.6/s1', mode: direct, on_demand: true}
  - {name: od, source: 'rtsp://10.0.0.7/s1', on_demand: true}
mediamtx: {api: 'http://127.0.0.1:9997', user: camrelay, pass: api-pass}
`), 0o600)
	t.Setenv("MC_PASS", "relay-pass")
	var out, errb bytes.Buffer
	if code := run([]string{"mediamtx-config", "-c", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	assertNoSecrets(t, "mediamtx-config output", s, "relay-pass", "gate-pass", "pull-pass", "api-pass")
	var doc struct {
		AuthInternalUsers []struct {
			User, Pass  string
			IPs         []string
			Permissions []struct{ Action string }
		} `yaml:"authInternalUsers"`
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, s)
	}
	if g := doc.Paths["gate"]; g["source"] != "rtsp://admin:***@10.0.0.6/s1" || g["sourceOnDemand"] != true {
		t.Errorf("gate path %v", g)
	}
	if o := doc.Paths["od"]; o["source"] != "rtsp://mtx:***@127.0.0.1:8556/od" || o["sourceOnDemand"] != true {
		t.Errorf("od path %v", o)
	}
	if _, ok := doc.Paths["lobby"]; ok {
		t.Error("a published camera got a pulled path")
	}

	// With --secrets the file is complete; load it into a real MediaMTX.
	out.Reset()
	if code := run([]string{"mediamtx-config", "-c", cfgPath, "--secrets"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "gate-pass") {
		t.Error("--secrets did not write the camera password")
	}
	mtx := mtxtest.Start(t, mtxtest.Config{Extra: out.String()})
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{{"relay", "relay-pass", true}, {"", "", false}, {"relay", "wrong", false}} {
		ffout, err := ffmpegPublish(mtx.RTSPURL("lobby", tc.user, tc.pass))
		if (err == nil) != tc.ok {
			t.Errorf("publish as %q: err %v, want ok=%v: %s", tc.user, err, tc.ok, ffout)
		}
	}
}
