package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testServer is an issuer and a server with two users: alice (read
// camera_one and camera_two) and admin (api, publish anywhere).
type testServer struct {
	is   *Issuer
	srv  *Server
	h    http.Handler
	logs *bytes.Buffer
}

func newTestServer(t testing.TB, io IssuerOptions, so ServerOptions) *testServer {
	t.Helper()
	is := newTestIssuer(t, io)
	so.Issuer = is
	if so.Users == nil {
		so.Users = []User{
			{Name: "alice", Password: cheapHash(t, "alicepw"), Permissions: readCams},
			{Name: "admin", Password: cheapHash(t, "adminpw"), Permissions: Permissions{{Action: ActionAPI}, {Action: ActionPublish}}},
		}
	}
	logs := &bytes.Buffer{}
	if so.Logger == nil {
		so.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{is: is, srv: srv, h: srv.Handler(), logs: logs}
}

type resp struct {
	code int
	hdr  http.Header
	body string
}

func (ts *testServer) do(method, path, body string, hdr ...string) resp {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.1:1234"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, req)
	return resp{w.Code, w.Header(), w.Body.String()}
}

func (ts *testServer) token(t testing.TB, body string) (int, TokenResponse) {
	t.Helper()
	r := ts.do("POST", TokenPath, body)
	var tr TokenResponse
	if r.code == 200 {
		if err := json.Unmarshal([]byte(r.body), &tr); err != nil {
			t.Fatal(err)
		}
	}
	return r.code, tr
}

func TestTokenEndpoint(t *testing.T) {
	clk := newClock()
	ts := newTestServer(t, IssuerOptions{Now: clk.Now, MaxTTL: 2 * time.Hour}, ServerOptions{RateLimit: RateLimit{Disabled: true}})

	code, tr := ts.token(t, `{"username":"alice","password":"alicepw"}`)
	if code != 200 {
		t.Fatalf("token: %d", code)
	}
	c, err := ts.is.Verify(tr.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.TTL() != time.Hour || !slices.Equal(c.Permissions, readCams) || !tr.ExpiresAt.Equal(c.Expiry) {
		t.Errorf("claims %+v", c)
	}

	// A subset: one camera, ten minutes.
	code, tr = ts.token(t, `{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_two"}],"ttl":"10m"}`)
	c, _ = ts.is.Verify(tr.Token)
	if code != 200 || c.TTL() != 10*time.Minute || len(c.Permissions) != 1 || c.Permissions[0].Path != "camera_two" {
		t.Errorf("subset: %d %+v", code, c)
	}
	// The configured cap may be asked for; more may not.
	if code, _ := ts.token(t, `{"username":"alice","password":"alicepw","ttl":"2h"}`); code != 200 {
		t.Errorf("ttl at the cap: %d", code)
	}

	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"wrong password", `{"username":"alice","password":"nope"}`, 401},
		{"unknown user", `{"username":"zed","password":"alicepw"}`, 401},
		{"more paths", `{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_three"}]}`, 403},
		{"any path", `{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":""}]}`, 403},
		{"a regex", `{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"~camera_one"}]}`, 403},
		{"publish", `{"username":"alice","password":"alicepw","permissions":[{"action":"publish","path":"camera_one"}]}`, 403},
		{"longer", `{"username":"alice","password":"alicepw","ttl":"3h"}`, 403},
		{"empty permissions", `{"username":"alice","password":"alicepw","permissions":[]}`, 400},
		{"extra member", `{"username":"alice","password":"alicepw","admin":true}`, 400},
		{"extra permission field", `{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_one","x":1}]}`, 400},
		{"case-folded member", `{"Username":"alice","password":"alicepw"}`, 400},
		{"duplicate member", `{"username":"zed","username":"alice","password":"alicepw"}`, 400},
		{"trailing data", `{"username":"alice","password":"alicepw"}{}`, 400},
		{"bad ttl", `{"username":"alice","password":"alicepw","ttl":"soon"}`, 400},
		{"not json", `username=alice`, 400},
	} {
		r := ts.do("POST", TokenPath, tc.body)
		if r.code != tc.code {
			t.Errorf("%s: %d, want %d (%s)", tc.name, r.code, tc.code, r.body)
		}
		var eb errorBody
		if json.Unmarshal([]byte(r.body), &eb) != nil || eb.Error == "" {
			t.Errorf("%s: no JSON error: %s", tc.name, r.body)
		}
		if r.hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s: content type %q", tc.name, r.hdr.Get("Content-Type"))
		}
	}
	// Unknown user and wrong password answer the same.
	a := ts.do("POST", TokenPath, `{"username":"alice","password":"nope"}`)
	b := ts.do("POST", TokenPath, `{"username":"zed","password":"nope"}`)
	if a.body != b.body {
		t.Errorf("answers differ: %q / %q", a.body, b.body)
	}

	if r := ts.do("GET", TokenPath, ""); r.code != 405 || r.hdr.Get("Allow") != "POST" {
		t.Errorf("GET: %d %v", r.code, r.hdr)
	}
	r := ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`, "Content-Type", "text/plain")
	if r.code != 415 {
		t.Errorf("text/plain: %d", r.code)
	}
	big := `{"username":"alice","password":"` + strings.Repeat("x", 10000) + `"}`
	if r := ts.do("POST", TokenPath, big); r.code != 413 {
		t.Errorf("10 KB body: %d", r.code)
	}
	// Security headers, and no caching of tokens.
	r = ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`)
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"} {
		if r.hdr.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, r.hdr.Get(k), v)
		}
	}
	// Passwords and tokens never reach the log.
	for _, secret := range []string{"alicepw", "nope", tr.Token, strings.Split(tr.Token, ".")[2]} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("log holds a secret")
		}
	}
	if !strings.Contains(ts.logs.String(), "wrong username or password") {
		t.Errorf("refusals not logged:\n%s", ts.logs)
	}
}

