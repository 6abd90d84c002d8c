package transport

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// digestAuth completes gortsplib v4's client authentication for two camera
// behaviours it does not handle: Digest with qop="auth" (RFC 2617: the answer
// must carry qop, nc and cnonce; gortsplib answers the RFC 2069 way, which
// strict cameras refuse), and a second 401 with a fresh nonce after
// credentials were sent (gortsplib gives up after one try).
//
// It hooks the client's OnResponse (to learn the newest challenge) and
// OnRequest (to rewrite the Authorization header gortsplib has just added).
// Both run on the client's own goroutine; the mutex is for the caller that
// asks whether a retry makes sense.
type digestAuth struct {
	user, pass string

	mu        sync.Mutex
	chal      *digestChallenge
	nc        uint32
	usedNonce string // nonce of the last Authorization we sent
	fresh     bool   // a 401 arrived with a nonce we have not answered yet
}

type digestChallenge struct {
	realm, nonce, opaque, algorithm string
	qop                             bool
}

func (d *digestAuth) onResponse(res *base.Response) {
	if res.StatusCode != base.StatusUnauthorized {
		return
	}
	for _, v := range res.Header["WWW-Authenticate"] {
		c, ok := parseDigestChallenge(v)
		if !ok {
			continue
		}
		d.mu.Lock()
		if d.chal == nil || d.chal.nonce != c.nonce {
			d.nc = 0
		}
		d.chal = c
		d.fresh = d.usedNonce != "" && c.nonce != d.usedNonce
		d.mu.Unlock()
		return
	}
}

func (d *digestAuth) onRequest(req *base.Request) {
	a := req.Header["Authorization"]
	if len(a) == 0 || !strings.HasPrefix(a[0], "Digest ") {
		return // no credentials yet, or Basic: gortsplib's answer is right
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.chal == nil {
		return
	}
	uri := req.URL.CloneWithoutCredentials().String()
	req.Header["Authorization"] = base.HeaderValue{d.answer(string(req.Method), uri)}
	d.usedNonce = d.chal.nonce
	d.fresh = false
}

// retryable reports whether the last 401 carried a new nonce, so that the
// same request sent again can succeed.
func (d *digestAuth) retryable() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fresh
}

func (d *digestAuth) answer(method, uri string) string {
	c := d.chal
	var h func() hash.Hash = md5.New
	alg := strings.ToUpper(c.algorithm)
	if alg == "SHA-256" {
		h = sha256.New
	}
	hx := func(s string) string {
		x := h()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := hx(d.user + ":" + c.realm + ":" + d.pass)
	ha2 := hx(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%q, realm=%q, nonce=%q, uri=%q`, d.user, c.realm, c.nonce, uri)
	if c.qop {
		d.nc++
		var r [8]byte
		_, _ = rand.Read(r[:])
		cnonce := hex.EncodeToString(r[:])
		nc := fmt.Sprintf("%08x", d.nc)
		resp := hx(ha1 + ":" + c.nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		fmt.Fprintf(&b, `, response=%q, qop=auth, nc=%s, cnonce=%q`, resp, nc, cnonce)
	} else {
		fmt.Fprintf(&b, `, response=%q`, hx(ha1+":"+c.nonce+":"+ha2))
	}
	if c.opaque != "" {
		fmt.Fprintf(&b, `, opaque=%q`, c.opaque)
	}
	if c.algorithm != "" {
		b.WriteString(", algorithm=" + c.algorithm)
	}
	return b.String()
}

// parseDigestChallenge reads a WWW-Authenticate value of the Digest scheme.
func parseDigestChallenge(v string) (*digestChallenge, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "Digest ")
	if !ok {
		return nil, false
	}
	c := &digestChallenge{}
	for _, kv := range splitParams(rest) {
		k, val, _ := strings.Cut(kv, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch k {
		case "realm":
			c.realm = val
		case "nonce":
			c.nonce = val
		case "opaque":
			c.opaque = val
		case "algorithm":
			c.algorithm = val
		case "qop":
			for _, q := range strings.Split(val, ",") {
				if strings.TrimSpace(q) == "auth" {
					c.qop = true
				}
			}
		}
	}
	if c.nonce == "" {
		return nil, false
	}
	return c, true
}

// splitParams splits `a="x, y", b=z` on the commas outside quotes.
func splitParams(s string) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
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
