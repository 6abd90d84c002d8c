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
		"rtsp://TOKEN123@10.0.0.1/stream":              "rtsp://***@10.0.0.1/stream",
		"rtsp://127.0.0.1:8554/cam?jwt=eyJabc.def&x=1": "rtsp://127.0.0.1:8554/cam?jwt=***&x=***",
		"rtsp://h/cam?channel=1&subtype=0":             "rtsp://h/cam?channel=1&subtype=0",
		"http://h/snap.cgi?apikey=K1&sig=S2&channel=2": "http://h/snap.cgi?apikey=***&channel=2&sig=***",
		"rtmp://h/bcs/ch0.bcs?user=admin&pass=P4":      "rtmp://h/bcs/ch0.bcs?pass=***&user=admin",
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

func TestScrubFreeText(t *testing.T) {
	msg := `dial rtsp://TOKEN123@cam/x failed; GET "http://h/a?apikey=K9x7&channel=3": 403, retry rtsp://u:pw55@h:554/y`
	got := Scrub(errors.New(msg)).Error()
	for _, secret := range []string{"TOKEN123", "K9x7", "pw55"} {
		if strings.Contains(got, secret) {
			t.Errorf("scrubbed text still contains %q: %s", secret, got)
		}
	}
	for _, keep := range []string{"channel=3", "rtsp://u:***@h:554/y", "403"} {
		if !strings.Contains(got, keep) {
			t.Errorf("scrubbed text lost %q: %s", keep, got)
		}
	}
}

// Issue 15, reliability 5: what a garbage server sends reaches logs and
// status quoted and cut short.
func TestScrubQuotesAndTruncatesGarbage(t *testing.T) {
	garbage := "bad answer: " + strings.Repeat("\x00\x01\xfe\x1b[31m", 300)
	got := Scrub(errors.New(garbage)).Error()
	if len(got) > maxErrorText+64 {
		t.Errorf("%d bytes of error text, want about %d", len(got), maxErrorText)
	}
	for _, r := range got {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			t.Fatalf("raw control or invalid byte %q left in %q", r, got)
		}
	}
	if !strings.HasPrefix(got, `bad answer: \x00\x01\xfe\x1b[31m`) || !strings.Contains(got, "bytes more)") {
		t.Errorf("garbage not quoted and cut: %q", got)
	}
	if ok := errors.New("connection refused"); Scrub(ok) != ok {
		t.Error("a clean short error should come back unchanged")
	}
}
