package transport

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// RedactURL returns u with its credentials replaced by "***": the password
// (the user name is kept: operators need it to tell which account failed),
// a user name that stands alone (rtsp://TOKEN@host: it is the credential),
// and every query value except those of known-harmless keys (channel,
// subtype...): cameras and services carry keys in apikey=, sig=, auth=...
// under too many names to list. A string that does not parse as a URL is
// returned with anything between "://" and "@" hidden.
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
		} else {
			p.User = url.User("***")
		}
		changed = true
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

// harmlessQuery are the query keys whose values are stream settings, never
// credentials; every other value is redacted.
var harmlessQuery = map[string]bool{
	"channel": true, "chn": true, "ch": true, "subtype": true, "stream": true, "streamtype": true,
	"profile": true, "resolution": true, "res": true, "fps": true, "framerate": true, "codec": true,
	"video": true, "audio": true, "transport": true, "rtsp_transport": true, "unicast": true, "proto": true,
	"camera": true, "cam": true, "track": true, "quality": true, "mode": true, "format": true, "type": true,
	"width": true, "height": true, "bitrate": true, "compression": true, "user": true, "username": true,
}

func isSecretKey(k string) bool { return !harmlessQuery[strings.ToLower(k)] }

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
		} else {
			add(p.User.Username()) // a user name alone is a token
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
// with credentials, removed from its text; bytes that are not printable
// text (what a garbage server sends) are quoted and the text is cut at
// maxErrorText, so that logs and status stay readable.
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
	msg = printable(redactURLsIn(msg), maxErrorText)
	if msg == orig {
		return err
	}
	var s *scrubbed
	if errors.As(err, &s) && s.msg == msg {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

// redactURLsIn redacts every URL in free text (RedactURL).
func redactURLsIn(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		end := i + 3
		for end < len(s) && !strings.ContainsRune(" \t\n\r\"'<>`", rune(s[end])) {
			end++
		}
		b.WriteString(s[:start])
		b.WriteString(RedactURL(s[start:end]))
		s = s[end:]
	}
}

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// maxErrorText bounds the text of an error in logs and status.
const maxErrorText = 512

// printable quotes control characters and invalid UTF-8 of s as \xNN and
// cuts it at max bytes.
func printable(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\t') || r == 0x7f {
			clean = false
			break
		}
	}
	if clean && len(s) <= max {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (r < 0x20 && r != '\t') || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
		if b.Len() >= max && i < len(s) {
			fmt.Fprintf(&b, "... (%d bytes more)", len(s)-i)
		}
	}
	return b.String()
}
