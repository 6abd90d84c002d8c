// Package api is camrelay's HTTP control API: cameras (list, get, add,
// replace, delete), their status and snapshots, health, readiness and
// Prometheus metrics. Everything but /healthz and /readyz requires
// authentication: HTTP Basic against api.users (plain, sha256: or argon2:
// as MediaMTX writes them), or a Bearer token when a token checker is set.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
)

// Server serves the API of one App.
type Server struct {
	App *relay.App
	Log *slog.Logger
	// CheckToken, when set, accepts "Authorization: Bearer" tokens; it
	// returns the subject and whether the token grants the API.
	CheckToken func(token string) (string, bool)
	// Extra routes (the auth server's) mounted beside the API's own.
	Extra func(mux *http.ServeMux)
	// Guard rate-limits Basic logins per client and bounds password checks
	// at once; nil means the App's, which the token endpoint shares.
	Guard *auth.LoginGuard

	mux      *http.ServeMux
	registry *prometheus.Registry
	addr     string

	creds   atomic.Pointer[credCache]
	cacheMu sync.Mutex
	cache   map[[32]byte]okLogin // verified Basic credentials, to skip argon2 per request
}

// credCache is the API users of one configuration as a CredentialSet.
type credCache struct {
	cfg *config.Config
	set *auth.CredentialSet
}

// okLogin is a Basic login that passed: good while the user's credential
// is still the one it passed against (a changed or removed user is checked
// again at once) and for loginCacheTTL.
type okLogin struct {
	cred auth.Credential
	at   time.Time
}

const loginCacheTTL = 10 * time.Minute

const maxBody = 1 << 20

// Handler builds the routes.
func (s *Server) Handler() http.Handler {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.cache = map[[32]byte]okLogin{}
	if s.Guard == nil {
		s.Guard = s.App.LoginGuard()
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(&collector{app: s.App}, &fleetCollector{app: s.App}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.authed(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP))
	mux.HandleFunc("GET /v1/cameras", s.authed(s.list))
	mux.HandleFunc("POST /v1/cameras", s.authed(s.add))
	mux.HandleFunc("GET /v1/cameras/{name...}", s.authed(s.cameraGet))
	mux.HandleFunc("PUT /v1/cameras/{name...}", s.authed(s.replace))
	mux.HandleFunc("DELETE /v1/cameras/{name...}", s.authed(s.remove))
	mux.HandleFunc("GET /v1/fleet", s.authed(s.fleetView))
	// Go's profiler, behind the API's authentication: how an operator finds
	// where a busy edge box spends its CPU.
	mux.HandleFunc("GET /debug/pprof/", s.authed(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", s.authed(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", s.authed(pprof.Trace))
	if as := s.App.AuthServer(); as != nil {
		// The auth server's endpoints authenticate on their own terms:
		// public keys, a password exchange, MediaMTX's callback.
		mux.Handle("GET /.well-known/jwks.json", as.JWKSHandler())
		if p := s.App.Config().Auth.JWKSPath; p != "" && p != "/.well-known/jwks.json" {
			mux.Handle("GET "+p, as.JWKSHandler())
		}
		mux.Handle("/v1/token", as.TokenHandler())
		mux.Handle("/v1/token/revoke", as.RevokeHandler())
		mux.Handle("/v1/mediamtx/auth", as.CallbackHandler())
		mux.HandleFunc("POST /v1/keys/rotate", s.authed(s.rotate))
		if s.CheckToken == nil {
			is := s.App.Issuer()
			s.CheckToken = func(tok string) (string, bool) {
				c, err := is.Verify(tok)
				if err != nil {
					return "", false
				}
				return c.Subject, c.Allows("api", "")
			}
		}
	}
	s.uiRoutes(mux) // the status page (ui.go)
	if s.Extra != nil {
		s.Extra(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.mux = mux
	return secure(canonical(mux))
}

// canonical refuses request paths that are not in their clean form
// (/v1/cameras/a/../b, //, /./) instead of letting the mux redirect them
// to the cleaned path: a client that follows a redirect with its method
// would change or delete another camera.
func canonical(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if p != clean {
			writeError(w, http.StatusBadRequest, "the request path has empty, \".\" or \"..\" segments")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// secure adds the headers every answer carries and recovers from panics:
// a bad request never crashes the server.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.Error("api: panic recovered", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// Serve listens on addr and serves until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	s.addr = ln.Addr().String()
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.Log.Info("api listening", "addr", s.addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	<-errc
	return nil
}

// Addr is the address the server listens on (after Serve started).
func (s *Server) Addr() string { return s.addr }

// authed requires Basic credentials of an api user or an accepted token.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.authorize(w, r) {
			h(w, r)
		}
	}
}

// authorize checks a request's credentials. When it returns false it has
// answered: 401, or 429/503 from the login guard. Only a Basic login that
// is not in the cache costs a password check, against the one user it
// names, and passes the guard first: the token endpoint's defences.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	cfg := s.App.Config()
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") && s.CheckToken != nil {
		if _, ok := s.CheckToken(strings.TrimPrefix(a, "Bearer ")); ok {
			return true
		}
		return unauthorized(w)
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		// A loopback-only API without users is open, as the operator chose.
		return len(cfg.API.Users) == 0 || unauthorized(w)
	}
	set := s.credentials(cfg)
	cred, known := set.Credential(user)
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	s.cacheMu.Lock()
	hit, cached := s.cache[key]
	s.cacheMu.Unlock()
	if known && cached && hit.cred == cred && time.Since(hit.at) < loginCacheTTL {
		return true
	}
	if s.Guard.Limited(w, auth.ClientAddr(r)) {
		return false
	}
	if !s.Guard.Acquire(r.Context()) {
		auth.Busy(w)
		return false
	}
	ok = set.Check(user, pass)
	s.Guard.Release()
	if !ok {
		return unauthorized(w)
	}
	s.cacheMu.Lock()
	if len(s.cache) > 1000 {
		clear(s.cache)
	}
	s.cache[key] = okLogin{cred: cred, at: time.Now()}
	s.cacheMu.Unlock()
	return true
}

func unauthorized(w http.ResponseWriter) bool {
	w.Header().Set("WWW-Authenticate", `Basic realm="camrelay", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, "authentication required")
	return false
}

// credentials are the API users of cfg, built once per configuration.
func (s *Server) credentials(cfg *config.Config) *auth.CredentialSet {
	if c := s.creds.Load(); c != nil && c.cfg == cfg {
		return c.set
	}
	users := make(map[string]auth.Credential, len(cfg.API.Users))
	for _, u := range cfg.API.Users {
		users[u.User] = auth.Credential(u.Pass)
	}
	set := auth.NewCredentialSet(users)
	s.creds.Store(&credCache{cfg: cfg, set: set})
	return set
}

// rotate makes a new signing key; MediaMTX is asked to refetch the JWKS.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request) {
	is := s.App.Issuer()
	if err := is.Rotate(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "rotation: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": is.KeyID()})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	problems := s.App.Ready(r.Context())
	if len(problems) == 0 {
		writeJSON(w, http.StatusOK, map[string]any{"ready": true})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "problems": problems})
}

type page struct {
	Items   []relay.CameraView `json:"items"`
	Page    int                `json:"page"`
	PerPage int                `json:"per_page"`
	Total   int                `json:"total"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, err := intParam(q.Get("page"), 1, 1, 1<<20)
	if err != nil {
		writeError(w, http.StatusBadRequest, "page: "+err.Error())
		return
	}
	per, err := intParam(q.Get("per_page"), 100, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "per_page: "+err.Error())
		return
	}
	all := s.App.Cameras()
	start := min((pg-1)*per, len(all))
	end := min(start+per, len(all))
	writeJSON(w, http.StatusOK, page{Items: all[start:end], Page: pg, PerPage: per, Total: len(all)})
}

func intParam(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be a number from %d to %d", lo, hi)
	}
	return n, nil
}

