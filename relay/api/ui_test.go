package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camrelay/camrelay/relay/auth"
)

func post(t *testing.T, url, user, pass, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

// The status page and its files need the API's credentials; without them
// the answer is 401 and holds nothing of the page or the cameras.
func TestStatusPageNeedsCredentials(t *testing.T) {
	ts := newServer(t, "ui: {whep_url: 'http://{host}:8889/{path}/whep'}\n")
	if code, body := post(t, ts.URL+"/v1/cameras", "admin", "pw", `{"name":"secretcam","source":"rtsp://u:campw@127.0.0.1:1/s"}`); code != 201 {
		t.Fatalf("add camera: %d %s", code, body)
	}
	for _, p := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		code, h, body := get(t, ts.URL+p, "", "", "")
		if code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET %s without credentials: %d %v", p, code, h)
		}
		if strings.Contains(body, "secretcam") || strings.Contains(body, "<html") || strings.Contains(body, "function") {
			t.Errorf("GET %s without credentials answered with data: %s", p, body)
		}
		if code, _, _ := get(t, ts.URL+p, "admin", "wrong", ""); code != 401 {
			t.Errorf("GET %s with a wrong password: %d", p, code)
		}
	}
	if code, body := post(t, ts.URL+"/v1/cameras/secretcam/viewer-token", "", "", ""); code != 401 || strings.Contains(body, "whep") {
		t.Errorf("viewer token without credentials: %d %s", code, body)
	}

	code, h, body := get(t, ts.URL+"/", "admin", "pw", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `src="/ui/app.js"`) {
		t.Fatalf("GET /: %d %v %.200s", code, h, body)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "connect-src 'self' http://127.0.0.1:8889", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "http") && strings.Contains(body, "://") {
		t.Errorf("the page needs inline code or loads from elsewhere: CSP %q", csp)
	}
	for f, ct := range map[string]string{"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"} {
		if code, h, _ := get(t, ts.URL+"/ui/"+f, "admin", "pw", ""); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), ct) {
			t.Errorf("GET /ui/%s: %d %s", f, code, h.Get("Content-Type"))
		}
	}
	if code, _, _ := get(t, ts.URL+"/ui/index.html", "admin", "pw", ""); code != 404 {
		t.Errorf("GET /ui/index.html: %d", code)
	}

	// Without auth.keys there is no token: MediaMTX reads are open, or
	// guarded by MediaMTX's own users.
	code, body = post(t, ts.URL+"/v1/cameras/secretcam/viewer-token", "admin", "pw", "")
	var acc viewerAccess
	if err := json.Unmarshal([]byte(body), &acc); code != 200 || err != nil || acc.WHEPURL != "http://127.0.0.1:8889/secretcam/whep" || acc.Token != "" {
		t.Errorf("viewer token: %d %s", code, body)
	}
	if code, _ := post(t, ts.URL+"/v1/cameras/nocam/viewer-token", "admin", "pw", ""); code != 404 {
		t.Errorf("viewer token of an unknown camera: %d", code)
	}
	if code, _ := post(t, ts.URL+"/v1/cameras/secretcam/other", "admin", "pw", ""); code != 404 {
		t.Errorf("POST to another camera endpoint: %d", code)
	}

	// GET /v1/cameras/{name} carries the camera's state changes.
	var v struct {
		History []struct {
			Time      time.Time `json:"time"`
			State     string    `json:"state"`
			SinkState string    `json:"sink_state"`
			Reason    string    `json:"reason"`
		} `json:"history"`
	}
	code, _, body = get(t, ts.URL+"/v1/cameras/secretcam", "admin", "pw", "")
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || len(v.History) == 0 || v.History[0].State == "" || v.History[0].Time.IsZero() {
		t.Errorf("camera with history: %d %v %s", code, err, body)
	}
	if strings.Contains(body, "campw") {
		t.Errorf("the camera's password is in its view: %s", body)
	}
}

// With auth.keys, the page gets a token that may read the one camera's
// path, for a minute, and nothing else (not the API).
func TestViewerToken(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	ts := newServer(t, "auth:\n  keys: "+keys+"\nui: {whep_url: 'https://{host}/mtx/{path}/whep'}\n")
	if code, body := post(t, ts.URL+"/v1/cameras", "admin", "pw", `{"name":"site/gate","source":"rtsp://127.0.0.1:1/s"}`); code != 201 {
		t.Fatalf("add camera: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/cameras/site/gate/viewer-token", nil)
	req.SetBasicAuth("admin", "pw")
	req.Host = "cams.example.net:9990"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var acc viewerAccess
	if err := json.NewDecoder(res.Body).Decode(&acc); res.StatusCode != 200 || err != nil {
		t.Fatalf("viewer token: %d %v", res.StatusCode, err)
	}
	if acc.WHEPURL != "https://cams.example.net/mtx/site/gate/whep" || acc.Path != "site/gate" || acc.Token == "" || acc.Expires == nil {
		t.Fatalf("viewer access: %+v", acc)
	}
	is, err := auth.NewIssuer(auth.IssuerOptions{KeyFile: filepath.Join(keys, "jwt-keys.json"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	c, err := is.Verify(acc.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Allows("read", "site/gate") || c.Allows("read", "other") || c.Allows("api", "") || c.Allows("publish", "site/gate") {
		t.Errorf("viewer token permissions: %+v", c)
	}
	if life := c.Expiry.Sub(c.NotBefore); life > 2*time.Minute {
		t.Errorf("viewer token lives %v", life)
	}
	if code, _, _ := get(t, ts.URL+"/v1/cameras", "", "", acc.Token); code != 401 {
		t.Errorf("a viewer token opened the API: %d", code)
	}
	// A forged Host cannot put anything but a host name into the page's
	// policy.
	req, _ = http.NewRequest("GET", ts.URL+"/", nil)
	req.SetBasicAuth("admin", "pw")
	req.Host = "evil.example; script-src *"
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if csp := res2.Header.Get("Content-Security-Policy"); strings.Contains(csp, "evil") || strings.Contains(csp, "*") {
		t.Errorf("CSP from a forged Host: %q", csp)
	}
}

// Without ui.whep_url the page learns that previews are snapshots, and no
// token is minted.
func TestViewerTokenWithoutWHEP(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	ts := newServer(t, "auth:\n  keys: "+keys+"\n")
	if code, body := post(t, ts.URL+"/v1/cameras", "admin", "pw", `{"name":"gate","source":"rtsp://127.0.0.1:1/s"}`); code != 201 {
		t.Fatalf("add camera: %d %s", code, body)
	}
	code, body := post(t, ts.URL+"/v1/cameras/gate/viewer-token", "admin", "pw", "")
	var acc viewerAccess
	if err := json.Unmarshal([]byte(body), &acc); code != 200 || err != nil || acc.WHEPURL != "" || acc.Token != "" || acc.Path != "gate" {
		t.Errorf("viewer token without ui.whep_url: %d %s", code, body)
	}
	_, h, _ := get(t, ts.URL+"/", "admin", "pw", "")
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP without a WHEP origin: %q", csp)
	}
}
