package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// MediaMTXAuth describes the auth section of a MediaMTX v1.15.3
// configuration that trusts camrelay (camrelay mediamtx-config --auth).
type MediaMTXAuth struct {
	// Method is "jwt" (MediaMTX verifies tokens itself against the JWKS;
	// revocations are not seen, see the package documentation) or "http"
	// (MediaMTX asks camrelay's callback on every request; revocations
	// apply at once).
	Method string
	// JWKSURL is where MediaMTX fetches the JWKS (jwt), e.g.
	// http://127.0.0.1:8990/.well-known/jwks.json.
	JWKSURL string
	// JWKSFingerprint is the SHA-256 fingerprint of a self-signed
	// certificate of an https JWKSURL (authJWTJWKSFingerprint).
	JWKSFingerprint string
	// ClaimKey is the permission claim (jwt); empty means
	// mediamtx_permissions.
	ClaimKey string
	// CallbackURL is camrelay's callback (http), e.g.
	// http://127.0.0.1:8990/v1/mediamtx/auth.
	CallbackURL string
	// Exclude lists requests MediaMTX allows without asking
	// (authJWTExclude / authHTTPExclude). nil renders an empty list: every
	// request is checked. MediaMTX's own default for http mode excludes
	// api, metrics and pprof, which would leave its control API open, so
	// the empty list is written explicitly.
	Exclude Permissions
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// YAML renders the top-level keys, ready to paste into (or append to)
// mediamtx.yml. Values are written as JSON, which YAML reads the same.
func (m MediaMTXAuth) YAML() (string, error) {
	q := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	if err := m.Exclude.Validate(); err != nil {
		return "", fmt.Errorf("auth: exclude: %w", err)
	}
	exclude := Permissions{}
	if m.Exclude != nil {
		exclude = m.Exclude
	}
	var b strings.Builder
	b.WriteString("# MediaMTX authentication by camrelay\n")
	switch m.Method {
	case "jwt":
		if err := httpURL(m.JWKSURL); err != nil {
			return "", fmt.Errorf("auth: jwks url: %w", err)
		}
		if m.JWKSFingerprint != "" && !fingerprintRE.MatchString(m.JWKSFingerprint) {
			return "", errors.New("auth: jwks fingerprint: want 64 lowercase hex digits (SHA-256)")
		}
		key := m.ClaimKey
		if key == "" {
			key = DefaultClaimKey
		}
		fmt.Fprintf(&b, "authMethod: jwt\n")
		fmt.Fprintf(&b, "authJWTJWKS: %s\n", q(m.JWKSURL))
		if m.JWKSFingerprint != "" {
			fmt.Fprintf(&b, "authJWTJWKSFingerprint: %s\n", q(m.JWKSFingerprint))
		}
		fmt.Fprintf(&b, "authJWTClaimKey: %s\n", q(key))
		fmt.Fprintf(&b, "authJWTExclude: %s\n", q(exclude))
		// Tokens longer than an RTSP password may be can travel as ?jwt=.
		fmt.Fprintf(&b, "authJWTInHTTPQuery: true\n")
	case "http":
		if err := httpURL(m.CallbackURL); err != nil {
			return "", fmt.Errorf("auth: callback url: %w", err)
		}
		fmt.Fprintf(&b, "authMethod: http\n")
		fmt.Fprintf(&b, "authHTTPAddress: %s\n", q(m.CallbackURL))
		fmt.Fprintf(&b, "authHTTPExclude: %s\n", q(exclude))
	default:
		return "", fmt.Errorf("auth: method %q: want jwt or http", m.Method)
	}
	return b.String(), nil
}

func httpURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("cannot parse")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	return nil
}
