package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fuzz targets run their seeds (testdata/fuzz/<Target>/ and the f.Add
// calls) in every go test; go test -fuzz=<Target> explores further.

var fuzzIssuer = sync.OnceValue(func() *Issuer {
	// A fixed key and clock, so that what a run finds can be replayed.
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	k, err := newSigningKey(EdDSA, ed25519.NewKeyFromSeed(seed), time.Unix(1_700_000_000, 0))
	if err != nil {
		panic(err)
	}
	k.activated = k.created
	is, err := NewIssuer(IssuerOptions{Now: func() time.Time { return time.Unix(1_700_000_100, 0) }})
	if err != nil {
		panic(err)
	}
	is.keys, is.current = []*signingKey{k}, k
	return is
})

func fuzzSeedTokens() []string {
	is := fuzzIssuer()
	tok, _, _ := is.Mint(MintRequest{Subject: "alice", Permissions: readCams})
	return []string{tok, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + ".sig"}
}

// FuzzVerify: any string given as a token is refused or verified without a
// panic, and a verified one has sane claims.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeedTokens() {
		f.Add(s)
	}
	is := fuzzIssuer()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := is.Verify(tok)
		if err == nil {
			checkClaims(t, c)
		}
	})
}

// FuzzSignedToken signs any header and payload with the issuer's key, so
// that the claim parser (behind the signature in FuzzVerify) is reached.
func FuzzSignedToken(f *testing.F) {
	f.Add([]byte(`{"alg":"EdDSA","kid":"KID","typ":"JWT"}`), []byte(`{"sub":"a","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"j","mediamtx_permissions":[{"action":"read","path":"x"}]}`))
	f.Add([]byte(`{"alg":"none","kid":"KID"}`), []byte(`{}`))
	f.Add([]byte(`{"alg":"EdDSA","kid":"KID","crit":["b64"]}`), []byte(`{"sub":"a","sub":"b"}`))
	f.Add([]byte(`{"alg":"EdDSA","kid":"KID"}`), []byte(`{"sub":"a","iat":1e9,"nbf":-1,"exp":"1700003600","jti":"j","mediamtx_permissions":"[]"}`))
	is := fuzzIssuer()
	kid := is.current.kid
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		header = bytes.ReplaceAll(header, []byte("KID"), []byte(kid))
		tok := signRaw(t, is.current, header, payload)
		c, err := is.Verify(tok)
		if err == nil {
			checkClaims(t, c)
		}
	})
}

// FuzzDecodeClaims: the strict claim parser on any payload; what it accepts
// survives encoding and decoding again unchanged.
func FuzzDecodeClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"a","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"j","mediamtx_permissions":[{"action":"read","path":"~^cam"}]}`))
	f.Add([]byte(`{"sub":"a","mediamtx_permissions":[{"action":"read","path":"x","extra":1}]}`))
	f.Add([]byte(`{"mediamtx_permissions":[{"path":"x","action":"api"}],"exp":99999999999999999999}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := decodeClaims(payload, DefaultClaimKey)
		if err != nil {
			return
		}
		checkClaims(t, c)
		is := fuzzIssuer()
		tok, err := signToken(is.current, c, DefaultClaimKey)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := decodeClaims(payloadBytes(t, tok), DefaultClaimKey)
		if err != nil {
			t.Fatalf("re-encoded claims refused: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the claims: %+v / %+v", c, c2)
		}
	})
}

func checkClaims(t *testing.T, c Claims) {
	t.Helper()
	if c.Subject == "" || c.ID == "" || c.Permissions == nil || !c.Expiry.After(c.NotBefore) {
		t.Fatalf("accepted claims %+v", c)
	}
	if err := c.Permissions.Validate(); err != nil {
		t.Fatalf("accepted permissions: %v", err)
	}
}

// FuzzParseTokenRequest: the token endpoint's body parser.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add([]byte(`{"username":"alice","password":"pw"}`))
	f.Add([]byte(`{"username":"alice","password":"pw","permissions":[{"action":"read","path":"cam"}],"ttl":"10m"}`))
	f.Add([]byte(`{"username":"alice","password":"pw","permissions":[],"ttl":"-1s"}`))
	f.Add([]byte(`{"Username":"a","username":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, ttl, err := ParseTokenRequest(data)
		if err != nil {
			return
		}
		if req.Username == "" || req.Password == "" || ttl < 0 || (req.TTL != "" && ttl < time.Second) {
			t.Fatalf("accepted %+v", req)
		}
		if req.Permissions != nil {
			if len(req.Permissions) == 0 || req.Permissions.Validate() != nil {
				t.Fatalf("accepted permissions %v", req.Permissions)
			}
		}
		if !json.Valid(data) {
			t.Fatal("accepted invalid JSON")
		}
	})
}

// FuzzParseMediaMTXRequest: the callback's body parser, and the decision
// on whatever it accepts.
func FuzzParseMediaMTXRequest(f *testing.F) {
	tok := fuzzSeedTokens()[0]
	f.Add([]byte(`{"ip":"127.0.0.1","user":"","password":"","token":"` + tok + `","action":"read","path":"camera_one","protocol":"webrtc","id":null,"query":""}`))
	f.Add([]byte(`{"ip":"::1","user":"relay","password":"relaypass","action":"publish","path":"x","protocol":"rtsp","id":"6f1c3c6e-1a0e-4a55-9f2a-5f8c9a3b2b10","query":"jwt=` + tok + `"}`))
	f.Add([]byte(`{"action":"read","action":"publish"}`))
	f.Add([]byte(`{"action":"pprof","query":"jwt=a&jwt=b"}`))
	srv := fuzzServer()
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseMediaMTXRequest(data)
		if err != nil {
			return
		}
		if req.Action == "" {
			t.Fatal("accepted a request without an action")
		}
		if srv.Authorize(req) == nil && !knownAction(req.Action) {
			t.Fatalf("allowed action %q", req.Action)
		}
	})
}

var fuzzServer = sync.OnceValue(func() *Server {
	s, err := NewServer(ServerOptions{Issuer: fuzzIssuer(), InternalUsers: []InternalUser{
		{Name: "relay", Password: "relaypass", Permissions: Permissions{{Action: ActionPublish}}},
	}})
	if err != nil {
		panic(err)
	}
	return s
})
