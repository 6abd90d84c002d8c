package auth

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Issue 15, security 3: revocations hold when max_ttl is lowered, and no
// token outlives max_ttl, whatever its exp says.
func TestRevocationsOutliveMaxTTLChanges(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := func(maxTTL time.Duration) IssuerOptions {
		return IssuerOptions{KeyFile: filepath.Join(dir, "keys.json"), DenyFile: filepath.Join(dir, "deny.json"),
			DefaultTTL: min(time.Hour, maxTTL), MaxTTL: maxTTL, Now: clk.Now}
	}
	is := newTestIssuer(t, opts(time.Hour))
	byJTI, c1, err := is.Mint(MintRequest{Subject: "alice", Permissions: Permissions{{Action: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	byUser, _, err := is.Mint(MintRequest{Subject: "bob", Permissions: Permissions{{Action: "read"}}})
	if err != nil {
		t.Fatal(err)
	}
	is.Close()

	// max_ttl lowered to a minute, then the tokens revoked; two minutes
	// later they still have 58 minutes on their exp.
	is = newTestIssuer(t, opts(time.Minute))
	if err := is.RevokeID(c1.ID); err != nil {
		t.Fatal(err)
	}
	if err := is.RevokeUser("bob"); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if err := is.Prune(); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"by jti": byJTI, "by user": byUser} {
		if _, err := is.Verify(tok); err == nil {
			t.Errorf("revoked %s: accepted again two minutes after max_ttl was lowered", name)
		}
	}
	is.Close()

	is = newTestIssuer(t, opts(time.Minute))
	// A correctly signed token with a ten-year exp is refused.
	now := clk.Now()
	long := signPayload(t, is, nil, fmt.Sprintf(`{"sub":"mallory","iat":%d,"nbf":%d,"exp":%d,"jti":"j10y","%s":[{"action":"read","path":""}]}`,
		now.Unix(), now.Unix(), now.Add(10*365*24*time.Hour).Unix(), DefaultClaimKey))
	if _, err := is.Verify(long); !errors.Is(err, ErrClaims) {
		t.Errorf("ten-year token: %v, want ErrClaims (lifetime over max_ttl)", err)
	}
}
