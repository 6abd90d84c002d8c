package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Paths of the handlers Server.Handler routes.
const (
	JWKSWellKnownPath   = "/.well-known/jwks.json"
	TokenPath           = "/v1/token"
	RevokePath          = "/v1/token/revoke"
	DefaultCallbackPath = "/v1/mediamtx/auth"
)

// Request body limits: a token request is two short strings and a few
// permissions; a MediaMTX callback carries at most a token and a query.
const (
	maxTokenRequest    = 8 << 10
	maxCallbackRequest = 32 << 10
	// loginWait is how long a token request waits for a password-check
	// slot before it gets 503.
	loginWait = 5 * time.Second
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Issuer signs and verifies; required.
	Issuer *Issuer
	// Users may get tokens from POST /v1/token.
	Users []User
	// InternalUsers are checked by the MediaMTX callback before tokens.
	InternalUsers []InternalUser
	// JWKSPath, when set, serves the JWKS there too (besides
	// /.well-known/jwks.json).
	JWKSPath string
	// JWKSMaxAge is the JWKS's Cache-Control max-age; 0 means 60 s. Keep
	// it short: a verifier that caches the set refuses tokens of a new key
	// until it looks again.
	JWKSMaxAge time.Duration
	// CallbackPath is where Handler serves the MediaMTX callback; empty
	// means /v1/mediamtx/auth.
	CallbackPath string
	// CallbackClients may call the callback (MediaMTX's address); nil means
	// loopback only. Anyone else could use it to test passwords and tokens
	// without the token endpoint's rate limit.
	CallbackClients []netip.Prefix
	// AllowedOrigins are the browser origins (scheme://host[:port]) that may
	// call the token and revoke endpoints. Empty: none. "*" is refused: the
	// endpoints take credentials.
	AllowedOrigins []string
	// Guard limits the token and revoke endpoints per client and bounds
	// password checks at once; nil makes one from RateLimit and
	// MaxConcurrentLogins. Share it with the control API.
	Guard *LoginGuard
	// RateLimit limits the token and revoke endpoints per client.
	RateLimit RateLimit
	// MaxConcurrentLogins bounds password checks running at once (each
	// argon2 check takes its memory parameter, 64 MiB by default); 0 means
	// one per four cores, at least one. Requests beyond wait up to 5 s,
	// then get 503. Ignored when Guard is set.
	MaxConcurrentLogins int
	// ClientIP names the client of a request, for the rate limit and the
	// logs; nil means the address of the connection (set this when a
	// trusted proxy is in front).
	ClientIP func(*http.Request) netip.Addr
	// Logger gets refused logins and revocations (user names and client
	// addresses, never passwords or tokens); nil discards.
	Logger *slog.Logger
}

// Server serves the JWKS, the token and revoke endpoints and the MediaMTX
// HTTP auth callback. Its methods are safe for concurrent use.
type Server struct {
	is       *Issuer
	o        ServerOptions
	log      *slog.Logger
	guard    *LoginGuard
	origins  map[string]bool
	clientIP func(*http.Request) netip.Addr

	users atomic.Pointer[userState]
}

type userState struct {
	db       *userDB
	internal []InternalUser
}

// NewServer checks the options; it starts nothing (serve Handler with an
// http.Server).
func NewServer(o ServerOptions) (*Server, error) {
	if o.Issuer == nil {
		return nil, errors.New("auth: server: no issuer")
	}
	if o.JWKSPath != "" && !strings.HasPrefix(o.JWKSPath, "/") {
		return nil, fmt.Errorf("auth: jwks path %q must start with /", o.JWKSPath)
	}
	if o.CallbackPath == "" {
		o.CallbackPath = DefaultCallbackPath
	}
	if !strings.HasPrefix(o.CallbackPath, "/") {
		return nil, fmt.Errorf("auth: callback path %q must start with /", o.CallbackPath)
	}
	if o.JWKSMaxAge <= 0 {
		o.JWKSMaxAge = time.Minute
	}
	if o.CallbackClients == nil {
		o.CallbackClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	s := &Server{is: o.Issuer, o: o, log: o.Logger, origins: map[string]bool{}, clientIP: o.ClientIP}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clientIP == nil {
		s.clientIP = remoteAddr
	}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" || origin == "null" || !strings.Contains(origin, "://") || strings.HasSuffix(origin, "/") {
			return nil, fmt.Errorf("auth: allowed origin %q: want scheme://host[:port], no wildcard", origin)
		}
		s.origins[origin] = true
	}
	s.guard = o.Guard
	if s.guard == nil {
		s.guard = NewLoginGuard(o.RateLimit, o.MaxConcurrentLogins, o.Issuer.o.Now)
	}
	if err := s.SetUsers(o.Users, o.InternalUsers); err != nil {
		return nil, err
	}
	return s, nil
}

