package transport

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func params(h string) map[string]string {
	out := map[string]string{}
	for _, kv := range splitParams(strings.TrimPrefix(h, "Digest ")) {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

func TestDigestQopAnswerVerifies(t *testing.T) {
	d := &digestAuth{user: "admin", pass: "secret"}
	d.onResponse(&base.Response{StatusCode: 401, Header: base.Header{"WWW-Authenticate": base.HeaderValue{
		`Basic realm="cam"`,
		`Digest realm="IP Camera", nonce="abc123", qop="auth,auth-int", opaque="xyz"`,
	}}})
	u, _ := base.ParseURL("rtsp://admin:secret@10.0.0.1:554/stream1")
	req := &base.Request{Method: base.Describe, URL: u, Header: base.Header{"Authorization": base.HeaderValue{`Digest username="admin"`}}}
	d.onRequest(req)
	p := params(req.Header["Authorization"][0])
	if p["qop"] != "auth" || p["nc"] != "00000001" || p["cnonce"] == "" || p["opaque"] != "xyz" {
		t.Fatalf("answer lacks qop fields: %v", p)
	}
	uri := "rtsp://10.0.0.1:554/stream1"
	if p["uri"] != uri {
		t.Fatalf("uri %q carries credentials or differs", p["uri"])
	}
	ha1 := md5hex("admin:IP Camera:secret")
	ha2 := md5hex("DESCRIBE:" + uri)
	want := md5hex(ha1 + ":abc123:" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if p["response"] != want {
		t.Fatalf("response %s, want %s", p["response"], want)
	}
	d.onRequest(req)
	if p2 := params(req.Header["Authorization"][0]); p2["nc"] != "00000002" {
		t.Fatalf("nonce count did not advance: %v", p2["nc"])
	}
}

func TestDigestWithoutQopAndFreshNonce(t *testing.T) {
	d := &digestAuth{user: "u", pass: "p"}
	d.onResponse(&base.Response{StatusCode: 401, Header: base.Header{"WWW-Authenticate": base.HeaderValue{`Digest realm="r", nonce="n1"`}}})
	u, _ := base.ParseURL("rtsp://h/s")
	req := &base.Request{Method: base.Describe, URL: u, Header: base.Header{"Authorization": base.HeaderValue{"Digest x"}}}
	d.onRequest(req)
	p := params(req.Header["Authorization"][0])
	if _, ok := p["qop"]; ok {
		t.Fatal("qop sent to a camera that did not offer it")
	}
	if want := md5hex(md5hex("u:r:p") + ":n1:" + md5hex("DESCRIBE:rtsp://h/s")); p["response"] != want {
		t.Fatalf("RFC 2069 response wrong")
	}
	if d.retryable() {
		t.Fatal("retryable before a second 401")
	}
	d.onResponse(&base.Response{StatusCode: 401, Header: base.Header{"WWW-Authenticate": base.HeaderValue{`Digest realm="r", nonce="n2", stale=TRUE`}}})
	if !d.retryable() {
		t.Fatal("a second 401 with a new nonce should allow one retry")
	}
	d.onRequest(req)
	if params(req.Header["Authorization"][0])["nonce"] != "n2" || d.retryable() {
		t.Fatal("retry did not use the fresh nonce")
	}
}

func TestBasicAuthorizationLeftAlone(t *testing.T) {
	d := &digestAuth{user: "u", pass: "p"}
	u, _ := base.ParseURL("rtsp://h/s")
	req := &base.Request{Method: base.Describe, URL: u, Header: base.Header{"Authorization": base.HeaderValue{"Basic dTpw"}}}
	d.onRequest(req)
	if req.Header["Authorization"][0] != "Basic dTpw" {
		t.Fatal("Basic authorization was rewritten")
	}
}
