package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/argon2"
)

// User may get tokens from the token endpoint with a password.
type User struct {
	Name string
	// Password must be an argon2 hash ("argon2:$argon2id$..."; see
	// HashArgon2id): the token endpoint faces the network, and a slow,
	// salted hash is what makes a stolen configuration hard to use.
	Password Credential
	// Permissions are the most a token of this user may carry.
	Permissions Permissions
}

// InternalUser is checked by the MediaMTX callback before tokens, as
// MediaMTX's own authInternalUsers would be: for clients that cannot carry a
// token, and for camrelay's own connections.
type InternalUser struct {
	// Name "any" matches every request, with or without credentials, as
	// in MediaMTX; it takes no password.
	Name string
	// Password is plain, "sha256:" or "argon2:" (see Credential). Each
	// check runs the hash, on MediaMTX's request path: argon2 costs tens of
	// milliseconds and 64 MiB per request.
	Password    Credential
	IPs         []netip.Prefix // nil allows every address
	Permissions Permissions
}

func validName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case len(s) > maxStringClaim:
		return fmt.Errorf("name longer than %d bytes", maxStringClaim)
	case stringHasControl(s) || strings.ContainsRune(s, ':'):
		return fmt.Errorf("name %q: no control characters or colons", s)
	}
	return nil
}

func validateUsers(users []User) error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range users {
		where := fmt.Sprintf("users[%d] %q", i, u.Name)
		if err := validName(u.Name); err != nil {
			errs = append(errs, fmt.Errorf("users[%d]: %w", i, err))
		}
		if seen[u.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[u.Name] = true
		if !strings.HasPrefix(string(u.Password), "argon2:") {
			errs = append(errs, fmt.Errorf("%s: password must be an argon2 hash (camrelay passwd writes one)", where))
		} else if err := u.Password.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: password: %w", where, err))
		}
		if len(u.Permissions) == 0 {
			errs = append(errs, fmt.Errorf("%s: no permissions", where))
		}
		if err := u.Permissions.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

func validateInternalUsers(users []InternalUser) error {
	var errs []error
	for i, u := range users {
		where := fmt.Sprintf("internal_users[%d] %q", i, u.Name)
		if err := validName(u.Name); err != nil {
			errs = append(errs, fmt.Errorf("internal_users[%d]: %w", i, err))
		}
		switch {
		case u.Name == "any" && u.Password != "":
			errs = append(errs, fmt.Errorf("%s: takes no password", where))
		case u.Name != "any":
			if err := u.Password.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: password %w", where, err))
			}
		}
		for _, p := range u.IPs {
			if !p.IsValid() {
				errs = append(errs, fmt.Errorf("%s: invalid ip range", where))
			}
		}
		if len(u.Permissions) == 0 {
			errs = append(errs, fmt.Errorf("%s: no permissions", where))
		}
		if err := u.Permissions.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

// userDB answers password checks in the same time whether the user exists
// or not: an unknown name is checked against a dummy hash made with the
// parameters most users' hashes have.
type userDB struct {
	byName map[string]*User
	dummy  Credential
}

func newUserDB(users []User) (*userDB, error) {
	if err := validateUsers(users); err != nil {
		return nil, err
	}
	db := &userDB{byName: map[string]*User{}}
	count := map[phcParams]int{}
	best := phcParams{variant: "argon2id", memory: argonMemory, time: argonTime, threads: argonThreads, keyLen: argonKeyLen}
	for i := range users {
		u := users[i]
		u.Permissions = append(Permissions(nil), u.Permissions...)
		db.byName[u.Name] = &u
		p, _ := parsePHC(string(u.Password)[len("argon2:"):]) // validated above
		k := p.params()
		count[k]++
		if count[k] > count[best] {
			best = k
		}
	}
	var err error
	if db.dummy, err = best.dummy(); err != nil {
		return nil, err
	}
	return db, nil
}

// authenticate returns the user when the password matches. Unknown users
// cost one hash check too.
func (db *userDB) authenticate(name, password string) (*User, bool) {
	u := db.byName[name]
	cred := db.dummy
	if u != nil {
		cred = u.Password
	}
	ok := cred.Check(password)
	if u == nil || !ok {
		return nil, false
	}
	return u, true
}

type phcParams struct {
	variant               string
	memory, time, threads uint32
	keyLen                int
}

func (p phc) params() phcParams {
	return phcParams{variant: p.variant, memory: p.memory, time: p.time, threads: p.threads, keyLen: len(p.hash)}
}

// dummy is a credential with these parameters that no password matches: a
// random salt and random hash bytes (checking costs what a real hash costs;
// making it costs nothing).
func (pp phcParams) dummy() (Credential, error) {
	salt := make([]byte, 16)
	sum := make([]byte, pp.keyLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if _, err := rand.Read(sum); err != nil {
		return "", err
	}
	return pp.format(salt, sum), nil
}

// hash renders password hashed with these parameters as an "argon2:"
// credential.
func (pp phcParams) hash(password string, salt []byte) Credential {
	p := phc{variant: pp.variant, memory: pp.memory, time: pp.time, threads: pp.threads, salt: salt}
	return pp.format(salt, p.deriveLen(password, uint32(pp.keyLen)))
}

func (pp phcParams) format(salt, sum []byte) Credential {
	enc := base64.RawStdEncoding
	return Credential(fmt.Sprintf("argon2:$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", pp.variant,
		argon2.Version, pp.memory, pp.time, pp.threads, enc.EncodeToString(salt), enc.EncodeToString(sum)))
}

// Grant is what the command line checks before it mints for a configured
// user (camrelay token --user U --read cam1): the user's permissions when
// req is empty, else req if the user has all of it.
func Grant(users []User, name string, req Permissions) (Permissions, error) {
	for _, u := range users {
		if u.Name != name {
			continue
		}
		if len(req) == 0 {
			return append(Permissions(nil), u.Permissions...), nil
		}
		if err := req.Validate(); err != nil {
			return nil, err
		}
		if err := u.Permissions.Covers(req); err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		return append(Permissions(nil), req...), nil
	}
	return nil, fmt.Errorf("no user %q", name)
}
