package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.SetBasicAuth("admin", "pw")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	// A client that follows redirects, method and all: what a redirect of
	// a mutating request would do to it is the finding.
	c := &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
		r.Method = via[0].Method
		return nil
	}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Issue 15, security 1: nothing posted to the API is expanded from the
// process environment, and the refusal names the field without echoing the
// value or telling which variables exist.
func TestAPIDoesNotExpandEnvironment(t *testing.T) {
	t.Setenv("CAMRELAY_TEST_SECRET", "s3cr3t-from-env")
	ts := newServer(t, "")
	for _, tc := range []struct{ body, field string }{
		{`{"name":"leak1","source":"rtsp://127.0.0.1:1/${CAMRELAY_TEST_SECRET}"}`, "source"},
		{`{"name":"leak2","source":"rtsp://127.0.0.1:1/x","path":"p${CAMRELAY_TEST_SECRET}"}`, "path"},
		{`{"name":"leak3","source":"rtsp://127.0.0.1:1/x","output":"rtsp://u:${CAMRELAY_TEST_SECRET}@127.0.0.1:2/x"}`, "output"},
		{`{"name":"leak4","source":"rtsp://127.0.0.1:1/${NO_SUCH_VARIABLE_HERE}"}`, "source"},
		{`{"name":"leak5","source":"rtsp://127.0.0.1:1/x","video":{"preset":"${CAMRELAY_TEST_SECRET}"}}`, "video.preset"},
	} {
		code, body := call(t, "POST", ts.URL+"/v1/cameras", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.field+": ") {
			t.Errorf("POST %s: %d %s, want 400 naming %s", tc.body, code, body, tc.field)
		}
		for _, leak := range []string{"s3cr3t-from-env", "CAMRELAY_TEST_SECRET", "NO_SUCH_VARIABLE_HERE"} {
			if strings.Contains(body, leak) {
				t.Errorf("POST %s: the answer gives away %q: %s", tc.body, leak, body)
			}
		}
	}
	code, body := call(t, "PUT", ts.URL+"/v1/cameras/cam", `{"source":"rtsp://127.0.0.1:1/${CAMRELAY_TEST_SECRET}"}`)
	if code != http.StatusBadRequest || strings.Contains(body, "s3cr3t") {
		t.Errorf("PUT with ${...}: %d %s", code, body)
	}
	_, list := call(t, "GET", ts.URL+"/v1/cameras", "")
	if strings.Contains(list, "s3cr3t") || strings.Contains(list, "leak") {
		t.Errorf("a refused camera was kept: %s", list)
	}
}

// Issue 15, security 4: names with "." or ".." segments are refused, and
// a path with them is answered 400, never redirected to another camera.
func TestAPIDotSegmentsNeverReachAnotherCamera(t *testing.T) {
	ts := newServer(t, "")
	if code, body := call(t, "POST", ts.URL+"/v1/cameras", `{"name":"victim","source":"rtsp://127.0.0.1:1/v"}`); code != http.StatusCreated {
		t.Fatalf("add victim: %d %s", code, body)
	}
	for _, name := range []string{"x/../victim", "./victim", "a//b", "a/.", ".."} {
		code, body := call(t, "POST", ts.URL+"/v1/cameras", `{"name":"`+name+`","source":"rtsp://127.0.0.1:1/x"}`)
		if code != http.StatusBadRequest || !strings.Contains(body, "name: ") {
			t.Errorf("add %q: %d %s, want 400 naming the name", name, code, body)
		}
	}
	for _, p := range []string{"/v1/cameras/x/../victim", "/v1/cameras/./victim", "/v1/cameras//victim", "/v1/cameras/x/%2e%2e/victim"} {
		code, body := call(t, "DELETE", ts.URL+p, "")
		if code != http.StatusBadRequest {
			t.Errorf("DELETE %s: %d %s, want 400", p, code, body)
		}
	}
	if code, body := call(t, "GET", ts.URL+"/v1/cameras/victim", ""); code != http.StatusOK {
		t.Errorf("the victim camera is gone: %d %s", code, body)
	}
}
