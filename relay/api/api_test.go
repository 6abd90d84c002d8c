package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer runs an App with no cameras (the API's own behaviour does not
// need any; the end-to-end tests in cmd/camrelay cover cameras).
func newServer(t *testing.T, extra string) *httptest.Server {
	t.Helper()
	ts, _ := newServerAt(t, extra)
	return ts
}

// newServerAt is newServer that also gives the configuration file's path.
func newServerAt(t *testing.T, extra string) (*httptest.Server, string) {
	t.Helper()
	h, err := auth.HashArgon2id("pw")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "camrelay.yml")
	os.WriteFile(path, []byte("output: rtsp://127.0.0.1:1/{path}\napi:\n  listen: 127.0.0.1:0\n  users: [{user: admin, pass: '"+string(h)+"'}]\n"+extra+"cameras: []\n"), 0o600)
	ts := httptest.NewServer((&Server{App: runApp(t, &relay.App{ConfigPath: path})}).Handler())
	t.Cleanup(ts.Close)
	return ts, path
}

// runApp runs app (loaded from its ConfigPath) until the test ends.
func runApp(tb testing.TB, app *relay.App) *relay.App {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := app.Started()
	go func() { done <- app.Run(ctx, nil) }()
	select {
	case <-started:
	case err := <-done:
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return app
}

func get(t *testing.T, url, user, pass, bearer string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, res.Header, b.String()
}

func TestAuthAndHeaders(t *testing.T) {
	ts := newServer(t, "")
	if code, _, _ := get(t, ts.URL+"/healthz", "", "", ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	code, h, _ := get(t, ts.URL+"/v1/cameras", "", "", "")
	if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d %v", code, h)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "admin", "nope", ""); code != 401 {
		t.Errorf("wrong password: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "nobody", "pw", ""); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
	start := time.Now()
	code, h, body := get(t, ts.URL+"/v1/cameras", "admin", "pw", "")
	first := time.Since(start)
	if code != 200 || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("authorized: %d %v", code, h)
	}
	var page struct{ Total, Page, PerPage int }
	if err := json.Unmarshal([]byte(body), &page); err != nil || page.Total != 0 || page.Page != 1 {
		t.Errorf("page %+v %v", page, err)
	}
	start = time.Now()
	get(t, ts.URL+"/v1/cameras", "admin", "pw", "")
	t.Logf("first Basic check %v (argon2), cached %v", first, time.Since(start))
	if code, _, _ := get(t, ts.URL+"/metrics", "admin", "pw", ""); code != 200 {
		t.Errorf("metrics: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/v1/nothing", "admin", "pw", ""); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras/x/snapshot.jpg", "admin", "pw", ""); code != 404 {
		t.Errorf("snapshot of an unknown camera: %d", code)
	}
}

func TestBearerTokensNeedTheAPIPermission(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	ts := newServer(t, "auth:\n  keys: "+keys+"\n")
	// The API's issuer is the App's; mint through a read-only issuer on the
	// same key file, as `camrelay token` does.
	is, err := auth.NewIssuer(auth.IssuerOptions{KeyFile: filepath.Join(keys, "jwt-keys.json"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	api, _, _ := is.Mint(auth.MintRequest{Subject: "ops", Permissions: auth.Permissions{{Action: "api"}}, TTL: time.Minute})
	read, _, _ := is.Mint(auth.MintRequest{Subject: "viewer", Permissions: auth.Permissions{{Action: "read"}}, TTL: time.Minute})
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "", "", api); code != 200 {
		t.Errorf("api token: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "", "", read); code != 401 {
		t.Errorf("read token: %d", code)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "", "", "not.a.token"); code != 401 {
		t.Errorf("garbage token: %d", code)
	}
	if code, h, body := get(t, ts.URL+"/.well-known/jwks.json", "", "", ""); code != 200 || !strings.Contains(body, `"use":"sig"`) || h.Get("Cache-Control") == "no-store" {
		t.Errorf("jwks: %d %q %s", code, h.Get("Cache-Control"), body)
	}
}
