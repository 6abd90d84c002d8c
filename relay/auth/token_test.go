package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var readCams = Permissions{{Action: ActionRead, Path: "camera_one"}, {Action: ActionRead, Path: "camera_two"}}

func TestMintVerify(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			clk := newClock()
			is := newTestIssuer(t, IssuerOptions{Algorithm: alg, Now: clk.Now})
			tok, c, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams, TTL: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s token: %d bytes", alg, len(tok))
			// Well under 1.5 KB so that it fits an RTSP password.
			if len(tok) > 1024 {
				t.Errorf("token of %d bytes", len(tok))
			}
			got, err := is.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "alice" || got.ID != c.ID || got.KeyID != is.KeyID() || got.Algorithm != alg ||
				!got.Expiry.Equal(clk.Now().Add(10*time.Minute)) || len(got.Permissions) != 2 {
				t.Errorf("claims %+v", got)
			}
			if !got.Allows(ActionRead, "camera_one") || got.Allows(ActionRead, "camera_three") || got.Allows(ActionPublish, "camera_one") {
				t.Error("permissions wrong")
			}
			p := payloadOf(t, tok)
			for _, k := range []string{"sub", "iat", "nbf", "exp", "jti", DefaultClaimKey} {
				if _, ok := p[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
			if len(p) != 6 {
				t.Errorf("payload %v", p)
			}
			// Default lifetime one hour; more than MaxTTL refused.
			_, c2, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
			if err != nil || c2.TTL() != time.Hour {
				t.Errorf("default ttl: %v %v", c2.TTL(), err)
			}
			if _, _, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams, TTL: 2 * time.Hour}); err == nil {
				t.Error("ttl over MaxTTL accepted")
			}
			if _, _, err := is.Mint(MintRequest{Subject: "alice"}); err == nil {
				t.Error("no permissions accepted")
			}
			if _, _, err := is.Mint(MintRequest{Subject: "alice", Permissions: Permissions{{Action: "pprof"}}}); err == nil {
				t.Error("pprof accepted")
			}
		})
	}
}

// RFC 7638 section 3.1 and RFC 8037 appendix A.3 give thumbprints of
// example keys.
func TestThumbprintVectors(t *testing.T) {
	rsaJWK := jwk{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got := rsaJWK.thumbprint(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("RSA thumbprint %s", got)
	}
	edJWK := jwk{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	if got := edJWK.thumbprint(); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("Ed25519 thumbprint %s", got)
	}
}

func TestJWKS(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		is := newTestIssuer(t, IssuerOptions{Algorithm: alg})
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		if err := json.Unmarshal(is.JWKS(), &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 {
			t.Fatalf("%d keys", len(set.Keys))
		}
		k := set.Keys[0]
		if k["kid"] != is.KeyID() || k["alg"] != string(alg) || k["use"] != "sig" {
			t.Errorf("%s: %v", alg, k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("%s: private member %q published", alg, private)
			}
		}
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "jwt-keys.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	is := newTestIssuer(t, IssuerOptions{KeyFile: path, Logger: log})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o", fi.Mode().Perm())
	}
	tok, _, err := is.Mint(MintRequest{Subject: "a", Permissions: readCams})
	if err != nil {
		t.Fatal(err)
	}
	if err := is.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Reloaded, the same keys verify the same tokens.
	is2 := newTestIssuer(t, IssuerOptions{KeyFile: path})
	if is2.KeyID() != is.KeyID() {
		t.Errorf("kid %s after reload, want %s", is2.KeyID(), is.KeyID())
	}
	if _, err := is2.Verify(tok); err != nil {
		t.Errorf("token of the retired key after reload: %v", err)
	}
	// The private keys never reach the log.
	data, _ := os.ReadFile(path)
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Keys {
		if strings.Contains(logs.String(), e.PKCS8) || strings.Contains(logs.String(), e.PKCS8[:16]) {
			t.Error("a private key is in the log")
		}
	}
	// Others may not read it.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(IssuerOptions{KeyFile: path}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key file: %v", err)
	}
	os.Chmod(path, 0o600)
	// A tampered kid is refused, naming the entry but not the key.
	bad := strings.Replace(string(data), f.Keys[0].Kid, "x"+f.Keys[0].Kid[1:], 1)
	os.WriteFile(path, []byte(bad), 0o600)
	_, err = NewIssuer(IssuerOptions{KeyFile: path})
	if err == nil || strings.Contains(err.Error(), f.Keys[0].PKCS8[:16]) {
		t.Errorf("tampered kid: %v", err)
	}
	// Switching the algorithm rotates to a key of the new one.
	os.WriteFile(path, data, 0o600)
	is3 := newTestIssuer(t, IssuerOptions{KeyFile: path, Algorithm: RS256})
	if is3.KeyID() == is.KeyID() || !is3.createdOnLoad {
		t.Error("algorithm change did not rotate")
	}
	if _, err := is3.Verify(tok); err != nil {
		t.Errorf("old token after algorithm change: %v", err)
	}
}

