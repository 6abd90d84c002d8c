package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPermissionMatching(t *testing.T) {
	for _, c := range []struct {
		p            Permission
		action, path string
		want         bool
	}{
		{Permission{"read", "cam1"}, "read", "cam1", true},
		{Permission{"read", "cam1"}, "read", "cam10", false},
		{Permission{"read", "cam1"}, "publish", "cam1", false},
		{Permission{"read", ""}, "read", "anything/at/all", true},
		// MediaMTX matches expressions unanchored.
		{Permission{"read", "~cam"}, "read", "site/camera", true},
		{Permission{"read", "~^cam[0-9]+$"}, "read", "cam12", true},
		{Permission{"read", "~^cam[0-9]+$"}, "read", "cam12x", false},
		{Permission{"read", "~("}, "read", "(", false},
		// api and metrics ignore the path, as MediaMTX does.
		{Permission{"api", ""}, "api", "", true},
		{Permission{"api", ""}, "api", "whatever", true},
		{Permission{"metrics", ""}, "api", "", false},
		{Permission{"pprof", ""}, "pprof", "", false},
	} {
		if got := c.p.Allows(c.action, c.path); got != c.want {
			t.Errorf("%v allows %s %q: %v", c.p, c.action, c.path, got)
		}
	}
	for _, bad := range []Permission{{"pprof", ""}, {"READ", ""}, {"api", "x"}, {"read", "~("}, {"read", "a\nb"}, {"", ""}} {
		if bad.Validate() == nil {
			t.Errorf("%v validates", bad)
		}
	}
	have := Permissions{{"read", "cam1"}, {"read", "~^site1/"}, {"publish", ""}, {"api", ""}}
	for _, c := range []struct {
		req  Permissions
		want bool
	}{
		{Permissions{{"read", "cam1"}}, true},
		{Permissions{{"read", "site1/door"}}, true},
		{Permissions{{"read", "~^site1/"}}, true},
		{Permissions{{"read", "~^site1/d"}}, false}, // a narrower regex: not decidable, refused
		{Permissions{{"read", ""}}, false},
		{Permissions{{"read", "cam2"}}, false},
		{Permissions{{"publish", "anything"}}, true},
		{Permissions{{"publish", "~x"}}, true},
		{Permissions{{"api", ""}}, true},
		{Permissions{{"metrics", ""}}, false},
		{Permissions{{"read", "cam1"}, {"playback", "cam1"}}, false},
	} {
		if err := have.Covers(c.req); (err == nil) != c.want {
			t.Errorf("covers %v: %v", c.req, err)
		}
	}
}

