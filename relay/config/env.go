package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// expand replaces ${VAR} in the string settings that may carry secrets or
// site-specific values. In the user:password part of a URL the value is
// percent-encoded, so a password with @, : or / still gives a valid URL.
// $${ stands for a literal ${.
func (c *Config) expand(lookup func(string) (string, bool)) error {
	var errs []string
	do := func(field string, s *string, isURL bool) {
		v, err := expandString(*s, lookup, isURL)
		if err != nil {
			errs = append(errs, field+": "+err.Error())
			return
		}
		*s = v
	}
	do("output", &c.Output, true)
	for i := range c.Outputs {
		do(fmt.Sprintf("outputs[%d]", i), &c.Outputs[i], true)
	}
	for i := range c.API.Users {
		do(fmt.Sprintf("api.users[%d].pass", i), &c.API.Users[i].Pass, false)
	}
	do("mediamtx.api", &c.MediaMTX.API, true)
	do("mediamtx.user", &c.MediaMTX.User, false)
	do("mediamtx.pass", &c.MediaMTX.Pass, false)
	do("serve.user", &c.Serve.User, false)
	do("serve.pass", &c.Serve.Pass, false)
	do("serve.url", &c.Serve.URL, true)
	for i := range c.Auth.Users {
		do(fmt.Sprintf("auth.users[%d].pass", i), &c.Auth.Users[i].Pass, false)
	}
	for i := range c.Auth.Internal {
		do(fmt.Sprintf("auth.internal[%d].pass", i), &c.Auth.Internal[i].Pass, false)
	}
	for i := range c.Shard.ViewerURLs {
		do(fmt.Sprintf("shard.viewer_urls[%d]", i), &c.Shard.ViewerURLs[i], false)
	}
	for i := range c.Fleet.Etcd {
		do(fmt.Sprintf("fleet.etcd[%d]", i), &c.Fleet.Etcd[i], false)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"fleet.prefix", &c.Fleet.Prefix}, {"fleet.user", &c.Fleet.User}, {"fleet.pass", &c.Fleet.Pass}, {"fleet.id", &c.Fleet.ID},
		{"fleet.address", &c.Fleet.Address}, {"fleet.api_url", &c.Fleet.APIURL},
		{"fleet.tls.ca", &c.Fleet.TLS.CA}, {"fleet.tls.cert", &c.Fleet.TLS.Cert}, {"fleet.tls.key", &c.Fleet.TLS.Key}} {
		do(f.name, f.v, false)
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		label := fmt.Sprintf("cameras[%d]", i)
		if cam.Name != "" {
			label = fmt.Sprintf("camera %q", cam.Name)
		}
		do(label+": source", &cam.Source, true)
		do(label+": output", &cam.Output, true)
		for j := range cam.Outputs {
			do(fmt.Sprintf("%s: outputs[%d]", label, j), &cam.Outputs[j], true)
		}
		do(label+": path", &cam.Path, false)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// ExpandString applies ${VAR} expansion to one value, as the loader does for
// URL settings.
func ExpandString(s string, lookup func(string) (string, bool)) (string, error) {
	return expandString(s, lookup, true)
}

func expandString(s string, lookup func(string) (string, bool), isURL bool) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	// The userinfo of a URL runs from "://" to the last "@" before the
	// first "/" that follows it.
	uiStart, uiEnd := -1, -1
	if isURL {
		if i := strings.Index(s, "://"); i >= 0 {
			rest := s[i+3:]
			auth := rest
			if j := strings.Index(rest, "/"); j >= 0 {
				auth = rest[:j]
			}
			if at := strings.LastIndex(auth, "@"); at >= 0 {
				uiStart, uiEnd = i+3, i+3+at
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ at offset %d", i)
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a valid variable name", name)
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		if i >= uiStart && i < uiEnd {
			v = escapeUserinfo(v)
		}
		b.WriteString(v)
		i += end + 1
	}
	return b.String(), nil
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

// escapeUserinfo percent-encodes what may not appear raw in a URL's user or
// password (RFC 3986 userinfo without ':').
func escapeUserinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strings.IndexByte("-._~!$&'()*+,;=", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// CheckLiteral refuses a camera that arrived through the API with a ${ in
// any of its values: only the file an operator wrote is expanded, so that
// nobody with API access can read the process environment through a
// camera's URL or path. The error names the field, never the value.
func (c Camera) CheckLiteral() error {
	var errs []error
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String:
				if strings.Contains(f.String(), "${") {
					errs = append(errs, fmt.Errorf("%s%s: ${...} is expanded only in the configuration file, not in values sent to the API", prefix, name))
				}
			case reflect.Struct:
				walk(prefix+name+".", f)
			case reflect.Slice: // outputs
				if f.Type().Elem().Kind() != reflect.String {
					break
				}
				for j := range f.Len() {
					if strings.Contains(f.Index(j).String(), "${") {
						errs = append(errs, fmt.Errorf("%s%s[%d]: ${...} is expanded only in the configuration file, not in values sent to the API", prefix, name, j))
					}
				}
			}
		}
	}
	walk("", reflect.ValueOf(c))
	return errors.Join(errs...)
}
