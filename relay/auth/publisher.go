package auth

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// Defaults of PublisherTokens.
const (
	DefaultPublisherSubject = "camrelay"
	DefaultPublisherTTL     = 10 * time.Minute
	// MaxPasswordToken is the longest token PublishURL puts in the URL's
	// password. RTSP header values are capped at 2048 bytes in MediaMTX,
	// and Basic auth grows the password by a third; longer tokens go in
	// ?jwt= instead.
	MaxPasswordToken = 1024
)

// PublisherTokens mints camrelay's own publishing tokens: one per path,
// allowing publish on that path only, short-lived, and renewed once two
// thirds of the lifetime has passed. MediaMTX checks a publisher's token
// only at ANNOUNCE, so a session outlives its token; a reconnect takes a
// fresh one. Safe for concurrent use.
type PublisherTokens struct {
	// Issuer signs; required.
	Issuer *Issuer
	// Subject is the tokens' sub; empty means "camrelay".
	Subject string
	// TTL is their lifetime; 0 means 10 minutes (capped by the issuer's
	// MaxTTL).
	TTL time.Duration

	mu    sync.Mutex
	cache map[string]pubToken
}

type pubToken struct {
	token   string
	renewAt time.Time
}

// Token returns a token for publishing on path, minting one when there is
// none or the current one has lived two thirds of its lifetime.
func (p *PublisherTokens) Token(path string) (string, error) {
	if p.Issuer == nil {
		return "", errors.New("auth: publisher tokens: no issuer")
	}
	if path == "" {
		return "", errors.New("auth: publisher tokens: empty path")
	}
	now := p.Issuer.o.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.cache[path]; ok && now.Before(t.renewAt) {
		return t.token, nil
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultPublisherTTL
	}
	ttl = min(ttl, p.Issuer.o.MaxTTL)
	sub := p.Subject
	if sub == "" {
		sub = DefaultPublisherSubject
	}
	tok, c, err := p.Issuer.Mint(MintRequest{Subject: sub, TTL: ttl,
		Permissions: Permissions{{Action: ActionPublish, Path: path}}})
	if err != nil {
		return "", err
	}
	if p.cache == nil {
		p.cache = map[string]pubToken{}
	}
	// Renew from the token's own times (whole seconds), 2/3 into its life.
	life := c.Expiry.Sub(c.NotBefore)
	p.cache[path] = pubToken{token: tok, renewAt: c.NotBefore.Add(life * 2 / 3)}
	return tok, nil
}

// Forget drops the token of a path (a camera removed).
func (p *PublisherTokens) Forget(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.cache, path)
}

// PublishURL puts a current token for path into an rtsp:// or rtsps:// URL:
// as the password (user name kept, or "camrelay" when there is none), or as
// ?jwt= when the token is longer than MaxPasswordToken. Credentials already
// in the URL are replaced.
func (p *PublisherTokens) PublishURL(rawURL, path string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("auth: publish url: cannot parse")
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return "", fmt.Errorf("auth: publish url: scheme %q, want rtsp or rtsps", u.Scheme)
	}
	tok, err := p.Token(path)
	if err != nil {
		return "", err
	}
	user := DefaultPublisherSubject
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
	}
	q := u.Query()
	q.Del("jwt")
	if len(tok) <= MaxPasswordToken {
		u.User = url.UserPassword(user, tok)
	} else {
		u.User = nil
		q.Set("jwt", tok)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
