package transport

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// authenticator answers the credential challenges of RTSP and HTTP servers
// (cameras, MediaMTX) for one set of credentials. It is camrelay's only
// implementation of HTTP authentication, used by the RTSP control connection
// (rtspConn), by gortsplib's client through its hooks (clientAuth) and by the
// MJPEG source. It speaks:
//
//   - Basic (RFC 7617), only when it is the first challenge: a refused Basic
//     is a wrong password, and a server that asked for Digest never gets the
//     password in clear.
//   - Digest the RFC 2069 way (no qop), and RFC 2617/7616 with qop="auth":
//     nc, cnonce, MD5 or SHA-256, opaque echoed. Strict cameras refuse an
//     RFC 2069 answer to a qop challenge.
//   - A later 401 that carries a nonce not answered yet (stale=true or not;
//     some firmware rotates the nonce once after the first authenticated
//     request): worth one more try. The same nonce refused again means wrong
//     credentials.
//
// Use: send without credentials; on a 401 pass its WWW-Authenticate values
// to Challenge, and when it says so, send again with Authorization(method,
// uri) as the Authorization header. Callers bound the number of tries.
// It is safe for concurrent use (keepalives are built beside read loops).
type authenticator struct {
	user, pass string
	has        bool // credentials were given (a user, a password or both)
	// cnonce makes the client nonce; nil means 8 random bytes in hex. Tests
	// set it for RFC vectors.
	cnonce func() string

	mu        sync.Mutex
	digest    *digestChallenge // the challenge answered, nil when none
	basic     bool             // answer with Basic
	nc        uint32           // requests sent with digest.nonce
	sent      bool             // an Authorization was handed out
	usedNonce string           // nonce of the last Digest answer handed out
}

// newAuthenticator makes an authenticator for user and pass; has says
// whether credentials were given at all.
func newAuthenticator(user, pass string, has bool) *authenticator {
	return &authenticator{user: user, pass: pass, has: has}
}

// authenticatorFor takes the credentials of an RTSP URL.
func authenticatorFor(u *base.URL) *authenticator {
	if u == nil || u.User == nil {
		return newAuthenticator("", "", false)
	}
	pass, _ := u.User.Password()
	return newAuthenticator(u.User.Username(), pass, true)
}

// digestChallenge is one Digest challenge camrelay can answer.
type digestChallenge struct {
	realm, nonce, opaque string
	algorithm            string // as the server wrote it; empty means MD5
	sha256               bool
	qop                  bool // qop="auth" offered
}

// Challenge takes the WWW-Authenticate values of a 401 and reports whether
// sending the request again, with Authorization, can succeed: credentials
// not offered yet, or a Digest nonce not answered yet.
func (a *authenticator) Challenge(wwwAuthenticate []string) bool {
	if !a.has {
		return false
	}
	c, basic := pickChallenge(wwwAuthenticate)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case c != nil:
		if a.sent && c.nonce == a.usedNonce {
			return false // our answer to this very nonce was refused
		}
		if a.digest == nil || a.digest.nonce != c.nonce {
			a.nc = 0
		}
		a.digest, a.basic = c, false
		return true
	case basic && !a.sent:
		a.basic = true
		return true
	}
	return false
}

// Authorization is the Authorization header value for a request, or ""
// before any challenge was accepted (credentials are never sent unasked).
// uri is what the Digest answer covers: the request URL without
// credentials for RTSP, the request URI (path and query) for HTTP. Each
// call with qop counts one request (nc).
func (a *authenticator) Authorization(method, uri string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.digest != nil:
		a.sent, a.usedNonce = true, a.digest.nonce
		return a.answerLocked(method, uri)
	case a.basic:
		a.sent = true
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.user+":"+a.pass))
	}
	return ""
}

