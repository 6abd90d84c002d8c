package main

import (
	"bytes"
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
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/transport"
)

// authSetup is camrelay with its auth server, and a MediaMTX that trusts it
// (jwt mode: MediaMTX reads camrelay's JWKS; http mode: MediaMTX asks
// camrelay's callback), camrelay publishing every camera with a token it
// minted for that camera's path.
func authSetup(t *testing.T, mode string) (*env, string) {
	t.Helper()
	apiPort := loopback.TCPPort(t)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	mc := mtxtest.Config{AuthMethod: mode, API: true}
	switch mode {
	case "jwt":
		mc.AuthJWTJWKS = apiURL + "/.well-known/jwks.json"
		// The test reads MediaMTX's API anonymously; camrelay itself
		// would sign tokens for it (relay/auth's tests cover that).
		mc.Extra = "authJWTExclude: [{action: api}, {action: metrics}]\n"
	case "http":
		mc.AuthHTTPAddress = apiURL + "/v1/mediamtx/auth"
		mc.Extra = "authHTTPExclude: [{action: api}, {action: metrics}]\n"
	}
	e := newEnv(t, mc)
	for _, n := range []string{"camera_one", "camera_two", "camera_three"} {
		e.camera(camsim.CameraConfig{Path: n})
	}
	demo, _ := auth.HashArgon2id("demo-pass")
	admin, _ := auth.HashArgon2id("admin-pass")
	keys := filepath.Join(t.TempDir(), "keys")
	cfg := fmt.Sprintf(`
output: rtsp://camrelay@%s/{path}
api: {listen: 127.0.0.1:%d}
mediamtx: {api: %s}
auth:
  keys: %s
  token_ttl: 10m
  publish_tokens: true
  users:
    - user: demo
      pass: '%s'
      permissions:
        - {action: read, path: camera_one}
        - {action: read, path: camera_two}
    - user: admin
      pass: '%s'
      permissions: [{action: api}, {action: read}]
cameras:
  - {name: camera_one, source: %q}
  - {name: camera_two, source: %q}
  - {name: camera_three, source: %q}
`, e.mtx.RTSPAddr(), apiPort, e.mtx.APIURL(), keys, demo, admin, e.sim.URL("camera_one"), e.sim.URL("camera_two"), e.sim.URL("camera_three"))
	e.runRelay(cfg)
	return e, apiURL
}

func getToken(t *testing.T, apiURL, user, pass string, extra map[string]any) (int, string) {
	t.Helper()
	body := map[string]any{"username": user, "password": pass}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	res, err := http.Post(apiURL+"/v1/token", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Token, Error string }
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out.Token
}

func canRead(e *env, path, token string) error {
	r := &transport.RTSPReader{URL: "rtsp://viewer:" + token + "@" + e.mtx.RTSPAddr() + "/" + path}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return err
	}
	r.Close()
	return nil
}

