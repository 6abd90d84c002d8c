package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Verify runs through golang-jwt; camrelay's own checks on the header and
// the claims still hold around it, in the same order as before (the
// signature before the claims).
func TestVerifyStrictPass(t *testing.T) {
	for _, alg := range []Algorithm{EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			clk := newClock()
			is := newTestIssuer(t, IssuerOptions{Algorithm: alg, Now: clk.Now})
			k := is.current
			tok, _, err := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
			if err != nil {
				t.Fatal(err)
			}
			// golang-jwt writes the header camrelay recognises without
			// decoding it.
			if hdr, _, _ := strings.Cut(tok, "."); hdr != k.header {
				t.Errorf("header %s, want %s", hdr, k.header)
			}
			now := clk.Now()
			good := fmt.Sprintf(`{"sub":"alice","iat":%d,"nbf":%d,"exp":%d,"jti":"j1","%s":[{"action":"read","path":"camera_one"}]}`,
				now.Unix(), now.Unix(), now.Add(time.Hour).Unix(), DefaultClaimKey)
			if _, err := is.Verify(signPayload(t, is, nil, good)); err != nil {
				t.Fatalf("good payload: %v", err)
			}
			// Header members in another order, without typ: still camrelay's.
			if _, err := is.Verify(signPayload(t, is, map[string]any{"kid": k.kid, "alg": string(alg)}, good)); err != nil {
				t.Errorf("header without typ: %v", err)
			}
			hdr := func(extra string) []byte {
				return fmt.Appendf(nil, `{"alg":%q,"kid":%q%s}`, alg, k.kid, extra)
			}
			parts := strings.Split(tok, ".")
			for _, c := range []struct {
				name  string
				token string
				want  error
			}{
				{"crit", signRaw(t, k, hdr(`,"crit":["exp"]`), []byte(good)), ErrMalformed},
				{"jwk", signRaw(t, k, hdr(`,"jwk":{"kty":"OKP"}`), []byte(good)), ErrMalformed},
				{"x5u", signRaw(t, k, hdr(`,"x5u":"http://127.0.0.1:1/"`), []byte(good)), ErrMalformed},
				{"x5c", signRaw(t, k, hdr(`,"x5c":["AAAA"]`), []byte(good)), ErrMalformed},
				{"typ other than JWT", signRaw(t, k, hdr(`,"typ":"at+jwt"`), []byte(good)), ErrMalformed},
				{"duplicate alg", signRaw(t, k, hdr(`,"alg":"none"`), []byte(good)), ErrMalformed},
				{"kid not a string", signRaw(t, k, fmt.Appendf(nil, `{"alg":%q,"kid":1}`, alg), []byte(good)), ErrMalformed},
				{"path kid", signRaw(t, k, fmt.Appendf(nil, `{"alg":%q,"kid":"../../../etc/passwd"}`, alg), []byte(good)), ErrUnknownKey},
				{"alg HS256", signRaw(t, k, fmt.Appendf(nil, `{"alg":"HS256","kid":%q}`, k.kid), []byte(good)), ErrAlgorithm},
				{"data after the claims", signRaw(t, k, hdr(""), []byte(good+`{}`)), ErrClaims},
				{"claims not JSON", signRaw(t, k, hdr(""), []byte(`sub=alice`)), ErrClaims},
				{"bad claims, bad signature", parts[0] + "." + b64url(`{"sub":"alice","sub":"root"}`) + "." + parts[2], ErrSignature},
				{"signature not base64url", parts[0] + "." + parts[1] + ".!!!", ErrMalformed},
				{"empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
				{"four parts", tok + ".x", ErrMalformed},
				{"empty payload", parts[0] + ".." + parts[2], ErrMalformed},
				{"over MaxTokenLen", parts[0] + "." + strings.Repeat("A", MaxTokenLen) + "." + parts[2], ErrMalformed},
			} {
				if _, err := is.Verify(c.token); !errors.Is(err, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, err, c.want)
				}
			}
		})
	}
}

// RevokeToken checks the signature and the claims, not the time.
func TestRevokeExpiredToken(t *testing.T) {
	clk := newClock()
	is := newTestIssuer(t, IssuerOptions{Now: clk.Now, DefaultTTL: time.Minute})
	tok, c, _ := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
	clk.Add(time.Hour)
	got, err := is.RevokeToken(tok)
	if err != nil || got.ID != c.ID {
		t.Errorf("expired token: %v %+v", err, got)
	}
	if is.deny.len() != 0 {
		t.Error("an expired token was added to the deny list")
	}
	parts := strings.Split(tok, ".")
	if _, err := is.RevokeToken(parts[0] + "." + parts[1] + "." + b64url("x")); !errors.Is(err, ErrSignature) {
		t.Errorf("bad signature: %v", err)
	}
}
