package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestIssuer(t testing.TB, o IssuerOptions) *Issuer {
	t.Helper()
	is, err := NewIssuer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

// cheapHash is an argon2id credential with small parameters, so that tests
// can check many passwords quickly; production hashes come from
// HashArgon2id.
func cheapHash(t testing.TB, password string) Credential {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	return phcParams{variant: "argon2id", memory: 2048, time: 1, threads: 1, keyLen: 32}.hash(password, salt)
}

// signPayload signs an arbitrary payload with the issuer's current key: the
// way to build tokens that are correctly signed but wrong inside.
func signPayload(t testing.TB, is *Issuer, header map[string]any, payload string) string {
	t.Helper()
	is.mu.RLock()
	k := is.current
	is.mu.RUnlock()
	if header == nil {
		header = map[string]any{"alg": string(k.alg), "kid": k.kid, "typ": "JWT"}
	}
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signCompact(k, hb, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// payloadOf decodes the payload of a compact token.
func payloadOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	raw, err := parseCompact(tok)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw.payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
