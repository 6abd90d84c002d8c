package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Credential is a password as a configuration stores it: plain text,
// "sha256:" + base64(SHA-256(password)), or "argon2:" + a PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), as MediaMTX accepts them.
type Credential string

// IsHashed reports whether the credential is a hash rather than plain text.
func (c Credential) IsHashed() bool {
	return strings.HasPrefix(string(c), "sha256:") || strings.HasPrefix(string(c), "argon2:")
}

// Validate checks that a hashed credential is well formed.
func (c Credential) Validate() error {
	switch {
	case strings.HasPrefix(string(c), "sha256:"):
		b, err := base64.StdEncoding.DecodeString(string(c)[len("sha256:"):])
		if err != nil || len(b) != sha256.Size {
			return errors.New("sha256: must be followed by the base64 of a SHA-256 digest")
		}
	case strings.HasPrefix(string(c), "argon2:"):
		if _, err := parsePHC(string(c)[len("argon2:"):]); err != nil {
			return fmt.Errorf("argon2: %w", err)
		}
	case c == "":
		return errors.New("is empty")
	}
	return nil
}

// Check reports whether guess matches, in time that does not depend on how
// much of a plain password matched.
func (c Credential) Check(guess string) bool {
	s := string(c)
	switch {
	case strings.HasPrefix(s, "sha256:"):
		sum := sha256.Sum256([]byte(guess))
		want := base64.StdEncoding.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(want), []byte(s[len("sha256:"):])) == 1
	case strings.HasPrefix(s, "argon2:"):
		p, err := parsePHC(s[len("argon2:"):])
		if err != nil {
			return false
		}
		got := p.derive(guess)
		return subtle.ConstantTimeCompare(got, p.hash) == 1
	}
	if s == "" {
		return false
	}
	// Hash both sides so that the comparison takes the same time whatever
	// the lengths.
	a, b := sha256.Sum256([]byte(s)), sha256.Sum256([]byte(guess))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Argon2 parameters of new hashes: argon2id with 64 MiB, 2 passes, as
// recommended for interactive logins (RFC 9106 second choice, lighter).
const (
	argonMemory  = 64 * 1024
	argonTime    = 2
	argonThreads = 2
	argonKeyLen  = 32
)

// HashArgon2id hashes a password into the "argon2:" form.
func HashArgon2id(password string) (Credential, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	pp := phcParams{variant: "argon2id", memory: argonMemory, time: argonTime, threads: argonThreads, keyLen: argonKeyLen}
	return pp.hash(password, salt), nil
}

type phc struct {
	variant               string
	memory, time, threads uint32
	salt, hash            []byte
}

func (p phc) derive(password string) []byte { return p.deriveLen(password, uint32(len(p.hash))) }

func (p phc) deriveLen(password string, n uint32) []byte {
	if p.variant == "argon2i" {
		return argon2.Key([]byte(password), p.salt, p.time, p.memory, uint8(p.threads), n)
	}
	return argon2.IDKey([]byte(password), p.salt, p.time, p.memory, uint8(p.threads), n)
}

// parsePHC reads $argon2id$v=19$m=65536,t=2,p=2$salt$hash (base64 without
// padding; padded input is accepted too).
func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return phc{}, errors.New("want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	p := phc{variant: parts[1]}
	if p.variant != "argon2id" && p.variant != "argon2i" {
		return phc{}, fmt.Errorf("unsupported variant %q", p.variant)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, fmt.Errorf("unsupported version %q", parts[2])
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return phc{}, fmt.Errorf("bad parameter %q", kv)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			p.threads = uint32(n)
		}
	}
	if p.memory < 8 || p.memory > 4<<20 || p.time < 1 || p.time > 64 || p.threads < 1 || p.threads > 255 {
		return phc{}, errors.New("parameters out of range")
	}
	dec := func(v string) ([]byte, error) {
		return base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
	}
	var err error
	if p.salt, err = dec(parts[4]); err != nil || len(p.salt) < 8 {
		return phc{}, errors.New("bad salt")
	}
	if p.hash, err = dec(parts[5]); err != nil || len(p.hash) < 16 {
		return phc{}, errors.New("bad hash")
	}
	return p, nil
}

// CredentialSet checks a user's password against that user's credential
// alone, at the cost of one check whether the user exists or not (an
// unknown name is checked against a dummy of the kind most users have): a
// request never costs one hash per configured user, and its time does not
// tell which names exist.
type CredentialSet struct {
	byName map[string]Credential
	dummy  Credential
}

// NewCredentialSet takes user name -> credential.
func NewCredentialSet(users map[string]Credential) *CredentialSet {
	cs := &CredentialSet{byName: make(map[string]Credential, len(users))}
	argon := map[phcParams]int{}
	sha := 0
	for name, c := range users {
		cs.byName[name] = c
		switch s := string(c); {
		case strings.HasPrefix(s, "argon2:"):
			if p, err := parsePHC(s[len("argon2:"):]); err == nil {
				argon[p.params()]++
			}
		case strings.HasPrefix(s, "sha256:"):
			sha++
		}
	}
	var best phcParams
	for p, n := range argon {
		if n > argon[best] {
			best = p
		}
	}
	switch {
	case argon[best] > 0:
		cs.dummy = best.format(randomBytes(16), randomBytes(best.keyLen))
	case sha > 0:
		cs.dummy = Credential("sha256:" + base64.StdEncoding.EncodeToString(randomBytes(sha256.Size)))
	default:
		cs.dummy = Credential(base64.StdEncoding.EncodeToString(randomBytes(24)))
	}
	return cs
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// Check reports whether pass is user's password.
func (cs *CredentialSet) Check(user, pass string) bool {
	c, ok := cs.byName[user]
	if !ok {
		cs.dummy.Check(pass)
		return false
	}
	return c.Check(pass)
}

// Credential is what user's password is checked against, if user exists.
func (cs *CredentialSet) Credential(user string) (Credential, bool) {
	c, ok := cs.byName[user]
	return c, ok
}