func (s *Server) cameraGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if n, ok := strings.CutSuffix(name, "/snapshot.jpg"); ok {
		s.snapshot(w, r, n)
		return
	}
	if n, ok := strings.CutSuffix(name, "/location"); ok {
		// The location of camera n wins; a camera named "n/location" is
		// still shown when there is no camera n.
		if loc, ok := s.App.Location(n); ok {
			writeJSON(w, http.StatusOK, loc)
			return
		}
		if _, ok := s.App.Camera(name); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", n))
			return
		}
	}
	v, ok := s.App.Camera(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", name))
		return
	}
	writeJSON(w, http.StatusOK, cameraWithHistory{v, s.App.CameraHistory(name)})
}

// snapshot serves a JPEG of a camera's latest picture (every camera:
// transcoding cameras' latest picture, copy cameras' newest keyframe),
// ?width=N scaled down to N pixels wide.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request, name string) {
	width, err := intParam(r.URL.Query().Get("width"), 0, relay.MinSnapshotWidth, relay.MaxSnapshotWidth)
	if err != nil {
		writeError(w, http.StatusBadRequest, "width: "+err.Error())
		return
	}
	jpg, err := s.App.SnapshotWidth(name, width)
	switch {
	case errors.Is(err, relay.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", name))
	case errors.Is(err, relay.ErrSnapshotNeedsLibav):
		writeError(w, http.StatusNotImplemented, err.Error())
	case errors.Is(err, relay.ErrNoSnapshot):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(jpg)))
		w.WriteHeader(http.StatusOK)
		w.Write(jpg)
	}
}

// decodeCamera reads a camera entry: strict JSON, one object, bounded size.
func decodeCamera(w http.ResponseWriter, r *http.Request) (config.Camera, bool) {
	var c config.Camera
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "send the camera as application/json")
		return c, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "invalid camera JSON: "+jsonProblem(err))
		return c, false
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid camera JSON: one object expected")
		return c, false
	}
	return c, true
}

// jsonProblem names the field of a JSON error when there is one.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("%s: must be a %s, not %s", te.Field, te.Type, te.Value)
	case errors.As(err, &mbe):
		return fmt.Sprintf("body larger than %d bytes", mbe.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}

func (s *Server) add(w http.ResponseWriter, r *http.Request) {
	c, ok := decodeCamera(w, r)
	if !ok {
		return
	}
	if err := s.App.AddCamera(r.Context(), c); err != nil {
		s.editError(w, c.Name, err)
		return
	}
	v, _ := s.App.Camera(c.Name)
	w.Header().Set("Location", "/v1/cameras/"+c.Name)
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	c, ok := decodeCamera(w, r)
	if !ok {
		return
	}
	if err := s.App.ReplaceCamera(r.Context(), name, c); err != nil {
		s.editError(w, name, err)
		return
	}
	v, _ := s.App.Camera(name)
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.App.DeleteCamera(r.Context(), name); err != nil {
		s.editError(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) editError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, relay.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", name))
	case errors.Is(err, relay.ErrExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("a camera named %q already exists", name))
	case errors.Is(err, relay.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		s.Log.Error("api: camera change failed", "camera", name, "err", err.Error())
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