func TestCORS(t *testing.T) {
	if _, err := NewServer(ServerOptions{Issuer: newTestIssuer(t, IssuerOptions{}), AllowedOrigins: []string{"*"}}); err == nil {
		t.Error(`"*" accepted as an origin`)
	}
	ts := newTestServer(t, IssuerOptions{}, ServerOptions{AllowedOrigins: []string{"https://app.example"}})
	pre := ts.do("OPTIONS", TokenPath, "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	if pre.code != 204 || pre.hdr.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.hdr.Get("Access-Control-Allow-Methods"), "POST") || pre.hdr.Get("Vary") != "Origin" {
		t.Errorf("preflight: %d %v", pre.code, pre.hdr)
	}
	if pre.hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed")
	}
	r := ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`, "Origin", "https://app.example")
	if r.code != 200 || r.hdr.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("allowed origin: %d %v", r.code, r.hdr)
	}
	for _, m := range []string{"OPTIONS", "POST"} {
		r := ts.do(m, TokenPath, `{"username":"alice","password":"alicepw"}`, "Origin", "https://evil.example",
			"Access-Control-Request-Method", "POST")
		if r.code != 403 || r.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from another origin: %d %v", m, r.code, r.hdr)
		}
	}
	// The JWKS is public.
	j := ts.do("GET", JWKSWellKnownPath, "", "Origin", "https://evil.example")
	if j.code != 200 || j.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("jwks cors: %d %v", j.code, j.hdr)
	}
}

func TestJWKSHandler(t *testing.T) {
	ts := newTestServer(t, IssuerOptions{}, ServerOptions{JWKSPath: "/keys", JWKSMaxAge: 5 * time.Minute})
	a := ts.do("GET", JWKSWellKnownPath, "")
	b := ts.do("GET", "/keys", "")
	if a.code != 200 || b.code != 200 || a.body != b.body || a.body != string(ts.is.JWKS()) {
		t.Fatalf("jwks: %d %d", a.code, b.code)
	}
	if a.hdr.Get("Cache-Control") != "public, max-age=300" || a.hdr.Get("ETag") == "" || a.hdr.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", a.hdr)
	}
	if r := ts.do("GET", JWKSWellKnownPath, "", "If-None-Match", a.hdr.Get("ETag")); r.code != 304 {
		t.Errorf("If-None-Match: %d", r.code)
	}
	if r := ts.do("HEAD", JWKSWellKnownPath, ""); r.code != 200 || r.body != "" {
		t.Errorf("HEAD: %d %q", r.code, r.body)
	}
	if r := ts.do("POST", JWKSWellKnownPath, "{}"); r.code != 405 {
		t.Errorf("POST: %d", r.code)
	}
	if r := ts.do("GET", "/nothing", ""); r.code != 404 {
		t.Errorf("unknown path: %d", r.code)
	}
}

func TestRevokeEndpoint(t *testing.T) {
	clk := newClock()
	ts := newTestServer(t, IssuerOptions{Now: clk.Now}, ServerOptions{RateLimit: RateLimit{Disabled: true}})
	_, alice := ts.token(t, `{"username":"alice","password":"alicepw"}`)
	_, alice2 := ts.token(t, `{"username":"alice","password":"alicepw"}`)
	_, admin := ts.token(t, `{"username":"admin","password":"adminpw"}`)
	ac, _ := ts.is.Verify(alice2.Token)

	// Holding a token is enough to revoke it.
	r := ts.do("POST", RevokePath, `{"token":"`+alice.Token+`"}`)
	if r.code != 200 {
		t.Fatalf("revoke token: %d %s", r.code, r.body)
	}
	if _, err := ts.is.Verify(alice.Token); err == nil {
		t.Error("revoked token verifies")
	}
	// By jti: admins only.
	body := `{"jti":"` + ac.ID + `"}`
	if r := ts.do("POST", RevokePath, body); r.code != 401 || r.hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous jti revoke: %d", r.code)
	}
	if r := ts.do("POST", RevokePath, body, "Authorization", "Bearer "+alice2.Token); r.code != 403 {
		t.Errorf("alice revoking by jti: %d", r.code)
	}
	if r := ts.do("POST", RevokePath, body, "Authorization", "Bearer "+admin.Token); r.code != 200 {
		t.Errorf("admin revoking by jti: %d %s", r.code, r.body)
	}
	if _, err := ts.is.Verify(alice2.Token); err == nil {
		t.Error("token revoked by jti verifies")
	}
	// A user may revoke all of their own tokens (Basic credentials); not
	// someone else's.
	_, alice3 := ts.token(t, `{"username":"alice","password":"alicepw"}`)
	basic := func(u, p string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(u, p)
		return req.Header.Get("Authorization")
	}
	if r := ts.do("POST", RevokePath, `{"user":"admin"}`, "Authorization", basic("alice", "alicepw")); r.code != 403 {
		t.Errorf("alice revoking admin: %d", r.code)
	}
	if r := ts.do("POST", RevokePath, `{"user":"alice"}`, "Authorization", basic("alice", "wrong")); r.code != 401 {
		t.Errorf("wrong password: %d", r.code)
	}
	if r := ts.do("POST", RevokePath, `{"user":"alice"}`, "Authorization", basic("alice", "alicepw")); r.code != 200 {
		t.Errorf("alice revoking alice: %d %s", r.code, r.body)
	}
	if _, err := ts.is.Verify(alice3.Token); err == nil {
		t.Error("token of a revoked user verifies")
	}
	if _, err := ts.is.Verify(admin.Token); err != nil {
		t.Errorf("admin's token: %v", err)
	}
	for _, b := range []string{`{}`, `{"jti":"a","user":"b"}`, `{"token":"junk"}`, `{"jti":1}`} {
		if r := ts.do("POST", RevokePath, b, "Authorization", "Bearer "+admin.Token); r.code != 400 {
			t.Errorf("%s: %d", b, r.code)
		}
	}
	other := newTestIssuer(t, IssuerOptions{})
	foreign, _, _ := other.Mint(MintRequest{Subject: "x", Permissions: readCams})
	if r := ts.do("POST", RevokePath, `{"token":"`+foreign+`"}`); r.code != 401 {
		t.Errorf("foreign token: %d", r.code)
	}
}

// 1,000 wrong passwords from one client are rate limited with 429
// and Retry-After, and cost no password check once limited.
func TestRateLimitWrongPasswords(t *testing.T) {
	clk := newClock()
	ts := newTestServer(t, IssuerOptions{Now: clk.Now}, ServerOptions{RateLimit: RateLimit{Burst: 5, Every: 10 * time.Second}})
	counts := map[int]int{}
	var retry string
	start := time.Now()
	for i := range 1000 {
		r := ts.do("POST", TokenPath, fmt.Sprintf(`{"username":"alice","password":"guess%d"}`, i))
		counts[r.code]++
		if r.code == 429 {
			retry = r.hdr.Get("Retry-After")
		}
	}
	t.Logf("1000 attempts in %v: %v", time.Since(start), counts)
	if counts[401] != 5 || counts[429] != 995 {
		t.Errorf("answers %v: want 5 x 401 then 429", counts)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 10 {
		t.Errorf("Retry-After %q", retry)
	}
	// Another client is not affected; the first gets one more try after
	// Retry-After.
	if r := ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`, "RemoteAddr", "192.0.2.2:1"); r.code != 200 {
		t.Errorf("other client: %d", r.code)
	}
	clk.Add(10 * time.Second)
	if r := ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`); r.code != 200 {
		t.Errorf("after Retry-After: %d", r.code)
	}
	if r := ts.do("POST", TokenPath, `{"username":"alice","password":"alicepw"}`); r.code != 429 {
		t.Errorf("right after: %d", r.code)
	}
	// IPv6 clients count by /64.
	if clientKey(netip.MustParseAddr("2001:db8::1")) != clientKey(netip.MustParseAddr("2001:db8::ffff")) {
		t.Error("one /64, two buckets")
	}
}

// Rate limit memory: many client addresses (one attempt each) keep the
// limiter at MaxClients entries and the heap flat.
func TestRateLimitBounded(t *testing.T) {
	clk := newClock()
	ts := newTestServer(t, IssuerOptions{Now: clk.Now}, ServerOptions{RateLimit: RateLimit{Burst: 2, Every: time.Second, MaxClients: 500},
		Logger: slog.New(slog.DiscardHandler)})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	attempt := func(i int) {
		addr := fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)
		// A bad body: the limiter counts it, no password check follows.
		ts.do("POST", TokenPath, `{}`, "RemoteAddr", addr)
	}
	for i := range 2000 {
		attempt(i)
	}
	base := heap()
	for i := 2000; i < 12000; i++ {
		attempt(i)
		if i%1000 == 0 {
			clk.Add(2 * time.Second) // buckets refill: sweepable
		}
	}
	after := heap()
	if n := ts.srv.guard.limit.size(); n > 500 {
		t.Errorf("limiter holds %d clients, max 500", n)
	}
	t.Logf("heap %d KiB after 2000 clients, %d KiB after 12000", base>>10, after>>10)
	if after > base+4<<20 {
		t.Errorf("heap grew from %d to %d bytes", base, after)
	}
}

// Timing: with the rate limit out of the way, an unknown user and
// a wrong password take the same median time (within 10%), because an
// unknown user is checked against a dummy hash with the same parameters.
func TestNoUserEnumerationByTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement")
	}
	// 8 MiB hashes: long enough that scheduling noise is small beside them.
	salt := make([]byte, 16)
	cred := phcParams{variant: "argon2id", memory: 8 << 10, time: 1, threads: 1, keyLen: 32}.hash("alicepw", salt)
	ts := newTestServer(t, IssuerOptions{}, ServerOptions{RateLimit: RateLimit{Disabled: true},
		Users:  []User{{Name: "alice", Password: cred, Permissions: readCams}},
		Logger: slog.New(slog.DiscardHandler)})
	const n = 100
	measure := func(user string) time.Duration {
		t0 := time.Now()
		r := ts.do("POST", TokenPath, `{"username":"`+user+`","password":"wrong-password"}`)
		d := time.Since(t0)
		if r.code != 401 {
			t.Fatalf("%s: %d", user, r.code)
		}
		return d
	}
	var known, unknown []time.Duration
	order := make([]bool, 2*n)
	for i := range n {
		order[i] = true
	}
	// Shuffled, so that load from other processes and garbage collections
	// (every few argon2 calls) hit both alike.
	mrand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i, isKnown := range order {
		if isKnown {
			known = append(known, measure("alice"))
		} else {
			unknown = append(unknown, measure("nobody-"+strconv.Itoa(i)))
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	mk, mu := median(known), median(unknown)
	diff := float64(mk-mu) / float64(min(mk, mu))
	t.Logf("median wrong password %v, unknown user %v: %+.1f%%", mk, mu, diff*100)
	if diff > 0.10 || diff < -0.10 {
		t.Errorf("medians differ by %.1f%%", diff*100)
	}
}

func TestLoginConcurrencyBounded(t *testing.T) {
	ts := newTestServer(t, IssuerOptions{}, ServerOptions{MaxConcurrentLogins: 1})
	ts.srv.guard.sem <- struct{}{} // the only slot is taken
	defer ts.srv.guard.Release()
	req := httptest.NewRequest("POST", TokenPath, strings.NewReader(`{"username":"alice","password":"alicepw"}`))
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := contextWithTimeout(100 * time.Millisecond)
	defer cancel()
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, req.WithContext(ctx))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("saturated: %d", w.Code)
	}
	io.Copy(io.Discard, w.Body)
}
