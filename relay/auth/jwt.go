package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of Verify, to test with errors.Is. The text of a wrapping error
// says what was wrong, never the token.
var (
	ErrMalformed   = errors.New("malformed token")
	ErrAlgorithm   = errors.New("algorithm not allowed")
	ErrUnknownKey  = errors.New("unknown key")
	ErrSignature   = errors.New("bad signature")
	ErrClaims      = errors.New("invalid claims")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not valid yet")
	ErrRevoked     = errors.New("token revoked")
)

// Limits of what Verify reads. A token over MaxTokenLen is refused before
// any decoding. Tokens camrelay mints are far smaller (about 450 bytes with
// EdDSA, 700 with RS256, for a few permissions).
const (
	MaxTokenLen    = 8 << 10
	maxPermissions = 256
	maxStringClaim = 256
)

// DefaultClaimKey is the claim MediaMTX reads permissions from by default
// (authJWTClaimKey).
const DefaultClaimKey = "mediamtx_permissions"

// Claims are the contents of a camrelay token.
type Claims struct {
	Subject     string    // sub: the user, or "camrelay" for its own publishing
	ID          string    // jti: what revocation names
	IssuedAt    time.Time // iat
	NotBefore   time.Time // nbf
	Expiry      time.Time // exp
	Permissions Permissions
	// KeyID and Algorithm come from the header of a verified token.
	KeyID     string
	Algorithm Algorithm
}

// Allows reports whether the token's permissions allow action on path, with
// MediaMTX's matching.
func (c Claims) Allows(action, path string) bool { return c.Permissions.Allows(action, path) }

// TTL is the token's lifetime.
func (c Claims) TTL() time.Duration { return c.Expiry.Sub(c.IssuedAt) }

// method is the golang-jwt signing method of a.
func (a Algorithm) method() jwt.SigningMethod {
	switch a {
	case EdDSA:
		return jwt.SigningMethodEdDSA
	case RS256:
		return jwt.SigningMethodRS256
	}
	return nil
}

// jwtClaims carries Claims through golang-jwt: it writes the payload in a
// fixed order with dates as integer seconds (NumericDate), and reads it with
// decodeClaims. A payload that decodeClaims refuses is not an error of
// UnmarshalJSON (golang-jwt decodes the payload before it checks the
// signature): the error is kept and reported once the signature is good.
type jwtClaims struct {
	c        Claims
	claimKey string
	err      error
}

var _ jwt.Claims = (*jwtClaims)(nil)

func (t *jwtClaims) MarshalJSON() ([]byte, error) {
	c := t.c
	perms := c.Permissions
	if perms == nil {
		perms = Permissions{}
	}
	sub, err := json.Marshal(c.Subject)
	if err != nil {
		return nil, err
	}
	jti, err := json.Marshal(c.ID)
	if err != nil {
		return nil, err
	}
	key, err := json.Marshal(t.claimKey)
	if err != nil {
		return nil, err
	}
	ps, err := json.Marshal(perms)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+len(sub)+len(jti)+len(key)+len(ps))
	b = append(append(b, `{"sub":`...), sub...)
	b = strconv.AppendInt(append(b, `,"iat":`...), c.IssuedAt.Unix(), 10)
	b = strconv.AppendInt(append(b, `,"nbf":`...), c.NotBefore.Unix(), 10)
	b = strconv.AppendInt(append(b, `,"exp":`...), c.Expiry.Unix(), 10)
	b = append(append(b, `,"jti":`...), jti...)
	b = append(append(append(append(b, ','), key...), ':'), ps...)
	return append(b, '}'), nil
}

func (t *jwtClaims) UnmarshalJSON(data []byte) error {
	t.c, t.err = decodeClaims(data, t.claimKey)
	return nil
}

func (t *jwtClaims) date(d time.Time) (*jwt.NumericDate, error) {
	if t.err != nil {
		return nil, t.err
	}
	return jwt.NewNumericDate(d), nil
}

func (t *jwtClaims) GetExpirationTime() (*jwt.NumericDate, error) { return t.date(t.c.Expiry) }
func (t *jwtClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return t.date(t.c.IssuedAt) }
func (t *jwtClaims) GetNotBefore() (*jwt.NumericDate, error)      { return t.date(t.c.NotBefore) }
func (t *jwtClaims) GetIssuer() (string, error)                   { return "", t.err }
func (t *jwtClaims) GetSubject() (string, error)                  { return t.c.Subject, t.err }
func (t *jwtClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, t.err }

// signToken signs claims with k: header alg, kid and typ JWT.
func signToken(k *signingKey, c Claims, claimKey string) (string, error) {
	tok := jwt.NewWithClaims(k.alg.method(), &jwtClaims{c: c, claimKey: claimKey})
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.priv)
}

// checkShape is the first of camrelay's checks, before any decoding: at
// most MaxTokenLen bytes, three parts, a payload.
func checkShape(token string) error {
	switch {
	case len(token) > MaxTokenLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLen)
	case strings.Count(token, ".") != 2:
		return fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	case strings.Contains(token, ".."):
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	return nil
}

