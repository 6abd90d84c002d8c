package config

import (
	"strings"
	"testing"
)

func TestUIWHEPURL(t *testing.T) {
	for _, tc := range []struct {
		url, err string
	}{
		{"", ""},
		{"http://{host}:8889/{path}/whep", ""},
		{"https://media.example.com/{path}/whep", ""},
		{"http://127.0.0.1:8889/whep", "must contain {path}"},
		{"rtsp://127.0.0.1:8554/{path}", "must be an http(s) URL"},
		{"http://user:pw@127.0.0.1:8889/{path}/whep", "must not hold credentials"},
		{"http://{path}:8889/whep", "not its host"},
		{"http://{name}:8889/{path}/whep", "only {host} and {path}"},
	} {
		_, err := Parse([]byte("ui: {whep_url: '"+tc.url+"'}\n"), env(nil), Caps{})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.url, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), "ui.whep_url: ") || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: want an error naming ui.whep_url and %q, got %v", tc.url, tc.err, err)
		case err != nil && strings.Contains(err.Error(), "pw"):
			t.Errorf("%q: the error shows the password: %v", tc.url, err)
		}
	}
	u := UI{WHEPURL: "http://{host}:8889/{path}/whep"}
	if got := u.WHEP("10.0.0.5", "site/cam1"); got != "http://10.0.0.5:8889/site/cam1/whep" {
		t.Errorf("WHEP: %s", got)
	}
}
