package transport

import (
	"errors"
	"net/url"
	"strings"
)

// RedactURL returns u with its password and any credential-bearing query
// values (jwt, token, password, pass, key) replaced by "***". The user name is
// kept: operators need it to tell which account failed. A string that does
// not parse as a URL is returned with anything between "://" and "@" hidden.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.Index(u, "://"); i >= 0 {
			if j := strings.LastIndex(u, "@"); j > i {
				return u[:i+3] + "***" + u[j:]
			}
		}
		return u
	}
	changed := false
	if p.User != nil {
		if _, ok := p.User.Password(); ok {
			p.User = url.UserPassword(p.User.Username(), "***")
			changed = true
		}
	}
	if p.RawQuery != "" {
		q := p.Query()
		for k := range q {
			if isSecretKey(k) {
				q[k] = []string{"***"}
				changed = true
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
	}
	if !changed {
		return u
	}
	s := p.String()
	// url.String escapes the stars; keep them readable.
	return strings.ReplaceAll(s, "%2A%2A%2A", "***")
}

func isSecretKey(k string) bool {
	switch strings.ToLower(k) {
	case "jwt", "token", "access_token", "password", "pass", "passwd", "pwd", "key", "secret", "auth":
		return true
	}
	return false
}

// Secrets lists the credential strings inside a URL (password, and secret
// query values), raw and percent-encoded, so that error text quoting them can
// be scrubbed.
func Secrets(u string) []string {
	p, err := url.Parse(u)
	if err != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 3 { // shorter ones would scrub ordinary words
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	if p.User != nil {
		if pw, ok := p.User.Password(); ok {
			add(pw)
		}
	}
	for k, vs := range p.Query() {
		if isSecretKey(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// scrubbed is an error whose text has had credentials removed; errors.Is and
// errors.As still see the original chain.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Scrub returns err with every secret found in the given URLs, and every URL
// with credentials, removed from its text.
func Scrub(err error, urls ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	orig := msg
	for _, u := range urls {
		for _, s := range Secrets(u) {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	msg = redactURLsIn(msg)
	if msg == orig {
		return err
	}
	var s *scrubbed
	if errors.As(err, &s) && s.msg == msg {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

// redactURLsIn hides the password of every scheme://user:pass@ in free text.
func redactURLsIn(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/ \t\n\"'?#")
		if end < 0 {
			end = len(s)
		}
		auth := s[:end]
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			if c := strings.Index(auth[:at], ":"); c >= 0 {
				b.WriteString(auth[:c+1])
				b.WriteString("***")
				b.WriteString(auth[at:])
				s = s[end:]
				continue
			}
		}
		b.WriteString(auth)
		s = s[end:]
	}
}