func (a *authenticator) answerLocked(method, uri string) string {
	c := a.digest
	newHash := md5.New
	if c.sha256 {
		newHash = sha256.New
	}
	hx := func(parts ...string) string {
		h := newHash()
		for i, p := range parts {
			if i > 0 {
				h.Write([]byte{':'})
			}
			h.Write([]byte(p))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	ha1 := hx(a.user, c.realm, a.pass)
	ha2 := hx(method, uri)
	var b strings.Builder
	b.WriteString("Digest username=" + quote(a.user) + ", realm=" + quote(c.realm) +
		", nonce=" + quote(c.nonce) + ", uri=" + quote(uri))
	if c.qop {
		a.nc++
		nc := hexCount(a.nc)
		cnonce := a.newCnonce()
		b.WriteString(", response=" + quote(hx(ha1, c.nonce, nc, cnonce, "auth", ha2)) +
			", qop=auth, nc=" + nc + ", cnonce=" + quote(cnonce))
	} else {
		b.WriteString(", response=" + quote(hx(ha1, c.nonce, ha2)))
	}
	if c.opaque != "" {
		b.WriteString(", opaque=" + quote(c.opaque))
	}
	if c.algorithm != "" {
		b.WriteString(", algorithm=" + c.algorithm)
	}
	return b.String()
}

func (a *authenticator) newCnonce() string {
	if a.cnonce != nil {
		return a.cnonce()
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// hexCount writes nc as RFC 2617 wants it: 8 hex digits.
func hexCount(n uint32) string {
	s := strconv.FormatUint(uint64(n), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// quote makes a quoted-string (RFC 9110 5.6.4).
func quote(s string) string {
	if strings.ContainsAny(s, `"\`) {
		s = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
	}
	return `"` + s + `"`
}

// pickChallenge reads every challenge of the WWW-Authenticate values and
// picks the Digest one to answer (SHA-256 before MD5, otherwise the first),
// and whether Basic was offered. Challenges that are malformed or that
// camrelay cannot answer (other algorithms, -sess variants) are skipped.
func pickChallenge(values []string) (*digestChallenge, bool) {
	var pick *digestChallenge
	basic := false
	for _, v := range values {
		for _, ch := range parseChallenges(v) {
			switch {
			case strings.EqualFold(ch.scheme, "Basic"):
				basic = true
			case strings.EqualFold(ch.scheme, "Digest"):
				c, ok := digestOf(ch.params)
				if ok && (pick == nil || c.sha256 && !pick.sha256) {
					pick = c
				}
			}
		}
	}
	return pick, basic
}

func digestOf(p map[string]string) (*digestChallenge, bool) {
	c := &digestChallenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], algorithm: p["algorithm"]}
	switch strings.ToUpper(c.algorithm) {
	case "", "MD5":
	case "SHA-256":
		c.sha256 = true
	default:
		return nil, false
	}
	if c.nonce == "" {
		return nil, false
	}
	for q := range strings.SplitSeq(p["qop"], ",") {
		if strings.EqualFold(strings.TrimSpace(q), "auth") {
			c.qop = true
		}
	}
	return c, true
}

// authChallenge is one challenge of a WWW-Authenticate value: a scheme and
// its parameters (names in lower case, values unquoted).
type authChallenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads a WWW-Authenticate value, which may hold several
// challenges (`Basic realm="a", Digest realm="b", nonce="c"`). A challenge
// with a malformed parameter (an unterminated quote, an empty name) is left
// out.
func parseChallenges(v string) []authChallenge {
	var out []authChallenge
	var cur *authChallenge
	bad := false
	end := func() {
		if cur != nil && !bad {
			out = append(out, *cur)
		}
		cur, bad = nil, false
	}
	for _, item := range splitParams(v) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tok, rest := cutToken(item)
		if !strings.HasPrefix(rest, "=") {
			// "Scheme" or "Scheme name=value": a new challenge.
			end()
			cur = &authChallenge{scheme: tok, params: map[string]string{}}
			if rest == "" {
				continue
			}
			if tok, rest = cutToken(rest); !strings.HasPrefix(rest, "=") {
				bad = true // a token68 or junk: not a challenge we answer
				continue
			}
		}
		if cur == nil {
			continue // parameters before any scheme
		}
		val, ok := unquote(strings.TrimSpace(rest[1:]))
		if tok == "" || !ok {
			bad = true
			continue
		}
		cur.params[strings.ToLower(tok)] = val
	}
	end()
	return out
}

// cutToken splits s after its leading token (up to a space or '='); rest
// starts after the spaces that follow it.
func cutToken(s string) (tok, rest string) {
	i := strings.IndexAny(s, " \t=")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// unquote reads a token or a quoted-string with backslash escapes.
func unquote(s string) (string, bool) {
	if !strings.HasPrefix(s, `"`) {
		return s, !strings.ContainsAny(s, `" `)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), i == len(s)-1
		default:
			b.WriteByte(s[i])
		}
	}
	return "", false // no closing quote
}

// splitParams splits `a="x, y", b=z` on the commas outside quoted strings
// (backslash escapes inside them respected).
func splitParams(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