// refusalCase is a token that must not verify.
type refusalCase struct {
	name  string
	token string
	want  error
	// mediamtx says what MediaMTX v1.15.3 in jwt mode does with it, when it
	// differs from camrelay ("" = refuses it too).
	mediamtx string
}

// refusals builds the tokens every verifier must refuse. read is the
// permission the well-formed ones carry.
func refusals(t testing.TB, is *Issuer, now time.Time, read Permission) []refusalCase {
	t.Helper()
	perm, _ := json.Marshal([]Permission{read})
	claims := func(iat, nbf, exp time.Time, extra string) string {
		return fmt.Sprintf(`{"sub":"alice","iat":%d,"nbf":%d,"exp":%d,"jti":"j1","%s":%s%s}`,
			iat.Unix(), nbf.Unix(), exp.Unix(), DefaultClaimKey, perm, extra)
	}
	good := claims(now, now, now.Add(time.Hour), "")
	k := is.current
	hdr := func(alg string) string {
		return b64url(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, alg, k.kid))
	}
	var cases []refusalCase
	add := func(name, tok string, want error, mtx string) {
		cases = append(cases, refusalCase{name, tok, want, mtx})
	}
	add("expired", signPayload(t, is, nil, claims(now.Add(-2*time.Hour), now.Add(-2*time.Hour), now.Add(-time.Hour), "")), ErrExpired, "")
	add("not yet valid", signPayload(t, is, nil, claims(now, now.Add(time.Hour), now.Add(2*time.Hour), "")), ErrNotYetValid, "")
	other, err := NewIssuer(IssuerOptions{Algorithm: k.alg})
	if err != nil {
		t.Fatal(err)
	}
	add("unknown key", signPayload(t, other, nil, good), ErrUnknownKey, "")
	// The right kid, signed by another key of the same kind.
	add("wrong key", signPayload(t, other, map[string]any{"alg": string(k.alg), "kid": k.kid, "typ": "JWT"}, good), ErrSignature, "")
	add("alg none", hdr("none")+"."+b64url(good)+".", ErrAlgorithm, "")
	add("alg none with signature", hdr("none")+"."+b64url(good)+"."+b64url("x"), ErrAlgorithm, "")
	// HS256 with the public key as the HMAC secret: the classic confusion
	// attack, with the key as PEM (what libraries would hand over) and raw.
	pubDER, _ := x509.MarshalPKIXPublicKey(k.pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	for name, secret := range map[string][]byte{"pem": pubPEM, "der": pubDER, "jwk x/n": []byte(k.jwk.X + k.jwk.N)} {
		input := hdr("HS256") + "." + b64url(good)
		sig, err := jwt.SigningMethodHS256.Sign(input, secret)
		if err != nil {
			t.Fatal(err)
		}
		add("HS256 with the public key "+name, input+"."+base64.RawURLEncoding.EncodeToString(sig), ErrAlgorithm, "")
	}
	// EdDSA header on an RSA key or the reverse.
	otherAlg := RS256
	if k.alg == RS256 {
		otherAlg = EdDSA
	}
	add("algorithm of the other family", hdr(string(otherAlg))+"."+b64url(good)+"."+b64url("sig"), ErrAlgorithm, "")
	goodTok := signPayload(t, is, nil, good)
	parts := strings.Split(goodTok, ".")
	tampered := strings.Replace(good, read.Path, "camera_three", 1)
	if tampered == good {
		tampered = strings.Replace(good, `"alice"`, `"mallory"`, 1)
	}
	add("tampered payload", parts[0]+"."+b64url(tampered)+"."+parts[2], ErrSignature, "")
	// Correctly signed, but the permission objects carry more than action
	// and path. MediaMTX decodes the claim with unknown fields disallowed.
	extraPerm := strings.Replace(good, `"path":`, `"extra":"x","path":`, 1)
	add("permission with an extra field", signPayload(t, is, nil, extraPerm), ErrClaims, "")
	// Unknown top-level claims: MediaMTX ignores them (golang-jwt's
	// RegisteredClaims), camrelay refuses.
	add("extra top-level claim", signPayload(t, is, nil, claims(now, now, now.Add(time.Hour), `,"admin":true`)), ErrClaims, "accepts")
	// The claim as a JSON string holding the array: MediaMTX accepts it
	// (its documented fallback), camrelay does not.
	permStr, _ := json.Marshal(string(perm))
	strClaim := strings.Replace(good, string(perm), string(permStr), 1)
	add("permissions as a string", signPayload(t, is, nil, strClaim), ErrClaims, "accepts")
	add("unknown action", signPayload(t, is, nil, strings.Replace(good, `"`+read.Action+`"`, `"admin"`, 1)), ErrClaims, "")
	// MediaMTX knows pprof; camrelay never grants it. Either way the token
	// no longer allows the read.
	add("pprof action", signPayload(t, is, nil, strings.Replace(good, `"`+read.Action+`"`, `"pprof"`, 1)), ErrClaims, "")
	add("permissions not an array", signPayload(t, is, nil, strings.Replace(good, string(perm), `{"action":"read","path":""}`, 1)), ErrClaims, "")
	add("duplicate claim", signPayload(t, is, nil, strings.Replace(good, `"sub":"alice"`, `"sub":"alice","sub":"root"`, 1)), ErrClaims, "accepts")
	add("no exp", signPayload(t, is, nil, strings.Replace(good, fmt.Sprintf(`,"exp":%d`, now.Add(time.Hour).Unix()), "", 1)), ErrClaims, "accepts")
	add("exp as a string", signPayload(t, is, nil, strings.Replace(good, fmt.Sprintf(`"exp":%d`, now.Add(time.Hour).Unix()), fmt.Sprintf(`"exp":"%d"`, now.Add(time.Hour).Unix()), 1)), ErrClaims, "accepts")
	add("iat in the future", signPayload(t, is, nil, claims(now.Add(time.Hour), now, now.Add(2*time.Hour), "")), ErrClaims, "accepts")
	add("extra header member", signPayload(t, is, map[string]any{"alg": string(k.alg), "kid": k.kid, "jku": "http://127.0.0.1:1/"}, good), ErrMalformed, "accepts")
	// keyfunc takes the only key of the set when the header names none.
	add("no kid", signPayload(t, is, map[string]any{"alg": string(k.alg)}, good), ErrUnknownKey, "accepts")
	add("padded base64", parts[0]+"=."+parts[1]+"."+parts[2], ErrMalformed, "")
	add("two parts", parts[0]+"."+parts[1], ErrMalformed, "")
	return cases
}

