package transport

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// authParams reads the parameters of a Digest Authorization value.
func authParams(t *testing.T, h string) map[string]string {
	t.Helper()
	cs := parseChallenges(h)
	if len(cs) != 1 || cs[0].scheme != "Digest" {
		t.Fatalf("not one Digest value: %q", h)
	}
	return cs[0].params
}

func fixedCnonce(s string) func() string { return func() string { return s } }

// TestDigestRFC2617Vector: the example of RFC 2617 section 3.5 (qop=auth,
// MD5, opaque).
func TestDigestRFC2617Vector(t *testing.T) {
	a := newAuthenticator("Mufasa", "Circle Of Life", true)
	a.cnonce = fixedCnonce("0a4f113b")
	if !a.Challenge([]string{`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`}) {
		t.Fatal("first challenge not worth a try")
	}
	p := authParams(t, a.Authorization("GET", "/dir/index.html"))
	want := map[string]string{"username": "Mufasa", "realm": "testrealm@host.com", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		"uri": "/dir/index.html", "qop": "auth", "nc": "00000001", "cnonce": "0a4f113b",
		"response": "6629fae49393a05397450978507c4ef1", "opaque": "5ccc069c403ebaf9f0171e9517f40e41"}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if _, ok := p["algorithm"]; ok {
		t.Error("algorithm sent although the server named none")
	}
}