// SetUsers replaces the users (a configuration reload); requests in flight
// finish with the old ones.
func (s *Server) SetUsers(users []User, internal []InternalUser) error {
	db, err := newUserDB(users)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := validateInternalUsers(internal); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	s.users.Store(&userState{db: db, internal: slices.Clone(internal)})
	return nil
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		if h, _, err2 := net.SplitHostPort(r.RemoteAddr); err2 == nil {
			a, _ := netip.ParseAddr(h)
			return a.Unmap()
		}
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Handler routes every endpoint: the JWKS (at /.well-known/jwks.json and
// JWKSPath), POST /v1/token, POST /v1/token/revoke and the callback at
// CallbackPath. Anything else is 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	jwks := s.JWKSHandler()
	mux.Handle(JWKSWellKnownPath, jwks)
	if s.o.JWKSPath != "" && s.o.JWKSPath != JWKSWellKnownPath {
		mux.Handle(s.o.JWKSPath, jwks)
	}
	mux.Handle(TokenPath, s.TokenHandler())
	mux.Handle(RevokePath, s.RevokeHandler())
	mux.Handle(s.o.CallbackPath, s.CallbackHandler())
	return securityHeaders(mux)
}

// securityHeaders marks every answer as data that no browser should render,
// frame, sniff or cache, and asks for HTTPS from then on when it came over
// TLS.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
}

// readBody reads a JSON body of at most limit bytes, answering 415 or 413
// itself.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", limit))
		} else {
			writeError(w, http.StatusBadRequest, "cannot read body")
		}
		return nil, false
	}
	return body, true
}

// JWKSHandler serves the public keys (GET and HEAD), cacheable for
// JWKSMaxAge, with an ETag, readable from any origin (it holds no secret).
func (s *Server) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		body := s.is.JWKS()
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		hd := w.Header()
		hd.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.o.JWKSMaxAge.Seconds())))
		hd.Set("ETag", etag)
		hd.Set("Access-Control-Allow-Origin", "*")
		if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == "*") {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		hd.Set("Content-Type", "application/json")
		hd.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	})
}

// cors answers preflights from allowed origins and refuses requests from
// others. Allowed origins get their own origin back, never "*", and no
// Access-Control-Allow-Credentials: the endpoints read credentials from the
// body or the Authorization header, not from cookies.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (handled bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !s.origins[origin] {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return true
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "POST")
		hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

func (s *Server) limited(w http.ResponseWriter, client netip.Addr) bool {
	return s.guard.Limited(w, client)
}

// TokenRequest is the body of POST /v1/token. Permissions and TTL are
// optional: without them the token carries all of the user's permissions
// for the default lifetime.
type TokenRequest struct {
	Username    string      `json:"username"`
	Password    string      `json:"password"`
	Permissions Permissions `json:"permissions,omitempty"`
	TTL         string      `json:"ttl,omitempty"` // a Go duration: "10m", "90s"
}

// TokenResponse is the answer of POST /v1/token.
type TokenResponse struct {
	Token       string      `json:"token"`
	ExpiresAt   time.Time   `json:"expires_at"`
	Permissions Permissions `json:"permissions"`
}

// ParseTokenRequest reads a token request strictly: exactly the members of
// TokenRequest, username and password required, permissions (when present)
// a non-empty array of objects with exactly action and path.
func ParseTokenRequest(data []byte) (TokenRequest, time.Duration, error) {
	var req TokenRequest
	var ttl time.Duration
	members, err := strictObject(data)
	if err != nil {
		return req, 0, err
	}
	for name, raw := range members {
		switch name {
		case "username", "password", "ttl":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return req, 0, fmt.Errorf("%s must be a string", name)
			}
			switch name {
			case "username":
				req.Username = v
			case "password":
				req.Password = v
			default:
				req.TTL = v
			}
		case "permissions":
			if req.Permissions, err = decodePermissions(raw); err != nil {
				return req, 0, fmt.Errorf("permissions: %v", err)
			}
			if len(req.Permissions) == 0 {
				return req, 0, errors.New("permissions: empty (leave it out for all of yours)")
			}
		default:
			return req, 0, fmt.Errorf("unknown member %q", name)
		}
	}
	if req.Username == "" || req.Password == "" {
		return req, 0, errors.New("username and password are required")
	}
	if len(req.Username) > maxStringClaim || len(req.Password) > 1024 {
		return req, 0, errors.New("username or password too long")
	}
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl < time.Second {
			return req, 0, errors.New(`ttl must be a duration of at least 1s, such as "10m"`)
		}
	}
	return req, ttl, nil
}

