package config

import (
	"fmt"
	"net/url"
	"strings"
)

// UI configures the status page that camrelay serves at GET / on
// api.listen, behind the API's authentication.
type UI struct {
	// WHEPURL is where a browser plays a camera over WebRTC: MediaMTX's
	// WHEP endpoint, in which {path} is replaced by the camera's path and
	// {host} by the host name the page was loaded from, e.g.
	// http://{host}:8889/{path}/whep. Empty: the page shows snapshots
	// instead of live previews. The URL is given to browsers, so it holds
	// no credentials: when auth.keys is set the page asks camrelay for a
	// short-lived read token of the camera's path.
	WHEPURL string `yaml:"whep_url"`
}

// WHEP is the WHEP endpoint of a path for a page loaded from host, or ""
// when no whep_url is set.
func (u UI) WHEP(host, path string) string {
	if u.WHEPURL == "" {
		return ""
	}
	return strings.NewReplacer("{host}", host, "{path}", path).Replace(u.WHEPURL)
}

func (c *Config) checkUI() []error {
	w := c.UI.WHEPURL
	if w == "" {
		return nil
	}
	bad := func(why string) []error {
		return []error{fmt.Errorf("ui.whep_url: %s (e.g. http://{host}:8889/{path}/whep)", why)}
	}
	if !strings.Contains(w, "{path}") {
		return bad("must contain {path}")
	}
	r := c.UI.WHEP("host", "path")
	if strings.ContainsAny(r, "{}") {
		return bad("only {host} and {path} may be replaced")
	}
	u, err := url.Parse(r)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("must be an http(s) URL")
	case u.User != nil:
		return bad("must not hold credentials: browsers see it")
	case u.Fragment != "":
		return bad("must not have a #fragment")
	case strings.Contains(u.Host, "path"):
		return bad("{path} belongs in the URL's path, not its host")
	}
	return nil
}
