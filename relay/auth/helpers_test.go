package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
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
	return signRaw(t, k, hb, []byte(payload))
}

// signRaw signs any header and payload bytes with k, through golang-jwt's
// signing method of k's algorithm.
func signRaw(t testing.TB, k *signingKey, header, payload []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	sig, err := k.alg.method().Sign(input, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// payloadBytes decodes the payload of a compact token.
func payloadBytes(t testing.TB, tok string) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	p, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payloadOf decodes the payload of a compact token.
func payloadOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(payloadBytes(t, tok), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// len counts the deny list's entries.
func (d *denyList) len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.tokens) + len(d.users)
}

// size counts the clients the limiter tracks.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