// TestDigestRFC7616Vectors: the examples of RFC 7616 section 3.9.1, SHA-256
// and MD5; SHA-256 wins when both are offered.
func TestDigestRFC7616Vectors(t *testing.T) {
	const params = `realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`
	a := newAuthenticator("Mufasa", "Circle of Life", true)
	a.cnonce = fixedCnonce("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
	a.Challenge([]string{"Digest " + params + ", algorithm=MD5", "Digest " + params + ", algorithm=SHA-256"})
	p := authParams(t, a.Authorization("GET", "/dir/index.html"))
	if p["algorithm"] != "SHA-256" || p["response"] != "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" {
		t.Errorf("SHA-256: %v", p)
	}
	a = newAuthenticator("Mufasa", "Circle of Life", true)
	a.cnonce = fixedCnonce("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
	a.Challenge([]string{"Digest " + params + ", algorithm=MD5"})
	if p := authParams(t, a.Authorization("GET", "/dir/index.html")); p["algorithm"] != "MD5" || p["response"] != "8ca523f5e9506fed4657c9700eebdbec" {
		t.Errorf("MD5: %v", p)
	}
}

// TestDigestRFC2069: no qop offered, the answer is H(HA1:nonce:HA2) with
// no qop, nc or cnonce.
func TestDigestRFC2069(t *testing.T) {
	a := newAuthenticator("u", "p", true)
	a.Challenge([]string{`Digest realm="r", nonce="n1"`})
	uri := "rtsp://10.0.0.1:554/stream1"
	p := authParams(t, a.Authorization("DESCRIBE", uri))
	for _, k := range []string{"qop", "nc", "cnonce", "opaque", "algorithm"} {
		if _, ok := p[k]; ok {
			t.Errorf("%s sent to a server that did not ask for it", k)
		}
	}
	if want := md5hex(md5hex("u:r:p") + ":n1:" + md5hex("DESCRIBE:"+uri)); p["response"] != want || p["uri"] != uri {
		t.Errorf("response %s uri %s, want %s", p["response"], p["uri"], want)
	}
	// qop offered without "auth" (auth-int only): answered the 2069 way.
	a = newAuthenticator("u", "p", true)
	a.Challenge([]string{`Digest realm="r", nonce="n1", qop="auth-int"`})
	if _, ok := authParams(t, a.Authorization("DESCRIBE", uri))["qop"]; ok {
		t.Error("qop=auth sent although only auth-int was offered")
	}
}

// TestDigestNonceCount: nc counts the requests of a nonce and starts again
// at 1 with a new one; each request gets its own cnonce and a valid answer.
func TestDigestNonceCount(t *testing.T) {
	a := newAuthenticator("admin", "secret", true)
	a.Challenge([]string{`Digest realm="IP Camera", nonce="abc", qop="auth"`})
	check := func(nonce, nc string) {
		t.Helper()
		p := authParams(t, a.Authorization("SETUP", "rtsp://cam/s/trackID=1"))
		ha1, ha2 := md5hex("admin:IP Camera:secret"), md5hex("SETUP:rtsp://cam/s/trackID=1")
		if p["nonce"] != nonce || p["nc"] != nc || p["cnonce"] == "" ||
			p["response"] != md5hex(ha1+":"+nonce+":"+nc+":"+p["cnonce"]+":auth:"+ha2) {
			t.Fatalf("want nonce %s nc %s: %v", nonce, nc, p)
		}
	}
	check("abc", "00000001")
	check("abc", "00000002")
	check("abc", "00000003")
	if !a.Challenge([]string{`Digest realm="IP Camera", nonce="def", qop="auth", stale=true`}) {
		t.Fatal("a new nonce is worth a try")
	}
	check("def", "00000001")
	check("def", "00000002")
}

// TestDigestRetries: whether a 401 is worth sending the request again.
func TestDigestRetries(t *testing.T) {
	ch := func(nonce string) []string { return []string{`Digest realm="r", nonce="` + nonce + `", qop="auth"`} }

	a := newAuthenticator("u", "p", true)
	if a.Authorization("OPTIONS", "rtsp://h/") != "" {
		t.Fatal("credentials sent before any challenge")
	}
	if !a.Challenge(ch("n1")) {
		t.Fatal("first challenge: credentials not offered yet")
	}
	a.Authorization("DESCRIBE", "rtsp://h/s")
	if a.Challenge(ch("n1")) {
		t.Fatal("the same nonce refused again: wrong password, no retry")
	}
	// A stale nonce (or any new one) after credentials were sent: one
	// more try, with the new nonce.
	if !a.Challenge([]string{`Digest realm="r", nonce="n2", qop="auth", stale=TRUE`}) {
		t.Fatal("stale nonce: no retry")
	}
	if p := authParams(t, a.Authorization("DESCRIBE", "rtsp://h/s")); p["nonce"] != "n2" {
		t.Fatalf("retry used nonce %s", p["nonce"])
	}
	if a.Challenge(ch("n2")) {
		t.Fatal("the fresh nonce refused too: no retry")
	}

	// A challenge seen twice before anything was sent is still worth it.
	b := newAuthenticator("u", "p", true)
	b.Challenge(ch("n1"))
	if !b.Challenge(ch("n1")) {
		t.Fatal("nothing sent yet, yet no retry")
	}

	// No credentials: nothing to offer.
	if newAuthenticator("", "", false).Challenge(ch("n1")) {
		t.Fatal("retry without credentials")
	}
	// A password alone (a token) is credentials.
	if !newAuthenticator("", "token", true).Challenge(ch("n1")) {
		t.Fatal("no retry with a password and no user")
	}
}

func TestBasic(t *testing.T) {
	a := newAuthenticator("admin", "s3cret:x@y", true)
	if !a.Challenge([]string{`Basic realm="cam"`}) {
		t.Fatal("first Basic challenge: no retry")
	}
	if got := a.Authorization("DESCRIBE", "rtsp://h/s"); got != "Basic YWRtaW46czNjcmV0OnhAeQ==" {
		t.Fatalf("Basic answer %q", got)
	}
	if a.Challenge([]string{`Basic realm="cam"`}) {
		t.Fatal("Basic refused: wrong password, no retry")
	}

	// Digest wins over Basic, whatever the order.
	b := newAuthenticator("u", "p", true)
	b.Challenge([]string{`Basic realm="cam"`, `Digest realm="cam", nonce="n"`})
	if v := b.Authorization("GET", "/"); !strings.HasPrefix(v, "Digest ") {
		t.Fatalf("answer %q, want Digest", v)
	}
	// After a Digest answer, a Basic challenge never gets the password in
	// clear.
	if b.Challenge([]string{`Basic realm="cam"`}) {
		t.Fatal("downgraded to Basic after Digest")
	}
}

func TestParseChallenges(t *testing.T) {
	// Commas and escaped quotes inside quoted strings; spaces around '=';
	// upper-case names; several challenges in one value.
	cs := parseChallenges(`Basic realm="a, b", DIGEST Realm = "x, \"y\"", nonce="n,1" , qop="auth,auth-int", algorithm=MD5`)
	if len(cs) != 2 || cs[0].scheme != "Basic" || cs[0].params["realm"] != "a, b" || cs[1].scheme != "DIGEST" {
		t.Fatalf("challenges %+v", cs)
	}
	if p := cs[1].params; p["realm"] != `x, "y"` || p["nonce"] != "n,1" || p["qop"] != "auth,auth-int" || p["algorithm"] != "MD5" {
		t.Fatalf("params %v", p)
	}
	a := newAuthenticator("u", "p", true)
	a.Challenge([]string{`Digest realm="x, \"y\"", nonce="n,1", qop="auth"`})
	p := authParams(t, a.Authorization("GET", "/"))
	if p["realm"] != `x, "y"` || p["nonce"] != "n,1" {
		t.Fatalf("quoted values not echoed: %v", p)
	}
	ha1 := md5hex(`u:x, "y":p`)
	if p["response"] != md5hex(ha1+":n,1:"+p["nc"]+":"+p["cnonce"]+":auth:"+md5hex("GET:/")) {
		t.Fatal("response over unescaped values wrong")
	}
}

// TestMalformedChallenges: challenges camrelay cannot answer are not
// answered, and nothing panics.
func TestMalformedChallenges(t *testing.T) {
	for _, v := range []string{
		``,
		`Digest`,
		`Digest realm="r"`,                // no nonce
		`Digest realm="r", nonce="n`,      // unterminated quote
		`Digest realm="r", nonce="n\`,     // escape at the end
		`Digest realm="r", =x, nonce="n"`, // empty name
		`Digest realm="r", nonce=a"b`,     // quote inside a token
		`Digest realm="r", nonce="n", algorithm=SHA-512-256`,
		`Digest realm="r", nonce="n", algorithm=MD5-sess`,
		`Digest abc==`, // token68
		`Bearer realm="r"`,
		`Digestrealm="r", nonce="n"`,
		`realm="r", nonce="n"`, // no scheme
		`, , ,`,
		`"`,
		`Digest ,,,, "`,
	} {
		a := newAuthenticator("u", "p", true)
		if a.Challenge([]string{v}) {
			t.Errorf("%q accepted: answer %q", v, a.Authorization("GET", "/"))
		}
	}
	// A bad challenge beside a good one: the good one is answered.
	a := newAuthenticator("u", "p", true)
	if !a.Challenge([]string{`Digest realm="r", nonce="x`, `Digest realm="r", nonce="good"`}) {
		t.Fatal("good challenge not taken")
	}
	if p := authParams(t, a.Authorization("GET", "/")); p["nonce"] != "good" {
		t.Fatalf("nonce %q", p["nonce"])
	}
}

// TestAuthenticatorConcurrent: keepalives are built beside the read loop
// that hands over new challenges (run with -race).
func TestAuthenticatorConcurrent(t *testing.T) {
	a := newAuthenticator("u", "p", true)
	a.Challenge([]string{`Digest realm="r", nonce="n0", qop="auth"`})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if g%2 == 0 {
					a.Challenge([]string{`Digest realm="r", nonce="n` + string(rune('a'+i%26)) + `", qop="auth"`})
				} else if a.Authorization("OPTIONS", "rtsp://h/") == "" {
					t.Error("no answer")
					return
				}
			}
		})
	}
	wg.Wait()
}