// TokenHandler serves POST /v1/token: a username and password for a token
// with the user's permissions, or the subset asked for. Wrong credentials
// (unknown user or wrong password alike, in the same time) get 401; asking
// for more than the user has (permissions, or a lifetime over MaxTTL) gets
// 403; too many requests from one client get 429 with Retry-After.
func (s *Server) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cors(w, r) {
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		client := s.clientIP(r)
		if s.limited(w, client) {
			s.log.Info("auth: token request rate limited", "client", client.String())
			return
		}
		body, ok := readBody(w, r, maxTokenRequest)
		if !ok {
			return
		}
		req, ttl, err := ParseTokenRequest(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad request: "+err.Error())
			return
		}
		if !s.guard.Acquire(r.Context()) {
			Busy(w)
			return
		}
		u, ok := s.users.Load().db.authenticate(req.Username, req.Password)
		s.guard.Release()
		if !ok {
			s.log.Info("auth: token refused: wrong username or password", "user", truncate(req.Username, 64), "client", client.String())
			writeError(w, http.StatusUnauthorized, "wrong username or password")
			return
		}
		perms := u.Permissions
		if req.Permissions != nil {
			if err := u.Permissions.Covers(req.Permissions); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
			perms = req.Permissions
		}
		if ttl > s.is.o.MaxTTL {
			writeError(w, http.StatusForbidden, fmt.Sprintf("ttl over the maximum of %s", s.is.o.MaxTTL))
			return
		}
		tok, c, err := s.is.Mint(MintRequest{Subject: u.Name, Permissions: perms, TTL: ttl})
		if err != nil {
			s.log.Error("auth: mint", "err", err)
			writeError(w, http.StatusInternalServerError, "cannot make a token")
			return
		}
		s.log.Info("auth: token issued", "user", u.Name, "jti", c.ID, "expires", c.Expiry.UTC().Format(time.RFC3339), "client", client.String())
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, TokenResponse{Token: tok, ExpiresAt: c.Expiry.UTC(), Permissions: c.Permissions})
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// RevokeRequest is the body of POST /v1/token/revoke: exactly one member.
type RevokeRequest struct {
	// Token revokes this token. Holding it is authority enough.
	Token string `json:"token,omitempty"`
	// JTI revokes the token with this id; the caller must have the api
	// permission.
	JTI string `json:"jti,omitempty"`
	// User revokes every token of the user issued so far; the caller must
	// be that user or have the api permission.
	User string `json:"user,omitempty"`
}

// RevokeHandler serves POST /v1/token/revoke. For jti and user, the caller
// authenticates with "Authorization: Bearer <token>" (one of ours, not
// revoked) or with Basic credentials of a token user. Answers 200
// {"revoked": ...}, 400, 401, 403 or 429.
func (s *Server) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cors(w, r) {
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		client := s.clientIP(r)
		if s.limited(w, client) {
			return
		}
		body, ok := readBody(w, r, maxTokenRequest)
		if !ok {
			return
		}
		var req RevokeRequest
		if err := strictUnmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "bad request: "+err.Error())
			return
		}
		n := 0
		for _, v := range []string{req.Token, req.JTI, req.User} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			writeError(w, http.StatusBadRequest, "bad request: give exactly one of token, jti, user")
			return
		}
		if req.Token != "" {
			c, err := s.is.RevokeToken(req.Token)
			if err != nil {
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrClaims) {
					writeError(w, http.StatusBadRequest, "bad token")
				} else if errors.Is(err, ErrSignature) || errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrAlgorithm) {
					writeError(w, http.StatusUnauthorized, "not one of our tokens")
				} else {
					s.log.Error("auth: revoke", "err", err)
					writeError(w, http.StatusInternalServerError, "revocation not saved")
				}
				return
			}
			s.log.Info("auth: token revoked", "jti", c.ID, "user", c.Subject, "client", client.String())
			writeJSON(w, http.StatusOK, map[string]string{"revoked": "token", "jti": c.ID})
			return
		}
		who, perms, ok := s.caller(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="camrelay"`)
			writeError(w, http.StatusUnauthorized, "authentication required")
			return
		}
		admin := perms.Allows(ActionAPI, "")
		var err error
		switch {
		case req.JTI != "" && admin:
			err = s.is.RevokeID(req.JTI)
		case req.User != "" && (admin || req.User == who):
			err = s.is.RevokeUser(req.User)
		default:
			writeError(w, http.StatusForbidden, "needs the api permission")
			return
		}
		if err != nil {
			s.log.Error("auth: revoke", "err", err)
			writeError(w, http.StatusInternalServerError, "revocation not saved")
			return
		}
		s.log.Info("auth: revoked", "jti", req.JTI, "user", req.User, "by", who, "client", client.String())
		if req.JTI != "" {
			writeJSON(w, http.StatusOK, map[string]string{"revoked": "jti", "jti": req.JTI})
		} else {
			writeJSON(w, http.StatusOK, map[string]string{"revoked": "user", "user": req.User})
		}
	})
}

// caller authenticates the Authorization header: a Bearer token of ours, or
// Basic credentials of a token user.
func (s *Server) caller(r *http.Request) (string, Permissions, bool) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		c, err := s.is.Verify(strings.TrimSpace(tok))
		if err != nil {
			return "", nil, false
		}
		return c.Subject, c.Permissions, true
	}
	if user, pass, ok := r.BasicAuth(); ok {
		if !s.guard.Acquire(r.Context()) {
			return "", nil, false
		}
		u, ok := s.users.Load().db.authenticate(user, pass)
		s.guard.Release()
		if ok {
			return u.Name, u.Permissions, true
		}
	}
	return "", nil, false
}