// checkHeader is camrelay's pass over the header of a compact JWS before
// golang-jwt sees it: base64url without padding, holding alg, kid and
// optionally typ "JWT", all strings, nothing else (no crit, jku, x5u, x5c,
// jwk: camrelay never uses them and refuses what it does not understand),
// no member twice. It returns alg and kid.
func checkHeader(token string) (alg Algorithm, kid string, err error) {
	seg, _, _ := strings.Cut(token, ".")
	hdr, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil || len(hdr) == 0 {
		return "", "", fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	members, err := strictObject(hdr)
	if err != nil {
		return "", "", fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	for name, raw := range members {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", "", fmt.Errorf("%w: header %q is not a string", ErrMalformed, name)
		}
		switch name {
		case "alg":
			alg = Algorithm(s)
		case "kid":
			kid = s
		case "typ":
			if s != "JWT" {
				return "", "", fmt.Errorf("%w: header typ %q", ErrMalformed, s)
			}
		default:
			return "", "", fmt.Errorf("%w: header member %q not allowed", ErrMalformed, name)
		}
	}
	if alg == "" {
		return "", "", fmt.Errorf("%w: header has no alg", ErrMalformed)
	}
	if kid == "" {
		return "", "", fmt.Errorf("%w: header has no kid", ErrUnknownKey)
	}
	return alg, kid, nil
}

// decodeClaims reads a payload strictly: exactly sub, iat, nbf, exp, jti and
// the permission claim, with the types camrelay writes; the permission claim
// an array of objects with exactly a known action and a path, both strings.
// Times are checked by the caller.
func decodeClaims(payload []byte, claimKey string) (Claims, error) {
	var c Claims
	members, err := strictObject(payload)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	bad := func(format string, a ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: "+format, append([]any{ErrClaims}, a...)...)
	}
	var haveIat, haveNbf, haveExp bool
	for name, raw := range members {
		switch name {
		case "sub", "jti":
			s, ok := stringClaim(raw)
			if !ok {
				return bad("%s must be a non-empty string of at most %d bytes", name, maxStringClaim)
			}
			if name == "sub" {
				c.Subject = s
			} else {
				c.ID = s
			}
		case "iat", "nbf", "exp":
			t, ok := numericDate(raw)
			if !ok {
				return bad("%s must be an integer NumericDate", name)
			}
			switch name {
			case "iat":
				c.IssuedAt, haveIat = t, true
			case "nbf":
				c.NotBefore, haveNbf = t, true
			default:
				c.Expiry, haveExp = t, true
			}
		case claimKey:
			if c.Permissions, err = decodePermissions(raw); err != nil {
				return bad("%s: %v", claimKey, err)
			}
		default:
			return bad("claim %q not allowed", name)
		}
	}
	switch {
	case c.Subject == "":
		return bad("no sub")
	case c.ID == "":
		return bad("no jti")
	case !haveIat || !haveNbf || !haveExp:
		return bad("iat, nbf and exp are required")
	case c.Permissions == nil:
		return bad("no %s claim", claimKey)
	case !c.Expiry.After(c.NotBefore) || c.Expiry.Before(c.IssuedAt):
		return bad("exp must come after nbf and iat")
	}
	return c, nil
}

func stringClaim(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" || len(s) > maxStringClaim || !utf8.ValidString(s) {
		return "", false
	}
	return s, true
}

// numericDate accepts a non-negative integer number of seconds that fits
// well within time.Time (no fractions, no exponent, no strings).
func numericDate(raw json.RawMessage) (time.Time, bool) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 12 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// decodePermissions reads a permission claim: a JSON array (not a string
// holding one, which MediaMTX also accepts) of objects with exactly "action"
// and "path", both strings.
func decodePermissions(raw json.RawMessage) (Permissions, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("must be an array")
	}
	ps := Permissions{}
	for dec.More() {
		if len(ps) >= maxPermissions {
			return nil, fmt.Errorf("more than %d permissions", maxPermissions)
		}
		var obj json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			return nil, err
		}
		members, err := strictObject(obj)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %v", len(ps), err)
		}
		if len(members) != 2 || members["action"] == nil || members["path"] == nil {
			return nil, fmt.Errorf("[%d]: must have exactly action and path", len(ps))
		}
		var p Permission
		if json.Unmarshal(members["action"], &p.Action) != nil || json.Unmarshal(members["path"], &p.Path) != nil {
			return nil, fmt.Errorf("[%d]: action and path must be strings", len(ps))
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("[%d]: %v", len(ps), err)
		}
		ps = append(ps, p)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the array")
	}
	return ps, nil
}

// strictObject splits one JSON object into its members. Duplicate names are
// refused (decoders disagree on which one wins, and a signed token must mean
// one thing), as is anything after the object.
func strictObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("bad member name")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// strictUnmarshal decodes one JSON object into v, refusing duplicate and
// unknown members (by exact name: encoding/json alone matches names without
// regard to case), and trailing data.
func strictUnmarshal(data []byte, v any) error {
	members, err := strictObject(data)
	if err != nil {
		return err
	}
	known := jsonNames(v)
	for name := range members {
		if !known[name] {
			return fmt.Errorf("unknown member %q", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// jsonNames lists the JSON member names of the struct v points to.
func jsonNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}