func TestVerifyRefuses(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			clk := newClock()
			is := newTestIssuer(t, IssuerOptions{Algorithm: alg, Now: clk.Now})
			for _, c := range refusals(t, is, clk.Now(), Permission{Action: ActionRead, Path: "camera_one"}) {
				_, err := is.Verify(c.token)
				if !errors.Is(err, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, err, c.want)
				}
				if err != nil && strings.Contains(err.Error(), c.token) {
					t.Errorf("%s: the error quotes the token", c.name)
				}
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	clk := newClock()
	is := newTestIssuer(t, IssuerOptions{Now: clk.Now, Leeway: 5 * time.Second, DefaultTTL: time.Minute})
	tok, _, _ := is.Mint(MintRequest{Subject: "a", Permissions: readCams})
	clk.Add(time.Minute + 4*time.Second)
	if _, err := is.Verify(tok); err != nil {
		t.Errorf("within leeway: %v", err)
	}
	clk.Add(time.Second)
	if _, err := is.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("past leeway: %v", err)
	}
}

// golang-jwt v5.3.0 is what MediaMTX v1.15.3 verifies with: it must accept
// camrelay's tokens with the keys from the JWKS alone, and camrelay must
// refuse what golang-jwt makes with alg none.
func TestGolangJWTCompat(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			is := newTestIssuer(t, IssuerOptions{Algorithm: alg})
			tok, _, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []jwk `json:"keys"`
			}
			json.Unmarshal(is.JWKS(), &set)
			pub := publicFromJWK(t, set.Keys[0])
			parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
				if tk.Header["kid"] != set.Keys[0].Kid {
					return nil, errors.New("kid")
				}
				return pub, nil
			}, jwt.WithValidMethods([]string{string(alg)}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			if err != nil || !parsed.Valid {
				t.Fatalf("golang-jwt refuses camrelay's token: %v", err)
			}
			none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
				"iat": time.Now().Unix(), "nbf": time.Now().Unix(), "jti": "x", DefaultClaimKey: readCams})
			none.Header["kid"] = is.KeyID()
			s, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := is.Verify(s); !errors.Is(err, ErrAlgorithm) {
				t.Errorf("alg none from golang-jwt: %v", err)
			}
		})
	}
}

