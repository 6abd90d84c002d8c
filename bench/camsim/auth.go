package camsim

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
)

// AuthMethod is how a camera asks for credentials.
type AuthMethod int

// Authentication methods. Credentials are only checked when the camera has a
// User; a camera with a User and AuthNone uses AuthDigest, like most cameras.
const (
	AuthNone      AuthMethod = iota // no credentials asked
	AuthBasic                       // Basic realm=...
	AuthDigest                      // RFC 2069 digest: MD5, no qop
	AuthDigestQop                   // RFC 2617 digest with qop="auth": nc, cnonce and qop enter the response
)

// String is the name cmd/camsim takes on its command line.
func (m AuthMethod) String() string {
	switch m {
	case AuthNone:
		return "none"
	case AuthBasic:
		return "basic"
	case AuthDigest:
		return "digest"
	case AuthDigestQop:
		return "digest-qop"
	}
	return "unknown"
}

const realm = "camsim"

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// challenge builds the WWW-Authenticate value. Digest values are written by
// hand because headers.Authenticate has no qop field.
func challenge(m AuthMethod, nonce string, stale bool) base.HeaderValue {
	if m == AuthBasic {
		return headers.Authenticate{Method: headers.AuthMethodBasic, Realm: realm}.Marshal()
	}
	v := `Digest realm="` + realm + `", nonce="` + nonce + `", algorithm="MD5"`
	if m == AuthDigestQop {
		v += `, qop="auth"`
	}
	if stale {
		v += `, stale=true`
	}
	return base.HeaderValue{v}
}

// digestParams parses the key=value list of a Digest Authorization header.
// headers.Authorization drops qop, nc and cnonce, which RFC 2617 needs.
func digestParams(v string) map[string]string {
	out := make(map[string]string)
	for len(v) > 0 {
		v = strings.TrimLeft(v, " ,\t")
		eq := strings.IndexByte(v, '=')
		if eq < 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(v[:eq]))
		v = strings.TrimLeft(v[eq+1:], " \t")
		var val string
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				val, v = v[1:], ""
			} else {
				val, v = v[1:1+end], v[2+end:]
			}
		} else {
			end := strings.IndexByte(v, ',')
			if end < 0 {
				val, v = v, ""
			} else {
				val, v = v[:end], v[end:]
			}
			val = strings.TrimSpace(val)
		}
		out[key] = val
	}
	return out
}

// authResult is the outcome of checking a request's credentials.
type authResult int

const (
	authOK      authResult = iota
	authMissing            // no usable Authorization header, or wrong credentials
	authStale              // digest computed right, but over a nonce we no longer accept
)

// checkAuth verifies req's Authorization against the camera's credentials
// and the connection's current nonce.
func checkAuth(req *base.Request, m AuthMethod, user, pass, nonce string) authResult {
	return checkAuthorization(string(req.Method), req.Header["Authorization"], m, user, pass, nonce)
}

// checkAuthorization verifies the Authorization header values of a request
// (RTSP or HTTP: digests are computed the same way) with this method.
func checkAuthorization(method string, hv []string, m AuthMethod, user, pass, nonce string) authResult {
	if len(hv) != 1 {
		return authMissing
	}
	v := hv[0]
	sp := strings.IndexByte(v, ' ')
	if sp < 0 {
		return authMissing
	}
	scheme, rest := v[:sp], v[sp+1:]
	switch {
	case m == AuthBasic && strings.EqualFold(scheme, "Basic"):
		// headers.Authorization refuses passwords with a colon, which RFC
		// 7617 allows: split at the first one.
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return authMissing
		}
		u, p, ok := strings.Cut(string(raw), ":")
		if !ok || u != user || p != pass {
			return authMissing
		}
		return authOK
	case m != AuthBasic && strings.EqualFold(scheme, "Digest"):
		p := digestParams(rest)
		if p["username"] != user || p["realm"] != realm || p["uri"] == "" {
			return authMissing
		}
		if alg, ok := p["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
			return authMissing
		}
		ha1 := md5Hex(user + ":" + realm + ":" + pass)
		ha2 := md5Hex(method + ":" + p["uri"])
		var want string
		switch qop := p["qop"]; {
		case qop == "auth":
			nc, cnonce := p["nc"], p["cnonce"]
			if len(nc) != 8 || !isHex(nc) || cnonce == "" {
				return authMissing
			}
			want = md5Hex(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		case qop != "":
			return authMissing
		case m == AuthDigestQop:
			// The challenge offered qop; RFC 2617 3.2.2 makes the client use it.
			return authMissing
		default:
			want = md5Hex(ha1 + ":" + p["nonce"] + ":" + ha2)
		}
		if p["response"] != want {
			return authMissing
		}
		if p["nonce"] != nonce {
			return authStale
		}
		return authOK
	}
	return authMissing
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
