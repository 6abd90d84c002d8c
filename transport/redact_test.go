package transport

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"rtsp://admin:hunter2@10.0.0.1:554/stream1":    "rtsp://admin:***@10.0.0.1:554/stream1",
		"rtsp://10.0.0.1/stream":                       "rtsp://10.0.0.1/stream",
		"rtsp://user@10.0.0.1/stream":                  "rtsp://user@10.0.0.1/stream",
		"rtsp://127.0.0.1:8554/cam?jwt=eyJabc.def&x=1": "rtsp://127.0.0.1:8554/cam?jwt=***&x=1",
		"http://a:p%40ss@h/mjpg":                       "http://a:***@h/mjpg",
		"rtsp://a:b@h%zz/x":                            "rtsp://***@h%zz/x",
		"not a url":                                    "not a url",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubRemovesSecretsKeepsChain(t *testing.T) {
	base := errors.New("dial rtsp://admin:p%40ss@cam:554/x failed: password p@ss refused, token=abc123xyz")
	err := Scrub(base, "rtsp://admin:p%40ss@cam:554/x", "rtsp://mtx/x?jwt=abc123xyz")
	msg := err.Error()
	for _, secret := range []string{"p@ss", "p%40ss", "abc123xyz"} {
		if strings.Contains(msg, secret) {
			t.Errorf("scrubbed error still contains %q: %s", secret, msg)
		}
	}
	if !errors.Is(err, base) {
		t.Error("scrubbed error lost its chain")
	}
	if Scrub(nil) != nil {
		t.Error("Scrub(nil) != nil")
	}
	clean := errors.New("connection refused")
	if Scrub(clean, "rtsp://a:b@h/") != clean {
		t.Error("an error without secrets should come back unchanged")
	}
}