func publicFromJWK(t testing.TB, k jwk) any {
	t.Helper()
	dec := base64.RawURLEncoding
	switch k.Kty {
	case "OKP":
		x, err := dec.DecodeString(k.X)
		if err != nil {
			t.Fatal(err)
		}
		return ed25519.PublicKey(x)
	case "RSA":
		n, _ := dec.DecodeString(k.N)
		e, _ := dec.DecodeString(k.E)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	t.Fatalf("kty %s", k.Kty)
	return nil
}

func TestRotation(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "keys.json")
	var hookKids []string
	var is *Issuer
	is = newTestIssuer(t, IssuerOptions{KeyFile: path, Now: clk.Now, DefaultTTL: 10 * time.Minute, Leeway: -1,
		OnRotate: func(ctx context.Context, got *Issuer) error {
			if got != is {
				t.Error("hook got another issuer")
			}
			// Called after the new key is published, before it signs.
			var set struct{ Keys []jwk }
			json.Unmarshal(got.JWKS(), &set)
			hookKids = append(hookKids, fmt.Sprint(len(set.Keys)), got.KeyID())
			return nil
		}})
	old := is.KeyID()
	tokOld, _, _ := is.Mint(MintRequest{Subject: "a", Permissions: readCams})
	clk.Add(time.Minute)
	if err := is.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if is.KeyID() == old {
		t.Fatal("key did not change")
	}
	if len(hookKids) != 2 || hookKids[0] != "2" || hookKids[1] != old {
		t.Errorf("hook saw %v: want the new key published and the old one still signing", hookKids)
	}
	tokNew, _, _ := is.Mint(MintRequest{Subject: "a", Permissions: readCams})
	for _, tok := range []string{tokOld, tokNew} {
		if _, err := is.Verify(tok); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	if n := strings.Count(string(is.JWKS()), `"kid"`); n != 2 {
		t.Errorf("%d keys published, want 2", n)
	}
	// The old key signed its last token at the rotation: it stays until
	// that token's latest possible expiry, MaxTTL later.
	clk.Add(10*time.Minute - time.Second)
	if !strings.Contains(string(is.JWKS()), old) {
		t.Error("old key left the JWKS too early")
	}
	clk.Add(time.Second)
	if strings.Contains(string(is.JWKS()), old) {
		t.Error("old key still published after every token it signed expired")
	}
	if err := is.Prune(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), old) {
		t.Error("old key still in the key file after Prune")
	}
	// A failing hook still rotates, and says so.
	is.o.OnRotate = func(context.Context, *Issuer) error { return errors.New("mediamtx down") }
	before := is.KeyID()
	if err := is.Rotate(context.Background()); err == nil || !strings.Contains(err.Error(), "mediamtx down") {
		t.Errorf("hook error: %v", err)
	}
	if is.KeyID() == before {
		t.Error("no rotation when the hook failed")
	}
}

func TestScheduledRotation(t *testing.T) {
	clk := newClock()
	calls := make(chan string, 10)
	is := newTestIssuer(t, IssuerOptions{Now: clk.Now, RotateEvery: 24 * time.Hour,
		OnRotate: func(_ context.Context, is *Issuer) error {
			calls <- is.KeyID()
			return nil
		}})
	if is.rotateDue() {
		t.Error("due at once")
	}
	first := is.KeyID()
	is.tick = 10 * time.Millisecond
	is.Start()
	defer is.Close()
	// A new key (here: no key file) is announced once at start.
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnRotate for the key made at start")
	}
	clk.Add(24 * time.Hour)
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no scheduled rotation")
	}
	deadline := time.Now().Add(5 * time.Second)
	for is.KeyID() == first && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if is.KeyID() == first {
		t.Error("key unchanged after RotateEvery")
	}
	is.Close()
	is.Close() // twice is fine
}

