package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// MediaMTXRequest is what MediaMTX v1.15.3 POSTs to authHTTPAddress
// (internal/auth/manager.go authenticateHTTP). Token is the bearer token of
// HTTP-based protocols; RTSP and RTMP clients send user and password; Query
// is the request's query string (where ?jwt= travels).
type MediaMTXRequest struct {
	IP       string  `json:"ip"`
	User     string  `json:"user"`
	Password string  `json:"password"`
	Token    string  `json:"token"`
	Action   string  `json:"action"`
	Path     string  `json:"path"`
	Protocol string  `json:"protocol"`
	ID       *string `json:"id"`
	Query    string  `json:"query"`
}

// ParseMediaMTXRequest reads a callback body: one JSON object, no duplicate
// members, the known members with their types. Unknown members are ignored
// so that a newer MediaMTX that sends more still works.
func ParseMediaMTXRequest(data []byte) (MediaMTXRequest, error) {
	var req MediaMTXRequest
	members, err := strictObject(data)
	if err != nil {
		return req, err
	}
	fields := map[string]*string{
		"ip": &req.IP, "user": &req.User, "password": &req.Password, "token": &req.Token,
		"action": &req.Action, "path": &req.Path, "protocol": &req.Protocol, "query": &req.Query,
	}
	for name, raw := range members {
		if name == "id" {
			if err := json.Unmarshal(raw, &req.ID); err != nil {
				return req, errors.New("id must be a string or null")
			}
			continue
		}
		dst := fields[name]
		if dst == nil {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return req, fmt.Errorf("%s must be a string", name)
		}
	}
	if req.Action == "" {
		return req, errors.New("no action")
	}
	return req, nil
}

// errDenied is the answer when nothing matched; the wrapped reasons stay in
// camrelay's debug log.
var errDenied = errors.New("denied")

// Authorize decides a MediaMTX request the way MediaMTX's internal users
// would, then by token: an internal user whose IPs, permissions and
// credentials match allows it; otherwise a token (the bearer token, else a
// password that has the form of a JWT, else ?jwt= in the query) must verify,
// not be revoked, and allow the action on the path. It makes no network
// call and reads only memory.
func (s *Server) Authorize(req MediaMTXRequest) error {
	if !knownAction(req.Action) {
		return fmt.Errorf("%w: action %q is never granted", errDenied, req.Action)
	}
	ip, _ := netip.ParseAddr(req.IP)
	ip = ip.Unmap()
	for _, u := range s.users.Load().internal {
		if len(u.IPs) > 0 && !prefixesContain(u.IPs, ip) {
			continue
		}
		if !u.Permissions.Allows(req.Action, req.Path) {
			continue
		}
		if u.Name == "any" || (u.Name == req.User && u.Password.Check(req.Password)) {
			return nil
		}
	}
	tok := req.Token
	if tok == "" && looksLikeJWT(req.Password) {
		tok = req.Password
	}
	if tok == "" && req.Query != "" {
		if v, err := url.ParseQuery(req.Query); err == nil && len(v["jwt"]) == 1 {
			tok = v["jwt"][0]
		}
	}
	if tok == "" {
		return fmt.Errorf("%w: no matching internal user and no token", errDenied)
	}
	c, err := s.is.Verify(tok)
	if err != nil {
		return fmt.Errorf("%w: %w", errDenied, err)
	}
	if !c.Allows(req.Action, req.Path) {
		return fmt.Errorf("%w: token of %q does not allow %s on %q", errDenied, c.Subject, req.Action, req.Path)
	}
	return nil
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// looksLikeJWT: three non-empty dot-separated parts, the first the base64
// of a JSON object ("eyJ" is `{"`).
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && !strings.Contains(s, "..") &&
		!strings.HasSuffix(s, ".")
}

// CallbackHandler serves MediaMTX's HTTP auth callback (authMethod: http,
// authHTTPAddress pointing here): 200 allows, 401 refuses with a short JSON
// reason (MediaMTX logs it). Only CallbackClients may call it (403 for
// others).
func (s *Server) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		if !prefixesContain(s.o.CallbackClients, remoteAddr(r)) {
			writeError(w, http.StatusForbidden, "not allowed to call the auth callback")
			return
		}
		body, ok := readBody(w, r, maxCallbackRequest)
		if !ok {
			return
		}
		req, err := ParseMediaMTXRequest(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad request: "+err.Error())
			return
		}
		if err := s.Authorize(req); err != nil {
			// Debug: MediaMTX asks without credentials first, so refusals
			// are routine.
			s.log.Debug("auth: mediamtx request refused", "action", req.Action, "path", req.Path,
				"protocol", req.Protocol, "ip", req.IP, "user", truncate(req.User, 64), "reason", err)
			writeError(w, http.StatusUnauthorized, reason(err))
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// reason is what MediaMTX gets to log: the kind of failure, nothing about
// the credentials.
func reason(err error) string {
	for _, e := range []error{ErrExpired, ErrRevoked, ErrNotYetValid, ErrUnknownKey, ErrAlgorithm, ErrSignature, ErrClaims, ErrMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "unauthorized"
}