func TestAuthorizeCallback(t *testing.T) {
	clk := newClock()
	ts := newTestServer(t, IssuerOptions{Now: clk.Now}, ServerOptions{InternalUsers: []InternalUser{
		{Name: "any", Permissions: Permissions{{Action: ActionRead, Path: "public"}}},
		{Name: "relay", Password: "relaypass", IPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Permissions: Permissions{{Action: ActionPublish}}},
		{Name: "ops", Password: cheapHash(t, "opspw"), Permissions: Permissions{{Action: ActionMetrics}}},
	}})
	tok, _, _ := ts.is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
	for _, c := range []struct {
		name string
		req  MediaMTXRequest
		want bool
	}{
		{"anyone reads public", MediaMTXRequest{IP: "192.0.2.9", Action: "read", Path: "public"}, true},
		{"anyone reads camera_one", MediaMTXRequest{IP: "192.0.2.9", Action: "read", Path: "camera_one"}, false},
		{"relay publishes from loopback", MediaMTXRequest{IP: "127.0.0.1", User: "relay", Password: "relaypass", Action: "publish", Path: "x"}, true},
		{"relay publishes from elsewhere", MediaMTXRequest{IP: "192.0.2.9", User: "relay", Password: "relaypass", Action: "publish", Path: "x"}, false},
		{"relay with a wrong password", MediaMTXRequest{IP: "127.0.0.1", User: "relay", Password: "x", Action: "publish", Path: "x"}, false},
		{"relay reads", MediaMTXRequest{IP: "127.0.0.1", User: "relay", Password: "relaypass", Action: "read", Path: "x"}, false},
		{"ops metrics (argon2)", MediaMTXRequest{IP: "10.0.0.1", User: "ops", Password: "opspw", Action: "metrics"}, true},
		{"token as password", MediaMTXRequest{IP: "10.0.0.1", User: "x", Password: tok, Action: "read", Path: "camera_one"}, true},
		{"token as bearer", MediaMTXRequest{IP: "10.0.0.1", Token: tok, Action: "read", Path: "camera_two"}, true},
		{"token in the query", MediaMTXRequest{IP: "10.0.0.1", Query: "a=1&jwt=" + url.QueryEscape(tok), Action: "read", Path: "camera_one"}, true},
		{"two jwt in the query", MediaMTXRequest{IP: "10.0.0.1", Query: "jwt=" + tok + "&jwt=" + tok, Action: "read", Path: "camera_one"}, false},
		{"token, other path", MediaMTXRequest{IP: "10.0.0.1", Token: tok, Action: "read", Path: "camera_three"}, false},
		{"token, publish", MediaMTXRequest{IP: "10.0.0.1", Token: tok, Action: "publish", Path: "camera_one"}, false},
		{"pprof", MediaMTXRequest{IP: "127.0.0.1", User: "relay", Password: "relaypass", Action: "pprof"}, false},
		{"nothing", MediaMTXRequest{IP: "10.0.0.1", Action: "read", Path: "camera_one"}, false},
	} {
		err := ts.srv.Authorize(c.req)
		if (err == nil) != c.want {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Over HTTP: 200, 401 with a reason, 403 for callers not allowed.
	post := func(remote, body string) resp {
		return ts.do("POST", DefaultCallbackPath, body, "RemoteAddr", remote)
	}
	okBody := `{"ip":"10.0.0.1","user":"","password":"","token":"` + tok + `","action":"read","path":"camera_one","protocol":"webrtc","id":null,"query":""}`
	if r := post("127.0.0.1:5000", okBody); r.code != 200 {
		t.Errorf("callback: %d %s", r.code, r.body)
	}
	clk.Add(2 * time.Hour)
	if r := post("127.0.0.1:5000", okBody); r.code != 401 || !strings.Contains(r.body, "token expired") || strings.Contains(r.body, tok) {
		t.Errorf("expired: %d %s", r.code, r.body)
	}
	if r := post("192.0.2.1:5000", okBody); r.code != 403 {
		t.Errorf("from outside loopback: %d", r.code)
	}
	if r := post("[::1]:5000", `{"action":"read","path":"public","id":"6f1c3c6e-1a0e-4a55-9f2a-5f8c9a3b2b10","newfield":1}`); r.code != 200 {
		t.Errorf("IPv6 loopback, unknown member: %d %s", r.code, r.body)
	}
	for _, bad := range []string{`{"action":1}`, `[]`, `{"action":"read","action":"publish"}`, `{"path":"x"}`} {
		if r := post("127.0.0.1:1", bad); r.code != 400 {
			t.Errorf("%s: %d", bad, r.code)
		}
	}
}

func TestPublisherTokens(t *testing.T) {
	clk := newClock()
	is := newTestIssuer(t, IssuerOptions{Now: clk.Now})
	pt := &PublisherTokens{Issuer: is, TTL: 9 * time.Minute}
	a1, err := pt.Token("cam_a")
	if err != nil {
		t.Fatal(err)
	}
	c, err := is.Verify(a1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "camrelay" || c.TTL() != 9*time.Minute || len(c.Permissions) != 1 ||
		c.Permissions[0] != (Permission{Action: ActionPublish, Path: "cam_a"}) {
		t.Errorf("claims %+v", c)
	}
	b1, _ := pt.Token("cam_b")
	if b1 == a1 {
		t.Error("one token for two cameras")
	}
	clk.Add(6*time.Minute - time.Second)
	if a, _ := pt.Token("cam_a"); a != a1 {
		t.Error("renewed before 2/3 of its life")
	}
	clk.Add(time.Second)
	a2, _ := pt.Token("cam_a")
	if a2 == a1 {
		t.Error("not renewed at 2/3 of its life")
	}
	if _, err := is.Verify(a1); err != nil {
		t.Errorf("the previous token still holds until it expires: %v", err)
	}
	u, err := pt.PublishURL("rtsp://127.0.0.1:8554/cam_a?x=1", "cam_a")
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	if pass, _ := pu.User.Password(); pu.User.Username() != "camrelay" || pass != a2 || pu.Query().Get("x") != "1" {
		t.Errorf("publish URL %s", RedactForTest(u))
	}
	if _, err := pt.PublishURL("http://x/", "cam_a"); err == nil {
		t.Error("http URL accepted")
	}
	// Longer than an RTSP password should be: ?jwt=.
	many := Permissions{}
	for i := range 40 {
		many = append(many, Permission{Action: ActionRead, Path: strings.Repeat("p", 20) + string(rune('a'+i%26))})
	}
	long, _, _ := is.Mint(MintRequest{Subject: "x", Permissions: many})
	if len(long) <= MaxPasswordToken {
		t.Fatalf("token of %d bytes is not long", len(long))
	}
	pt.cache["long"] = pubToken{token: long, renewAt: clk.Now().Add(time.Minute)}
	u, _ = pt.PublishURL("rtsp://relay:secret@127.0.0.1:8554/long", "long")
	pu, _ = url.Parse(u)
	if pu.User != nil || pu.Query().Get("jwt") != long {
		t.Errorf("long token not in ?jwt=")
	}
	pt.Forget("long")
	if _, ok := pt.cache["long"]; ok {
		t.Error("Forget kept it")
	}
}

// RedactForTest hides the password of a URL in test messages.
func RedactForTest(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.UserPassword(u.User.Username(), "***")
	return u.String()
}

func TestMediaMTXAuthYAML(t *testing.T) {
	y, err := MediaMTXAuth{Method: "jwt", JWKSURL: "http://127.0.0.1:8990/.well-known/jwks.json"}.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"authMethod: jwt\n", `authJWTJWKS: "http://127.0.0.1:8990/.well-known/jwks.json"`,
		`authJWTClaimKey: "mediamtx_permissions"`, "authJWTExclude: []\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("jwt section lacks %q:\n%s", want, y)
		}
	}
	y, err = MediaMTXAuth{Method: "http", CallbackURL: "http://127.0.0.1:8990/v1/mediamtx/auth",
		Exclude: Permissions{{Action: ActionMetrics}}}.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"authMethod: http\n", `authHTTPAddress: "http://127.0.0.1:8990/v1/mediamtx/auth"`,
		`authHTTPExclude: [{"action":"metrics","path":""}]`} {
		if !strings.Contains(y, want) {
			t.Errorf("http section lacks %q:\n%s", want, y)
		}
	}
	for _, bad := range []MediaMTXAuth{{Method: "internal"}, {Method: "jwt"}, {Method: "http", CallbackURL: "ftp://x"},
		{Method: "jwt", JWKSURL: "http://u:p@x/"}, {Method: "jwt", JWKSURL: "http://x/", JWKSFingerprint: "zz"}} {
		if _, err := bad.YAML(); err == nil {
			t.Errorf("%+v renders", bad)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert := func(cn string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: nil, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(key)
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	}
	if _, err := TLSConfig(certFile, keyFile); err == nil {
		t.Error("missing files accepted")
	}
	writeCert("one")
	cfg, err := TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Error("TLS below 1.2 allowed")
	}
	ts := newTestServer(t, IssuerOptions{}, ServerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ts.h, TLSConfig: cfg}
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.ServeTLS(ln, "", "")
	}()
	defer func() {
		hs.Close()
		<-done
	}()
	addr := ln.Addr().String()
	cn := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "one" {
		t.Errorf("certificate %q", got)
	}
	// A renewed certificate is picked up without a restart.
	time.Sleep(1100 * time.Millisecond)
	writeCert("two")
	future := time.Now().Add(time.Second)
	os.Chtimes(certFile, future, future)
	os.Chtimes(keyFile, future, future)
	if got := cn(); got != "two" {
		t.Errorf("after renewal: certificate %q", got)
	}
	// HSTS over TLS.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Get("https://" + addr + JWKSWellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

func TestUsersValidation(t *testing.T) {
	is := newTestIssuer(t, IssuerOptions{})
	for _, users := range [][]User{
		{{Name: "a", Password: "plain", Permissions: readCams}},
		{{Name: "a", Password: "sha256:rl3rgi4NcZkpAEcacZnQ2VuOfJ0FxAqCRaKB/SwdZoQ=", Permissions: readCams}},
		{{Name: "a", Password: cheapHash(t, "x")}},
		{{Name: "", Password: cheapHash(t, "x"), Permissions: readCams}},
		{{Name: "a:b", Password: cheapHash(t, "x"), Permissions: readCams}},
		{{Name: "a", Password: cheapHash(t, "x"), Permissions: readCams}, {Name: "a", Password: cheapHash(t, "y"), Permissions: readCams}},
	} {
		if _, err := NewServer(ServerOptions{Issuer: is, Users: users}); err == nil {
			t.Errorf("%v accepted", users[0].Name)
		}
	}
	if _, err := NewServer(ServerOptions{Issuer: is, InternalUsers: []InternalUser{{Name: "any", Password: "x", Permissions: readCams}}}); err == nil {
		t.Error(`"any" with a password accepted`)
	}
}

// The dummy hash that unknown users are checked against has the parameters
// most users' hashes have, so that both cost the same.
func TestDummyHashParameters(t *testing.T) {
	salt := make([]byte, 16)
	mk := func(m uint32) Credential {
		return phcParams{variant: "argon2id", memory: m, time: 1, threads: 1, keyLen: 32}.hash("x", salt)
	}
	db, err := newUserDB([]User{
		{Name: "a", Password: mk(1024), Permissions: readCams},
		{Name: "b", Password: mk(4096), Permissions: readCams},
		{Name: "c", Password: mk(4096), Permissions: readCams},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePHC(string(db.dummy)[len("argon2:"):])
	if err != nil {
		t.Fatal(err)
	}
	if p.memory != 4096 || p.time != 1 || p.threads != 1 || len(p.hash) != 32 {
		t.Errorf("dummy parameters %+v", p.params())
	}
	if _, ok := db.authenticate("nobody", "x"); ok {
		t.Error("unknown user authenticated")
	}
	if _, ok := db.authenticate("b", "x"); !ok {
		t.Error("b refused")
	}
	// With no users, the dummy has HashArgon2id's parameters.
	db, _ = newUserDB(nil)
	p, _ = parsePHC(string(db.dummy)[len("argon2:"):])
	if p.memory != argonMemory || p.time != argonTime || p.threads != argonThreads {
		t.Errorf("default dummy %+v", p.params())
	}
}
