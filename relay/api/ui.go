package api

import (
	"embed"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
)

// The status page: plain HTML, CSS and JavaScript embedded in the binary,
// no build step and nothing fetched from elsewhere, so that it works on an
// edge box without internet. It reads the API like any client (polling
// GET /v1/cameras) and plays previews from MediaMTX over WHEP.
//
//go:embed ui/index.html ui/app.js ui/style.css ui/favicon.svg
var uiFiles embed.FS

// viewerTokenTTL is the life of a preview's read token: long enough to
// start a WHEP session (MediaMTX checks the token only then), short enough
// that a token copied out of the page is soon useless.
const viewerTokenTTL = time.Minute

// viewerSubject is the sub claim of preview tokens.
const viewerSubject = "camrelay-ui"

var uiTypes = map[string]string{
	"app.js":      "text/javascript; charset=utf-8",
	"style.css":   "text/css; charset=utf-8",
	"favicon.svg": "image/svg+xml",
}

// uiRoutes mounts the page, its assets and the viewer-token endpoint,
// all behind the API's authentication.
func (s *Server) uiRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.authed(s.uiIndex))
	mux.HandleFunc("GET /ui/{file}", s.authed(s.uiAsset))
	mux.HandleFunc("POST /v1/cameras/{name...}", s.authed(s.cameraPost))
}

func (s *Server) uiIndex(w http.ResponseWriter, r *http.Request) {
	b, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "status page missing from the binary")
		return
	}
	// Scripts and styles from the page's own files only (no inline code);
	// fetches to the API and to MediaMTX's WHEP endpoint; video from
	// WebRTC streams, pictures from snapshots.
	connect := "'self'"
	if o := whepOrigin(s.App.Config().UI.WHEP(pageHost(r), "x")); o != "" {
		connect += " " + o
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "+
		"media-src 'self' blob: mediastream:; connect-src "+connect+"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

func (s *Server) uiAsset(w http.ResponseWriter, r *http.Request) {
	f := r.PathValue("file")
	ct, ok := uiTypes[f]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file: "+f)
		return
	}
	b, err := uiFiles.ReadFile("ui/" + f)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such file: "+f)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}

// cameraPost is POST /v1/cameras/{name}/viewer-token; the only POST under
// a camera's name.
func (s *Server) cameraPost(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/viewer-token")
	if !ok {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
		return
	}
	s.viewerToken(w, r, name)
}

// viewerAccess is what the page needs to play a camera: MediaMTX's WHEP
// endpoint of the camera's path and, when camrelay issues tokens, a
// short-lived token that may only read that path.
type viewerAccess struct {
	Camera  string     `json:"camera"`
	Path    string     `json:"path"`
	WHEPURL string     `json:"whep_url"` // "" when ui.whep_url is not set: show snapshots
	Token   string     `json:"token,omitempty"`
	Expires *time.Time `json:"expires_at,omitempty"`
}

func (s *Server) viewerToken(w http.ResponseWriter, r *http.Request, name string) {
	cfg := s.App.Config()
	c, ok := cfg.Camera(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", name))
		return
	}
	if !cfg.Local(name) {
		writeError(w, http.StatusConflict, fmt.Sprintf("camera %q is relayed by another instance: watch it there", name))
		return
	}
	path := cfg.Resolved(c).Path
	out := viewerAccess{Camera: name, Path: path, WHEPURL: cfg.UI.WHEP(pageHost(r), path)}
	if is := s.App.Issuer(); is != nil && out.WHEPURL != "" {
		tok, claims, err := is.Mint(auth.MintRequest{Subject: viewerSubject, TTL: viewerTokenTTL,
			Permissions: auth.Permissions{{Action: auth.ActionRead, Path: path}}})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "viewer token: "+err.Error())
			return
		}
		out.Token, out.Expires = tok, &claims.Expiry
	}
	writeJSON(w, http.StatusOK, out)
}

// reHost is what a host name taken from a request may look like before it
// goes into a URL and a header: a DNS name or an IP address.
var reHost = regexp.MustCompile(`^[A-Za-z0-9.\-:]{1,253}$`)

// pageHost is the host name (no port) the browser loaded the page from,
// for {host} in ui.whep_url.
func pageHost(r *http.Request) string {
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if !reHost.MatchString(h) {
		return "localhost"
	}
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// whepOrigin is the scheme://host[:port] of a WHEP URL, for the page's
// connect-src.
func whepOrigin(u string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// cameraWithHistory is GET /v1/cameras/{name}: the camera and its recent
// state changes.
type cameraWithHistory struct {
	relay.CameraView
	History []relay.StateChange `json:"history"`
}