// Issue 5, checks 1 and 6 through camrelay: the seed's flow in jwt mode,
// with camrelay publishing every camera with its own per-path token.
func TestAuthJWTThroughCamrelay(t *testing.T) {
	e, apiURL := authSetup(t, "jwt")
	e.waitReady(15*time.Second, "camera_one", "camera_two", "camera_three") // published with camrelay's own tokens

	code, tok := getToken(t, apiURL, "demo", "demo-pass", nil)
	if code != 200 || tok == "" {
		t.Fatalf("token: %d", code)
	}
	if err := canRead(e, "camera_one", tok); err != nil {
		t.Errorf("reading camera_one with the token: %v", err)
	}
	if err := canRead(e, "camera_three", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("reading camera_three: %v, want 401", err)
	}
	if out, err := ffmpegPublish("rtsp://" + e.mtx.RTSPAddr() + "/camera_one?jwt=" + tok); err == nil {
		t.Errorf("a read token published: %s", out)
	}
	if code, _ := getToken(t, apiURL, "demo", "wrong", nil); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _ := getToken(t, apiURL, "demo", "demo-pass", map[string]any{"permissions": []map[string]string{{"action": "publish", "path": "camera_one"}}}); code != 403 {
		t.Errorf("asking for more than granted: %d, want 403", code)
	}

	// A token from the command line, narrowed to camera_two.
	var out, errb bytes.Buffer
	if c := run([]string{"token", "-c", e.configPath, "--user", "demo", "--read", "camera_two", "--ttl", "5m"}, &out, &errb); c != 0 {
		t.Fatalf("camrelay token: %d %s", c, errb.String())
	}
	cli := strings.TrimSpace(out.String())
	if err := canRead(e, "camera_two", cli); err != nil {
		t.Errorf("CLI token for camera_two: %v", err)
	}
	if err := canRead(e, "camera_one", cli); err == nil {
		t.Error("a token narrowed to camera_two read camera_one")
	}

	// The API takes Bearer tokens with the api permission only.
	call := func(tok string) int {
		req, _ := http.NewRequest("GET", apiURL+"/v1/cameras", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	_, adminTok := getToken(t, apiURL, "admin", "admin-pass", nil)
	if c := call(adminTok); c != 200 {
		t.Errorf("api with an admin token: %d", c)
	}
	if c := call(tok); c != 401 {
		t.Errorf("api with a read-only token: %d, want 401", c)
	}

	// Rotation through the running camrelay: old tokens keep working, new
	// ones work at once (camrelay made MediaMTX refetch the JWKS).
	out.Reset()
	errb.Reset()
	if c := run([]string{"keys", "rotate", "-c", e.configPath}, &out, &errb); c != 0 || !strings.Contains(out.String(), "running camrelay") {
		t.Fatalf("keys rotate: %d %s %s", c, out.String(), errb.String())
	}
	_, fresh := getToken(t, apiURL, "demo", "demo-pass", nil)
	if err := canRead(e, "camera_one", fresh); err != nil {
		t.Errorf("a token of the new key: %v", err)
	}
	if err := canRead(e, "camera_one", tok); err != nil {
		t.Errorf("a token of the old key after rotation: %v", err)
	}
	// camrelay's publishers reconnect with tokens of the new key.
	if err := e.mtx.Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitReady(20*time.Second, "camera_one", "camera_two", "camera_three")
	assertNoSecrets(t, "camrelay log", e.logs.String(), tok, fresh, adminTok, "demo-pass", "admin-pass")
}

// Issue 5, check 5 through camrelay: in http mode a revoked token is
// refused at the next check.
func TestAuthHTTPRevocationThroughCamrelay(t *testing.T) {
	e, apiURL := authSetup(t, "http")
	e.waitReady(15*time.Second, "camera_one")
	_, tok := getToken(t, apiURL, "demo", "demo-pass", nil)
	if err := canRead(e, "camera_one", tok); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	req, _ := http.NewRequest("POST", apiURL+"/v1/token/revoke", strings.NewReader(`{"token":"`+tok+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if err := canRead(e, "camera_one", tok); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("after revocation: %v, want 401", err)
	}
}

// mediamtx-config --auth jwt|http writes a section MediaMTX loads.
func TestMediaMTXConfigAuthModes(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "camrelay.yml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("output: rtsp://camrelay@127.0.0.1:8554/{path}\nauth: {keys: %s, publish_tokens: true}\ncameras:\n  - {name: gate, source: 'rtsp://10.0.0.6/s1', mode: direct}\nmediamtx: {api: 'http://127.0.0.1:9997'}\n", filepath.Join(dir, "keys"))), 0o600)
	for _, mode := range []string{"jwt", "http"} {
		var out, errb bytes.Buffer
		if c := run([]string{"mediamtx-config", "-c", cfgPath, "--auth", mode}, &out, &errb); c != 0 {
			t.Fatalf("%s: %d %s", mode, c, errb.String())
		}
		s := out.String()
		if !strings.Contains(s, "authMethod: "+mode) && !strings.Contains(s, `authMethod: "`+mode+`"`) {
			t.Errorf("%s: %s", mode, s)
		}
		mtxtest.Start(t, mtxtest.Config{Extra: s}) // fails the test if MediaMTX refuses it
	}
}
