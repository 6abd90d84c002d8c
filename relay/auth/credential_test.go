package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func TestCredentialForms(t *testing.T) {
	sum := sha256.Sum256([]byte("secret"))
	h, err := HashArgon2id("secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Credential{"secret", Credential("sha256:" + base64.StdEncoding.EncodeToString(sum[:])), h} {
		if err := c.Validate(); err != nil {
			t.Errorf("%.20s: %v", c, err)
		}
		if !c.Check("secret") {
			t.Errorf("%.20s rejects the right password", c)
		}
		if c.Check("Secret") || c.Check("") || c.Check("secret ") {
			t.Errorf("%.20s accepts a wrong password", c)
		}
	}
	if Credential("").Check("") {
		t.Error("an empty credential must not match")
	}
}

// Hashes from MediaMTX v1.15.3's own tests (internal/auth/manager_test.go):
// what its users put in mediamtx.yml must work in camrelay's config too.
func TestMediaMTXHashVectors(t *testing.T) {
	cases := []struct {
		c     Credential
		plain string
	}{
		{"argon2:$argon2id$v=19$m=4096,t=3,p=1$MTIzNDU2Nzg$Ux/LWeTgJQPyfMMJo1myR64+o8rALHoPmlE1i/TR+58", "testuser"},
		{"argon2:$argon2i$v=19$m=4096,t=3,p=1$MTIzNDU2Nzg$/mrZ42TiTv1mcPnpMUera5oi0SFYbbyueAbdx5sUvWo", "testpass"},
		{"sha256:rl3rgi4NcZkpAEcacZnQ2VuOfJ0FxAqCRaKB/SwdZoQ=", "testuser"},
		{"sha256:E9JJ8stBJ7QM+nV4ZoUCeHk/gU3tPFh/5YieiJp6n2w=", "testpass"},
	}
	for _, tc := range cases {
		if err := tc.c.Validate(); err != nil {
			t.Errorf("%.30s: %v", tc.c, err)
		}
		if !tc.c.Check(tc.plain) || tc.c.Check(tc.plain+"x") {
			t.Errorf("%.30s does not verify %q correctly", tc.c, tc.plain)
		}
	}
}

func TestInvalidCredentials(t *testing.T) {
	for _, c := range []Credential{"sha256:!!", "sha256:YWJj", "argon2:$argon2id$v=19$m=1,t=1,p=1$x$y", "argon2:nonsense", ""} {
		if c.Validate() == nil {
			t.Errorf("%q accepted", c)
		}
		if c.Check("anything") {
			t.Errorf("%q matched", c)
		}
	}
}
