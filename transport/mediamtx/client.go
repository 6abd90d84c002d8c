// Package mediamtx is a typed client for MediaMTX's control API (v3): path
// configuration (list, get, add, patch, replace, delete), runtime paths,
// RTSP sessions, and the JWKS refresh. It is what camrelay provisions direct
// and on-demand cameras with and reads viewer counts from.
package mediamtx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one MediaMTX API. The zero value is not usable: set
// BaseURL.
type Client struct {
	// BaseURL is e.g. http://127.0.0.1:9997.
	BaseURL string
	// User and Pass authenticate with HTTP Basic (MediaMTX internal users
	// with the api action); empty means anonymous.
	User, Pass string
	// HTTPClient defaults to one with a 10 s timeout.
	HTTPClient *http.Client
}

// Error is an answer other than 2xx.
type Error struct {
	Status  int
	Message string // MediaMTX's {"error": ...}
	Op      string
}

func (e *Error) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("mediamtx api %s: %d %s: %s", e.Op, e.Status, http.StatusText(e.Status), e.Message)
	}
	return fmt.Sprintf("mediamtx api %s: %d %s", e.Op, e.Status, http.StatusText(e.Status))
}

// IsNotFound reports a 404 from the API.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Pass)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTP
	}
	op := method + " " + path
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("mediamtx api %s: %w", op, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("mediamtx api %s: %w", op, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return &Error{Status: res.StatusCode, Message: e.Error, Op: op}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("mediamtx api %s: %w", op, err)
		}
	}
	return nil
}

// PathConf is the part of a MediaMTX path configuration camrelay manages.
// Fields left at their zero value are not sent (pointer fields), so MediaMTX
// keeps its defaults for them.
type PathConf struct {
	Name                       string         `json:"name,omitempty"`
	Source                     string         `json:"source,omitempty"`
	SourceOnDemand             *bool          `json:"sourceOnDemand,omitempty"`
	SourceOnDemandStartTimeout string         `json:"sourceOnDemandStartTimeout,omitempty"`
	SourceOnDemandCloseAfter   string         `json:"sourceOnDemandCloseAfter,omitempty"`
	RTSPTransport              string         `json:"rtspTransport,omitempty"`
	MaxReaders                 *int           `json:"maxReaders,omitempty"`
	Record                     *bool          `json:"record,omitempty"`
	Extra                      map[string]any `json:"-"`
}

// MarshalJSON merges Extra in, for settings this type does not name.
func (p PathConf) MarshalJSON() ([]byte, error) {
	type plain PathConf
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extra) == 0 {
		return b, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.Extra {
		if _, set := m[k]; !set {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// page walks a paged list endpoint.
func page[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	for p := 0; ; p++ {
		var res struct {
			PageCount int `json:"pageCount"`
			Items     []T `json:"items"`
		}
		q := url.Values{"page": {strconv.Itoa(p)}, "itemsPerPage": {"1000"}}
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Items...)
		if p+1 >= res.PageCount {
			return all, nil
		}
	}
}

func escapeName(name string) string {
	// Path names may contain slashes; MediaMTX routes them with a wildcard.
	parts := strings.Split(name, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// ConfigPaths lists every configured path (raw JSON objects, all fields).
func (c *Client) ConfigPaths(ctx context.Context) ([]map[string]any, error) {
	return page[map[string]any](ctx, c, "/v3/config/paths/list")
}

// ConfigPath gets one configured path (all fields).
func (c *Client) ConfigPath(ctx context.Context, name string) (map[string]any, error) {
	var out map[string]any
	err := c.do(ctx, http.MethodGet, "/v3/config/paths/get/"+escapeName(name), nil, &out)
	return out, err
}

// AddPath creates a path configuration.
func (c *Client) AddPath(ctx context.Context, name string, p PathConf) error {
	return c.do(ctx, http.MethodPost, "/v3/config/paths/add/"+escapeName(name), p, nil)
}

// PatchPath changes the given fields of a path configuration.
func (c *Client) PatchPath(ctx context.Context, name string, p PathConf) error {
	return c.do(ctx, http.MethodPatch, "/v3/config/paths/patch/"+escapeName(name), p, nil)
}

// ReplacePath replaces a path configuration whole.
func (c *Client) ReplacePath(ctx context.Context, name string, p PathConf) error {
	return c.do(ctx, http.MethodPost, "/v3/config/paths/replace/"+escapeName(name), p, nil)
}

// DeletePath removes a path configuration.
func (c *Client) DeletePath(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v3/config/paths/delete/"+escapeName(name), nil, nil)
}

// Path is a path at runtime.
type Path struct {
	Name     string `json:"name"`
	ConfName string `json:"confName"`
	Source   *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"source"`
	Ready         bool       `json:"ready"`
	ReadyTime     *time.Time `json:"readyTime"`
	Tracks        []string   `json:"tracks"`
	BytesReceived uint64     `json:"bytesReceived"`
	BytesSent     uint64     `json:"bytesSent"`
	Readers       []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"readers"`
}

// Paths lists the paths that exist at runtime.
func (c *Client) Paths(ctx context.Context) ([]Path, error) {
	return page[Path](ctx, c, "/v3/paths/list")
}

// Path gets one runtime path.
func (c *Client) Path(ctx context.Context, name string) (Path, error) {
	var out Path
	err := c.do(ctx, http.MethodGet, "/v3/paths/get/"+escapeName(name), nil, &out)
	return out, err
}

// RTSPSession is a session of MediaMTX's RTSP server.
type RTSPSession struct {
	ID            string    `json:"id"`
	Created       time.Time `json:"created"`
	RemoteAddr    string    `json:"remoteAddr"`
	State         string    `json:"state"` // idle, read, publish
	Path          string    `json:"path"`
	Transport     *string   `json:"transport"`
	BytesReceived uint64    `json:"bytesReceived"`
	BytesSent     uint64    `json:"bytesSent"`
}

// RTSPSessions lists the RTSP sessions.
func (c *Client) RTSPSessions(ctx context.Context) ([]RTSPSession, error) {
	return page[RTSPSession](ctx, c, "/v3/rtspsessions/list")
}

// KickRTSPSession closes an RTSP session.
func (c *Client) KickRTSPSession(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v3/rtspsessions/kick/"+url.PathEscape(id), nil, nil)
}

// RefreshJWKS makes MediaMTX fetch its JWKS again (it does not refetch by
// itself when it meets an unknown key id).
func (c *Client) RefreshJWKS(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v3/auth/jwks/refresh", nil, nil)
}
