package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of IssuerOptions.
const (
	DefaultTTL    = time.Hour
	DefaultLeeway = 10 * time.Second
	maxLeeway     = 5 * time.Minute
	// refreshTimeout bounds one OnRotate call made in the background.
	refreshTimeout = 30 * time.Second
	// maintainEvery is how often Start's loop prunes and checks rotation.
	maintainEvery = time.Minute
)

// IssuerOptions configure an Issuer. The zero value (but KeyFile) is a
// working configuration.
type IssuerOptions struct {
	// KeyFile holds the signing keys (see the package documentation for its
	// format). It is created, mode 0600, on first start, and refused when
	// group or others may read it. Empty keeps keys in memory only: every
	// start then has new keys (tests, one-off tools).
	KeyFile string
	// Algorithm signs new tokens: EdDSA (default) or RS256. When the
	// current key has another algorithm, NewIssuer rotates to a key of this
	// one.
	Algorithm Algorithm
	// RSABits is the size of new RSA keys; 0 means 2048, the minimum.
	RSABits int
	// DefaultTTL is the lifetime of a token when the request names none; 0
	// means one hour.
	DefaultTTL time.Duration
	// MaxTTL caps every lifetime (Mint included); 0 means DefaultTTL. It
	// also bounds how long a retired key stays in the JWKS, and how long a
	// token stays usable in MediaMTX's jwt mode after it is revoked.
	MaxTTL time.Duration
	// ClaimKey is the claim holding the permissions; empty means
	// mediamtx_permissions (MediaMTX's authJWTClaimKey default).
	ClaimKey string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means 10 s,
	// negative means none. At most 5 minutes.
	Leeway time.Duration
	// DenyFile keeps revocations across restarts (see the package
	// documentation); empty keeps them in memory only.
	DenyFile string
	// RotateEvery, when positive, makes Start's loop rotate the signing key
	// once it has signed for this long (counted from its activation, so
	// across restarts).
	RotateEvery time.Duration
	// OnRotate is called by Rotate after the new key is published in the
	// JWKS and before it signs: the place to make verifiers fetch the JWKS
	// again (MediaMTX does not on an unknown kid; see MediaMTXRefresher).
	// Start calls it too when NewIssuer had to create a new key.
	OnRotate func(ctx context.Context, is *Issuer) error
	// ReadOnly never writes the key file or the deny list: for a second
	// process (camrelay token) that mints with the keys of a running
	// camrelay. It signs with the file's current key whatever Algorithm
	// says, fails when the file has no usable key, and refuses Rotate and
	// revocations.
	ReadOnly bool
	// Logger gets key rotations and maintenance errors (never keys or
	// tokens); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issuer signs and verifies camrelay's tokens and keeps the signing keys and
// the deny list. Its methods are safe for concurrent use.
type Issuer struct {
	o   IssuerOptions
	log *slog.Logger

	rotateMu sync.Mutex // one rotation at a time

	mu      sync.RWMutex
	keys    []*signingKey // published: current, pending and retired keys
	current *signingKey

	deny *denyList

	// parsers verify with golang-jwt: [alg][0] signature only, [alg][1]
	// with exp and nbf too. Each accepts only its own algorithm.
	parsers map[Algorithm][2]*jwt.Parser

	// createdOnLoad: NewIssuer made a new key, which verifiers have not
	// seen yet; Start calls OnRotate once.
	createdOnLoad bool

	// tick is the maintenance period (maintainEvery; shorter in tests).
	tick time.Duration

	lifeMu  sync.Mutex
	started bool
	stop    chan struct{}
	done    chan struct{}
}

// reservedClaims cannot be the permission claim: they have their own
// meaning.
var reservedClaims = map[string]bool{"sub": true, "iat": true, "nbf": true, "exp": true, "jti": true,
	"iss": true, "aud": true}

// NewIssuer loads (or creates) the keys and the deny list. It makes no
// network call: after a key change it leaves OnRotate to Start.
func NewIssuer(o IssuerOptions) (*Issuer, error) {
	if o.Algorithm == "" {
		o.Algorithm = EdDSA
	}
	if !o.Algorithm.Valid() {
		return nil, fmt.Errorf("auth: algorithm %q: want EdDSA or RS256", o.Algorithm)
	}
	if o.Algorithm == RS256 && o.RSABits != 0 && o.RSABits < minRSABits {
		return nil, fmt.Errorf("auth: rsa bits: at least %d", minRSABits)
	}
	if o.DefaultTTL == 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = o.DefaultTTL
	}
	switch {
	case o.DefaultTTL < time.Second || o.MaxTTL < time.Second:
		return nil, errors.New("auth: token lifetimes must be at least 1s")
	case o.DefaultTTL > o.MaxTTL:
		return nil, fmt.Errorf("auth: default ttl %s exceeds max ttl %s", o.DefaultTTL, o.MaxTTL)
	}
	if o.ClaimKey == "" {
		o.ClaimKey = DefaultClaimKey
	}
	if reservedClaims[o.ClaimKey] || !utf8.ValidString(o.ClaimKey) || len(o.ClaimKey) > 64 {
		return nil, fmt.Errorf("auth: claim key %q cannot hold permissions", o.ClaimKey)
	}
	switch {
	case o.Leeway == 0:
		o.Leeway = DefaultLeeway
	case o.Leeway < 0:
		o.Leeway = 0
	case o.Leeway > maxLeeway:
		return nil, fmt.Errorf("auth: leeway %s: at most %s", o.Leeway, maxLeeway)
	}
	if o.RotateEvery < 0 {
		return nil, errors.New("auth: rotate every: must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	is := &Issuer{o: o, log: o.Logger, tick: maintainEvery}
	if is.log == nil {
		is.log = slog.New(slog.DiscardHandler)
	}
	if err := is.loadKeys(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	d, err := newDenyList(o.DenyFile, o.Now())
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	d.readOnly = o.ReadOnly
	is.deny = d
	is.parsers = map[Algorithm][2]*jwt.Parser{}
	for _, alg := range []Algorithm{EdDSA, RS256} {
		opts := []jwt.ParserOption{jwt.WithValidMethods([]string{string(alg)}), jwt.WithStrictDecoding()}
		is.parsers[alg] = [2]*jwt.Parser{
			jwt.NewParser(append(opts, jwt.WithoutClaimsValidation())...),
			jwt.NewParser(append(opts, jwt.WithExpirationRequired(), jwt.WithLeeway(o.Leeway), jwt.WithTimeFunc(o.Now))...),
		}
	}
	return is, nil
}

// loadKeys reads the key file, drops keys nobody can hold a token of any
// more, and makes the newest unretired key of the configured algorithm
// current, creating one if there is none.
func (is *Issuer) loadKeys() error {
	now := is.o.Now()
	var keys []*signingKey
	if is.o.KeyFile != "" {
		var err error
		if keys, err = loadKeys(is.o.KeyFile); err != nil {
			return err
		}
	}
	changed := false
	var kept []*signingKey
	for _, k := range keys {
		if !k.dropAfter.IsZero() && !k.dropAfter.After(now) {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	keys = kept
	var cur *signingKey
	for _, k := range keys {
		if k.retired.IsZero() && (cur == nil || k.created.After(cur.created)) {
			cur = k
		}
	}
	if is.o.ReadOnly {
		if cur == nil || cur.activated.IsZero() {
			return fmt.Errorf("no signing key in %q (read-only); start camrelay once to create one", is.o.KeyFile)
		}
		// Keys the file retires or drops are left as they are on disk.
		is.keys, is.current = keys, cur
		return nil
	}
	if cur == nil || cur.alg != is.o.Algorithm {
		k, err := generateKey(is.o.Algorithm, is.o.RSABits, now)
		if err != nil {
			return err
		}
		k.activated = now
		keys = append(keys, k)
		cur = k
		changed = true
		is.createdOnLoad = true
	}
	if cur.activated.IsZero() {
		// Published by a rotation that did not finish: verifiers may not
		// have it yet.
		cur.activated = now
		changed = true
		is.createdOnLoad = true
	}
	for _, k := range keys {
		if k != cur && k.retired.IsZero() {
			is.retire(k, now)
			changed = true
		}
	}
	is.keys, is.current = keys, cur
	if changed && is.o.KeyFile != "" {
		return saveKeys(is.o.KeyFile, keys)
	}
	return nil
}

// retire stops k from signing; its public key stays published until every
// token it can have signed has expired.
func (is *Issuer) retire(k *signingKey, now time.Time) {
	k.retired = now
	k.dropAfter = now.Add(is.o.MaxTTL + is.o.Leeway)
}

// Options are the options in effect, defaults filled in.
func (is *Issuer) Options() IssuerOptions { return is.o }

// KeyID is the kid of the key that signs now.
func (is *Issuer) KeyID() string {
	is.mu.RLock()
	defer is.mu.RUnlock()
	return is.current.kid
}

// MintRequest says what token to make.
type MintRequest struct {
	// Subject is the sub claim: the user name, or who the token is for.
	Subject string
	// Permissions go into the permission claim; at least one.
	Permissions Permissions
	// TTL is the lifetime; 0 means DefaultTTL. More than MaxTTL is an error.
	TTL time.Duration
}

// Mint signs a token. It trusts its caller: checking that the caller may
// have these permissions is the token endpoint's work (or the command
// line's, which reads the key file).
func (is *Issuer) Mint(req MintRequest) (string, Claims, error) {
	is.mu.RLock()
	k := is.current
	is.mu.RUnlock()
	return is.mintWith(k, req)
}

// mintWith signs with a given published key: the MediaMTX refresher uses
// a key MediaMTX already knows.
func (is *Issuer) mintWith(k *signingKey, req MintRequest) (string, Claims, error) {
	if req.Subject == "" || len(req.Subject) > maxStringClaim || !utf8.ValidString(req.Subject) ||
		stringHasControl(req.Subject) {
		return "", Claims{}, errors.New("auth: mint: subject must be 1 to 256 bytes of text")
	}
	if len(req.Permissions) == 0 {
		return "", Claims{}, errors.New("auth: mint: no permissions")
	}
	if len(req.Permissions) > maxPermissions {
		return "", Claims{}, fmt.Errorf("auth: mint: more than %d permissions", maxPermissions)
	}
	if err := req.Permissions.Validate(); err != nil {
		return "", Claims{}, fmt.Errorf("auth: mint: %w", err)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = is.o.DefaultTTL
	}
	if ttl < time.Second {
		return "", Claims{}, errors.New("auth: mint: ttl must be at least 1s")
	}
	if ttl > is.o.MaxTTL {
		return "", Claims{}, fmt.Errorf("auth: mint: ttl %s exceeds the maximum %s", ttl, is.o.MaxTTL)
	}
	now := is.o.Now().Truncate(time.Second)
	c := Claims{
		Subject:     req.Subject,
		ID:          newJTI(),
		IssuedAt:    now,
		NotBefore:   now,
		Expiry:      now.Add(ttl),
		Permissions: append(Permissions(nil), req.Permissions...),
	}
	// After "revoke every token of this user", tokens issued before the
	// cut-off (the next whole second) are refused; one minted within that
	// second must not be, so its iat moves to the cut-off. nbf stays at
	// now, which MediaMTX checks without leeway.
	if cut := is.deny.cutoff(req.Subject); c.IssuedAt.Before(cut) {
		c.IssuedAt = cut
	}
	tok, err := signToken(k, c, is.o.ClaimKey)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: mint: %w", err)
	}
	if len(tok) > MaxTokenLen {
		return "", Claims{}, fmt.Errorf("auth: mint: token of %d bytes is over the %d limit (too many permissions)", len(tok), MaxTokenLen)
	}
	c.KeyID, c.Algorithm = k.kid, k.alg
	return tok, c, nil
}

func stringHasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func newJTI() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return b64(b)
}

// Verify checks a token completely: form and header (checkHeader), the
// algorithm (that of the key the kid names; never none or HS*), the
// signature, claims (strictly, decodeClaims), exp and nbf with the leeway,
// iat not in the future, and the deny list.
func (is *Issuer) Verify(token string) (Claims, error) {
	c, err := is.parse(token, true)
	if err != nil {
		return Claims{}, err
	}
	// At least a second: Mint moves iat up to a whole-second cut-off after
	// RevokeUser.
	if c.IssuedAt.After(is.o.Now().Add(max(is.o.Leeway, time.Second))) {
		return Claims{}, fmt.Errorf("%w: iat is in the future", ErrClaims)
	}
	// No token outlives max_ttl, whatever it says: a correctly signed
	// token with a ten-year exp, or one minted before max_ttl was lowered,
	// is refused (and so a deny-list entry never needs to outlive max_ttl).
	if ttl := c.TTL(); ttl > is.o.MaxTTL+is.o.Leeway {
		return Claims{}, fmt.Errorf("%w: lifetime %s exceeds the maximum %s", ErrClaims, ttl, is.o.MaxTTL)
	}
	if err := is.deny.check(c); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// parse checks the form and the header, then has golang-jwt verify the signature with
// the key the kid names (and, with validate, exp and nbf), and reads the
// claims strictly. It leaves iat and revocation to Verify.
func (is *Issuer) parse(token string, validate bool) (Claims, error) {
	// The header of a token camrelay signed is known byte for byte: such a
	// header needs no decoding. Any other goes through checkHeader.
	if err := checkShape(token); err != nil {
		return Claims{}, err
	}
	seg, _, _ := strings.Cut(token, ".")
	k := is.publishedKey(func(k *signingKey) bool { return k.header == seg })
	if k == nil {
		alg, kid, err := checkHeader(token)
		if err != nil {
			return Claims{}, err
		}
		if !alg.Valid() {
			return Claims{}, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
		}
		if k = is.publishedKey(func(k *signingKey) bool { return k.kid == kid }); k == nil {
			return Claims{}, ErrUnknownKey
		}
		if k.alg != alg {
			return Claims{}, fmt.Errorf("%w: %s for a %s key", ErrAlgorithm, alg, k.alg)
		}
	}
	p := is.parsers[k.alg][0]
	if validate {
		p = is.parsers[k.alg][1]
	}
	tc := &jwtClaims{claimKey: is.o.ClaimKey}
	_, err := p.ParseWithClaims(token, tc, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != k.kid {
			return nil, ErrUnknownKey
		}
		return k.pub, nil
	})
	var syntaxErr *json.SyntaxError
	switch {
	case err == nil && tc.err == nil:
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Claims{}, ErrSignature
	case errors.As(err, &syntaxErr):
		// Only the payload can be bad JSON here: checkHeader read the
		// header. golang-jwt decodes it before checking the signature.
		return Claims{}, fmt.Errorf("%w: %v", ErrClaims, syntaxErr)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, ErrUnknownKey):
		return Claims{}, ErrUnknownKey
	case tc.err != nil:
		return Claims{}, tc.err
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, tc.c.Expiry.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Claims{}, fmt.Errorf("%w before %s", ErrNotYetValid, tc.c.NotBefore.UTC().Format(time.RFC3339))
	default:
		return Claims{}, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	c := tc.c
	c.KeyID, c.Algorithm = k.kid, k.alg
	return c, nil
}

// publishedKey finds a key among those still published.
func (is *Issuer) publishedKey(match func(*signingKey) bool) *signingKey {
	now := is.o.Now()
	is.mu.RLock()
	defer is.mu.RUnlock()
	for _, k := range is.keys {
		if match(k) && (k.dropAfter.IsZero() || now.Before(k.dropAfter)) {
			return k
		}
	}
	return nil
}

// signer is a key that may sign, and when it leaves the JWKS (zero: not
// retired), read under the lock.
type signer struct {
	k         *signingKey
	dropAfter time.Time
}

// signersNewestFirst lists the current key, then the other active published
// keys from the newest.
func (is *Issuer) signersNewestFirst() []signer {
	now := is.o.Now()
	is.mu.RLock()
	defer is.mu.RUnlock()
	out := []signer{{is.current, is.current.dropAfter}}
	for i := len(is.keys) - 1; i >= 0; i-- {
		k := is.keys[i]
		if k != is.current && !k.activated.IsZero() && (k.dropAfter.IsZero() || now.Before(k.dropAfter)) {
			out = append(out, signer{k, k.dropAfter})
		}
	}
	return out
}

// JWKS is the JSON Web Key Set of the published public keys: the current
// one, one being rotated in, and retired ones until their tokens have
// expired. It holds no private material.
func (is *Issuer) JWKS() []byte {
	now := is.o.Now()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	is.mu.RLock()
	for _, k := range is.keys {
		if k.dropAfter.IsZero() || now.Before(k.dropAfter) {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	is.mu.RUnlock()
	b, _ := json.Marshal(set) // strings only: cannot fail
	return b
}

// Rotate makes a new key current. The new public key is published first and
// OnRotate is called (to make verifiers fetch the JWKS); then the new key
// starts signing and the old one is retired, staying in the JWKS until every
// token it signed has expired. The key changes even when OnRotate fails; the
// error says so, and the caller may refresh verifiers again.
func (is *Issuer) Rotate(ctx context.Context) error {
	if is.o.ReadOnly {
		return errors.New("auth: rotate: the issuer is read-only")
	}
	is.rotateMu.Lock()
	defer is.rotateMu.Unlock()
	now := is.o.Now()
	k, err := generateKey(is.o.Algorithm, is.o.RSABits, now)
	if err != nil {
		return fmt.Errorf("auth: rotate: %w", err)
	}
	is.mu.Lock()
	is.keys = append(is.keys, k)
	err = is.saveLocked()
	is.mu.Unlock()
	if err != nil {
		is.mu.Lock()
		is.keys = is.keys[:len(is.keys)-1]
		is.mu.Unlock()
		return fmt.Errorf("auth: rotate: %w", err)
	}
	var hookErr error
	if is.o.OnRotate != nil {
		hookErr = is.o.OnRotate(ctx, is)
	}
	is.mu.Lock()
	now = is.o.Now()
	old := is.current
	k.activated = now
	is.retire(old, now)
	is.current = k
	err = is.saveLocked()
	is.mu.Unlock()
	is.log.Info("auth: signing key rotated", "kid", k.kid, "alg", string(k.alg), "previous", old.kid,
		"previous_published_until", old.dropAfter.UTC().Format(time.RFC3339))
	if err != nil {
		// In memory the rotation holds; on disk the new key is already
		// there, and a restart makes it current.
		return fmt.Errorf("auth: rotate: %w", err)
	}
	if hookErr != nil {
		return fmt.Errorf("auth: rotated to key %s, but refreshing verifiers failed: %w", k.kid, hookErr)
	}
	return nil
}

func (is *Issuer) saveLocked() error {
	if is.o.KeyFile == "" || is.o.ReadOnly {
		return nil
	}
	return saveKeys(is.o.KeyFile, is.keys)
}

// Prune drops retired keys whose tokens have all expired (they have already
// left the JWKS) and expired deny-list entries, and rewrites the files.
// Start's loop calls it every minute.
func (is *Issuer) Prune() error {
	now := is.o.Now()
	is.mu.Lock()
	var kept []*signingKey
	for _, k := range is.keys {
		if k == is.current || k.dropAfter.IsZero() || now.Before(k.dropAfter) {
			kept = append(kept, k)
		}
	}
	var err error
	if len(kept) != len(is.keys) {
		is.keys = kept
		err = is.saveLocked()
	}
	is.mu.Unlock()
	return errors.Join(err, is.deny.prune(now))
}

// RevokeID denies the token with this jti. Without the token its expiry is
// unknown, so the entry is kept for the longest lifetime a token can have
// (MaxTTL: Verify refuses longer-lived tokens).
func (is *Issuer) RevokeID(jti string) error {
	if is.o.ReadOnly {
		return errors.New("auth: revoke: the issuer is read-only")
	}
	if jti == "" || len(jti) > maxStringClaim {
		return errors.New("auth: revoke: bad jti")
	}
	now := is.o.Now()
	return is.deny.revokeToken(jti, now.Add(is.revocationHold()), now)
}

// revocationHold is how long a revocation whose token's expiry is unknown
// (by jti, by user) is kept: every token Verify still accepts was issued
// by now and lives at most MaxTTL, so it expires within MaxTTL.
func (is *Issuer) revocationHold() time.Duration {
	return is.o.MaxTTL + is.o.Leeway
}

// RevokeToken denies a token it verifies the signature of; the entry is kept
// until the token expires. An expired token needs nothing and is accepted.
func (is *Issuer) RevokeToken(token string) (Claims, error) {
	if is.o.ReadOnly {
		return Claims{}, errors.New("auth: revoke: the issuer is read-only")
	}
	c, err := is.parse(token, false)
	if err != nil {
		return Claims{}, err
	}
	now := is.o.Now()
	until := c.Expiry.Add(is.o.Leeway)
	if !until.After(now) {
		return c, nil
	}
	return c, is.deny.revokeToken(c.ID, until, now)
}

// RevokeUser denies every token of user issued up to now. Tokens minted
// afterwards work.
func (is *Issuer) RevokeUser(user string) error {
	if is.o.ReadOnly {
		return errors.New("auth: revoke: the issuer is read-only")
	}
	if user == "" || len(user) > maxStringClaim {
		return errors.New("auth: revoke: bad user")
	}
	now := is.o.Now()
	// Tokens carry whole seconds: every token issued so far has iat <= the
	// current second.
	before := now.Truncate(time.Second).Add(time.Second)
	return is.deny.revokeUser(user, before, before.Add(is.revocationHold()), now)
}

// Start runs the maintenance loop: OnRotate once if NewIssuer created a key,
// then every minute Prune, and Rotate when RotateEvery says so. Close stops
// it. Starting twice does nothing.
func (is *Issuer) Start() {
	is.lifeMu.Lock()
	defer is.lifeMu.Unlock()
	if is.started {
		return
	}
	is.started = true
	is.stop, is.done = make(chan struct{}), make(chan struct{})
	go is.run(is.stop, is.done)
}

// Close stops the loop Start began and waits for it.
func (is *Issuer) Close() {
	is.lifeMu.Lock()
	defer is.lifeMu.Unlock()
	if !is.started || is.stop == nil {
		return
	}
	close(is.stop)
	<-is.done
	is.stop = nil
}

func (is *Issuer) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if is.createdOnLoad && is.o.OnRotate != nil {
		rctx, rcancel := context.WithTimeout(ctx, refreshTimeout)
		if err := is.o.OnRotate(rctx, is); err != nil {
			is.log.Warn("auth: refreshing verifiers after a new key failed", "err", err)
		}
		rcancel()
	}
	tick := time.NewTicker(is.tick)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if err := is.Prune(); err != nil {
			is.log.Warn("auth: prune", "err", err)
		}
		if is.rotateDue() {
			rctx, rcancel := context.WithTimeout(ctx, refreshTimeout)
			if err := is.Rotate(rctx); err != nil {
				is.log.Warn("auth: scheduled rotation", "err", err)
			}
			rcancel()
		}
	}
}

func (is *Issuer) rotateDue() bool {
	if is.o.RotateEvery <= 0 {
		return false
	}
	is.mu.RLock()
	activated := is.current.activated
	is.mu.RUnlock()
	return !is.o.Now().Before(activated.Add(is.o.RotateEvery))
}
