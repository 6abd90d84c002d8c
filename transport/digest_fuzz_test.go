package transport

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"testing"
)

// FuzzDigestChallenge gives the authenticator any WWW-Authenticate value
// (two of them, as a camera may send). Whatever it agrees to answer, its
// answer reads back with the challenge's realm, nonce and opaque intact
// (quoting round-trips), carries the right response hash, and the same
// challenge refused again is never worth another try (no endless 401 loop).
// Basic is never sent after a Digest challenge was seen.
func FuzzDigestChallenge(f *testing.F) {
	f.Add(`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`, "")
	f.Add(`Digest realm="IP Camera(23431)", nonce="a, b, c", stale="FALSE"`, `Basic realm="IP Camera(23431)"`)
	f.Add(`Basic realm="cam", Digest realm="b, \"quoted\"", nonce="c,d", algorithm=SHA-256, qop=auth`, "")
	f.Add(`Digest realm="r", nonce="n", algorithm=MD5-sess`, `Digest realm="r", nonce="n2", algorithm="md5"`)
	f.Add(`Digest realm="unterminated, nonce="x"`, `Negotiate abc==, Digest nonce=plain`)
	f.Add(`Digest realm="a\\b", nonce="\"", opaque=""`, "")
	f.Add(`Bearer realm="x", error="invalid_token"`, "Basic")
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		if strings.ContainsAny(v1+v2, "\r\n") {
			return // not a header value
		}
		values := []string{v1, v2}
		const user, pass, method, uri = `ad"min`, `pa:ss\`, "DESCRIBE", "rtsp://127.0.0.1:554/Streaming/Channels/101"
		a := newAuthenticator(user, pass, true)
		a.cnonce = func() string { return "0a4f113b" }
		c, basic := pickChallenge(values)
		if !a.Challenge(values) {
			if c != nil || basic {
				t.Fatalf("challenge %+v (basic %v) not taken", c, basic)
			}
			if a.Authorization(method, uri) != "" {
				t.Fatal("credentials sent unasked")
			}
			return
		}
		h := a.Authorization(method, uri)
		switch {
		case c == nil:
			if !basic || !strings.HasPrefix(h, "Basic ") {
				t.Fatalf("no Digest, yet %q", h)
			}
		default:
			cs := parseChallenges(h)
			if len(cs) != 1 || cs[0].scheme != "Digest" {
				t.Fatalf("answer %q does not read back", h)
			}
			p := cs[0].params
			if p["username"] != user || p["realm"] != c.realm || p["nonce"] != c.nonce || p["uri"] != uri || p["opaque"] != c.opaque {
				t.Fatalf("answer %q reads back as %v, challenge %+v", h, p, c)
			}
			var newHash func() hash.Hash = md5.New
			if c.sha256 {
				newHash = sha256.New
			}
			hx := func(s string) string {
				h := newHash()
				h.Write([]byte(s))
				return hex.EncodeToString(h.Sum(nil))
			}
			ha1, ha2 := hx(user+":"+c.realm+":"+pass), hx(method+":"+uri)
			want := hx(ha1 + ":" + c.nonce + ":" + ha2)
			if c.qop {
				want = hx(ha1 + ":" + c.nonce + ":00000001:0a4f113b:auth:" + ha2)
			}
			if p["response"] != want {
				t.Fatalf("response %s, want %s", p["response"], want)
			}
		}
		if a.Challenge(values) {
			t.Fatalf("the same challenge, refused, is worth another try: %q", values)
		}
	})
}