func TestRevocation(t *testing.T) {
	clk := newClock()
	deny := filepath.Join(t.TempDir(), "deny.json")
	o := IssuerOptions{Now: clk.Now, DenyFile: deny, DefaultTTL: 10 * time.Minute, Leeway: -1}
	is := newTestIssuer(t, o)
	t1, c1, _ := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
	t2, c2, _ := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
	t3, _, _ := is.Mint(MintRequest{Subject: "bob", Permissions: readCams})
	if _, err := is.RevokeToken(t1); err != nil {
		t.Fatal(err)
	}
	if err := is.RevokeID(c2.ID); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := is.Verify(tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("revoked token: %v", err)
		}
	}
	if _, err := is.Verify(t3); err != nil {
		t.Errorf("bob's token: %v", err)
	}
	fi, err := os.Stat(deny)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("deny file: %v %v", fi, err)
	}
	// Revoke everything of bob: his old token dies, a new one (same second)
	// works.
	if err := is.RevokeUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := is.Verify(t3); !errors.Is(err, ErrRevoked) {
		t.Errorf("bob's token after revoking bob: %v", err)
	}
	t4, _, _ := is.Mint(MintRequest{Subject: "bob", Permissions: readCams})
	if _, err := is.Verify(t4); err != nil {
		t.Errorf("bob's new token: %v", err)
	}
	// Persisted: a restart keeps refusing them.
	is2 := newTestIssuer(t, IssuerOptions{Now: clk.Now, DenyFile: deny, DefaultTTL: 10 * time.Minute, Leeway: -1})
	is2.keys, is2.current = is.keys, is.current // same keys, as from a key file
	for _, tok := range []string{t1, t2, t3} {
		if _, err := is2.Verify(tok); !errors.Is(err, ErrRevoked) {
			t.Errorf("after restart: %v", err)
		}
	}
	// Entries leave once their tokens have expired.
	clk.Add(10*time.Minute + 2*time.Second)
	if err := is2.Prune(); err != nil {
		t.Fatal(err)
	}
	if n := is2.deny.len(); n != 0 {
		t.Errorf("%d deny entries left after expiry", n)
	}
	data, _ := os.ReadFile(deny)
	if strings.Contains(string(data), c1.ID) {
		t.Error("expired entry still in the file")
	}
}

// The command line mints with the key file of a running camrelay without
// writing it or the deny list.
func TestReadOnlyIssuer(t *testing.T) {
	dir := t.TempDir()
	keys, deny := filepath.Join(dir, "keys.json"), filepath.Join(dir, "deny.json")
	if _, err := NewIssuer(IssuerOptions{KeyFile: keys, ReadOnly: true}); err == nil {
		t.Error("read-only issuer without a key file")
	}
	if _, err := os.Stat(keys); err == nil {
		t.Error("read-only issuer wrote the key file")
	}
	main := newTestIssuer(t, IssuerOptions{KeyFile: keys, DenyFile: deny})
	if err := main.RevokeUser("bob"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(keys)
	denyBefore, _ := os.ReadFile(deny)
	ro := newTestIssuer(t, IssuerOptions{KeyFile: keys, DenyFile: deny, ReadOnly: true, Algorithm: RS256})
	if ro.KeyID() != main.KeyID() {
		t.Error("read-only issuer signs with another key")
	}
	tok, _, err := ro.Mint(MintRequest{Subject: "alice", Permissions: readCams, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := main.Verify(tok); err != nil {
		t.Errorf("the running issuer refuses the command line's token: %v", err)
	}
	if ro.Rotate(context.Background()) == nil || ro.RevokeUser("x") == nil || ro.RevokeID("x") == nil {
		t.Error("read-only issuer rotates or revokes")
	}
	ro.Prune()
	after, _ := os.ReadFile(keys)
	denyAfter, _ := os.ReadFile(deny)
	if !bytes.Equal(before, after) || !bytes.Equal(denyBefore, denyAfter) {
		t.Error("read-only issuer changed a file")
	}
}

func TestGrant(t *testing.T) {
	users := []User{{Name: "alice", Permissions: readCams}}
	if p, err := Grant(users, "alice", nil); err != nil || len(p) != 2 {
		t.Errorf("all: %v %v", p, err)
	}
	if p, err := Grant(users, "alice", Permissions{{Action: ActionRead, Path: "camera_one"}}); err != nil || len(p) != 1 {
		t.Errorf("subset: %v %v", p, err)
	}
	if _, err := Grant(users, "alice", Permissions{{Action: ActionPublish, Path: "camera_one"}}); err == nil {
		t.Error("more than the user has")
	}
	if _, err := Grant(users, "bob", nil); err == nil {
		t.Error("unknown user")
	}
}
