package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/config"
)

// fuzzCamera is the camera every FuzzCameraBody run starts with: disabled,
// so that it connects nowhere; PUT bodies replace it.
const fuzzCamera = `{"name":"fz","source":"rtsp://127.0.0.1:1/x","disabled":true}`

// newFuzzHandler runs an App with an open loopback API (no users), one
// disabled camera, and every address it could reach pointing at a closed
// loopback port.
func newFuzzHandler(f *testing.F) http.Handler {
	dir := f.TempDir()
	path := filepath.Join(dir, "camrelay.yml")
	cfg := "output: rtsp://127.0.0.1:1/{path}\napi:\n  listen: 127.0.0.1:0\nserve:\n  listen: 127.0.0.1:0\n" +
		"defaults: {backoff_min: 1s, backoff_max: 1s}\ncameras:\n  - {name: fz, source: 'rtsp://127.0.0.1:1/x', disabled: true}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := runApp(f, &relay.App{ConfigPath: path, Log: quiet})
	return (&Server{App: app, Log: quiet}).Handler()
}

// loopbackOnly says whether every address in the camera is the closed
// loopback port the fuzz App uses: the fuzzer must not make camrelay
// connect anywhere else (DESIGN.md, network hygiene).
func loopbackOnly(c config.Camera) bool {
	for _, s := range []string{c.Source, c.Output} {
		u, err := url.Parse(strings.NewReplacer("{path}", "p", "{name}", "n").Replace(s))
		if err != nil || u.Host == "" {
			continue // refused by validation: no host to reach
		}
		if u.Hostname() != "127.0.0.1" || u.Port() != "1" {
			return false
		}
	}
	return true
}

func serve(h http.Handler, method, target string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzCameraBody sends any body as POST /v1/cameras or PUT /v1/cameras/fz
// through the real handler and App (validation, the configuration file's
// edit, the camera's start). The API must never answer 500 (a panic is
// answered 500 by the handler's recovery): a body is either accepted (201,
// 200) or refused with a JSON error (4xx). An accepted camera's answer
// never shows the password of its URLs. An accepted camera is deleted (or
// the original put back) so that every input meets the same state.
func FuzzCameraBody(f *testing.F) {
	seeds := []string{
		`{"name":"lobby","source":"rtsp://admin:s3cretpw@127.0.0.1:1/Streaming/Channels/101","transport":"tcp","path":"site1/lobby"}`,
		`{"name":"mj","source":"http://u:p4ssword@127.0.0.1:1/video.mjpg","mode":"transcode","video":{"width":640,"height":360,"fps":10,"bitrate":"800k"}}`,
		`{"name":"d","source":"rtsp://127.0.0.1:1/x","mode":"direct"}`,
		`{"name":"o","source":"rtsp://127.0.0.1:1/x","on_demand":true,"stall_timeout":"3s","read_timeout":"1s","publish_timeout":"0s"}`,
		`{"name":"fz","source":"rtsp://127.0.0.1:1/y","disabled":true}`,
		`{"source":"rtsp://127.0.0.1:1/y","disabled":true,"audio":"opus"}`,
		`{"name":"x","source":"rtsp://127.0.0.1:1/${HOME}"}`,
		`{"name":"../fz","source":"rtsp://127.0.0.1:1/x"}`,
		`{"name":"a","source":"rtsp://127.0.0.1:1/x","output":"rtsp://u:pw@127.0.0.1:1/{path}?apikey=k"}`,
		`{"name":"a","source":"rtsp://127.0.0.1:1/x","stall_timeout":5}`,
		`{"name":"a","source":"rtsp://127.0.0.1:1/x","video":{"bitrate":-1,"fps":1e400}}`,
		`{"name":"a","source":"rtsp://127.0.0.1:1/x"} {"name":"b"}`,
		`{"name":"a","source":"rtsp://127.0.0.1:1/x","bogus":1}`,
		`[]`, `null`, `"x"`, ``, `{`, "{\"name\":\"\x00\"}",
	}
	for _, s := range seeds {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	h := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, put bool, body []byte) {
		var c config.Camera
		if json.Unmarshal(body, &c) == nil && !loopbackOnly(c) {
			return
		}
		method, target := http.MethodPost, "/v1/cameras"
		if put {
			method, target = http.MethodPut, "/v1/cameras/fz"
		}
		rec := serve(h, method, target, body)
		code, answer := rec.Code, rec.Body.String()
		switch {
		case code >= 500:
			t.Fatalf("%s %s: %d %s", method, body, code, answer)
		case code >= 400:
			var e struct{ Error string }
			if json.Unmarshal([]byte(answer), &e) != nil || e.Error == "" {
				t.Fatalf("%s: %d without a JSON error: %s", method, code, answer)
			}
			return
		case code != http.StatusCreated && code != http.StatusOK:
			t.Fatalf("%s: %d %s", method, code, answer)
		}
		for _, s := range []string{c.Source, c.Output} {
			if u, err := url.Parse(s); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && strings.Contains(answer, pw) {
					t.Fatalf("the answer shows the password %q: %s", pw, answer)
				}
			}
		}
		// Back to the starting state.
		if put {
			if rec := serve(h, http.MethodPut, "/v1/cameras/fz", []byte(fuzzCamera)); rec.Code != http.StatusOK {
				t.Fatalf("restoring fz: %d %s", rec.Code, rec.Body)
			}
			return
		}
		loc := rec.Header().Get("Location")
		if !strings.HasPrefix(loc, "/v1/cameras/") {
			t.Fatalf("201 without a Location: %s", answer)
		}
		if rec := serve(h, http.MethodDelete, loc, nil); rec.Code != http.StatusNoContent {
			t.Fatalf("deleting %q: %d %s", loc, rec.Code, rec.Body)
		}
	})
}
