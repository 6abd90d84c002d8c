package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/internal/testenv/mtxtest"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// These tests run a real MediaMTX v1.15.3 in jwt mode (fetching the JWKS
// from the Server's handler on an httptest server on 127.0.0.1) and in http
// mode (asking the Server's callback), with camsim cameras as its sources,
// transport.RTSPReader as the viewer and ffmpeg as an independent publisher.

const clip = "../../testdata/clips/h264_320x240_25.h264"

var cameras = []string{"camera_one", "camera_two", "camera_three"}

// mtxEnv is one MediaMTX trusting one auth Server.
type mtxEnv struct {
	t   *testing.T
	is  *Issuer
	srv *Server
	ts  *httptest.Server
	sim *camsim.Server
	mtx *mtxtest.Server
}

type envConfig struct {
	mode   string // jwt or http
	issuer IssuerOptions
	server ServerOptions
	extra  string // more MediaMTX configuration
	api    bool
}

func newMTXEnv(t *testing.T, c envConfig) *mtxEnv {
	t.Helper()
	if c.server.Users == nil {
		c.server.Users = []User{
			{Name: "alice", Password: cheapHash(t, "alicepw"), Permissions: readCams},
			{Name: "admin", Password: cheapHash(t, "adminpw"), Permissions: Permissions{{Action: ActionAPI}, {Action: ActionPublish}, {Action: ActionRead}}},
		}
	}
	e := &mtxEnv{t: t, is: newTestIssuer(t, c.issuer)}
	c.server.Issuer = e.is
	var err error
	if e.srv, err = NewServer(c.server); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)

	sim := &camsim.Server{}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	e.sim = sim
	var paths strings.Builder
	for _, cam := range cameras {
		if _, err := sim.AddCamera(camsim.CameraConfig{Path: cam, Clip: clip}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&paths, "%s:\n  source: %s\n  rtspTransport: tcp\n", cam, sim.URL(cam))
	}
	paths.WriteString("all_others:\n")

	// The auth section is what camrelay mediamtx-config renders: loading it
	// here proves MediaMTX takes it.
	m := MediaMTXAuth{Method: c.mode, JWKSURL: e.ts.URL + JWKSWellKnownPath, CallbackURL: e.ts.URL + DefaultCallbackPath}
	section, err := m.YAML()
	if err != nil {
		t.Fatal(err)
	}
	e.mtx = mtxtest.Start(t, mtxtest.Config{Paths: paths.String(), Extra: section + c.extra, API: c.api})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("MediaMTX log (tail):\n%s", tailString(e.mtx.Log(), 4000))
		}
	})
	return e
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// errRefused is a 401 from MediaMTX.
var errRefused = errors.New("refused")

// read plays path with the token as the RTSP password (or as ?jwt= when
// query is set) until a video frame arrives. A 401 is errRefused; a path not
// ready yet is retried.
func (e *mtxEnv) read(path, token string, query bool) error {
	u := e.mtx.RTSPURL(path, "", "")
	if query {
		u += "?jwt=" + url.QueryEscape(token)
	} else if token != "" {
		u = e.mtx.RTSPURL(path, "viewer", token)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := &transport.RTSPReader{URL: u, Timeout: 5 * time.Second}
		err := r.Start(ctx)
		cancel()
		if err == nil {
			for time.Now().Before(deadline) && r.Stats().Frames == 0 {
				time.Sleep(20 * time.Millisecond)
			}
			frames := r.Stats().Frames
			r.Close()
			if frames == 0 {
				return errors.New("no frames")
			}
			return nil
		}
		if strings.Contains(err.Error(), "401") {
			return fmt.Errorf("%w: %v", errRefused, err)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publishURL is the URL to publish path with a token, as ?jwt=: ffmpeg
// (5.1) keeps at most 127 bytes of the credentials in a URL, too few for a
// JWT as the password.
func (e *mtxEnv) publishURL(path, token string) string {
	return e.mtx.RTSPURL(path, "", "") + "?jwt=" + url.QueryEscape(token)
}

// publish sends a second of the clip to rawURL with ffmpeg, an independent
// client.
func (e *mtxEnv) publish(rawURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "h264", "-i", clip, "-t", "1",
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", rawURL).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "401") {
			return fmt.Errorf("%w: %s", errRefused, strings.TrimSpace(string(out)))
		}
		return fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	return nil
}

// tokenFromEndpoint asks POST /v1/token over HTTP.
func (e *mtxEnv) tokenFromEndpoint(body string) string {
	e.t.Helper()
	res, err := http.Post(e.ts.URL+TokenPath, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var tr TokenResponse
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&tr) != nil {
		e.t.Fatalf("token endpoint: %d", res.StatusCode)
	}
	return tr.Token
}

// parallel runs checks at once: every refusal costs 2 s inside MediaMTX
// (its brute-force pause).
func parallel(fs ...func()) {
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	wg.Wait()
}

func wantRead(t *testing.T, what string, err error, ok bool) {
	t.Helper()
	switch {
	case ok && err != nil:
		t.Errorf("%s: refused: %v", what, err)
	case !ok && err == nil:
		t.Errorf("%s: allowed, want refused", what)
	case !ok && !errors.Is(err, errRefused):
		t.Errorf("%s: failed other than by 401: %v", what, err)
	}
}

// checkReadPublish: alice's token (read camera_one and
// camera_two) reads camera_one, not camera_three, and publishes nothing;
// admin's publish token publishes.
func checkReadPublish(t *testing.T, e *mtxEnv) {
	alice := e.tokenFromEndpoint(`{"username":"alice","password":"alicepw"}`)
	admin := e.tokenFromEndpoint(`{"username":"admin","password":"adminpw","permissions":[{"action":"publish","path":"pub_ok"}]}`)
	var errs [7]error
	parallel(
		func() { errs[0] = e.read("camera_one", alice, false) },
		func() { errs[1] = e.read("camera_two", alice, true) }, // ?jwt= in the query
		func() { errs[2] = e.read("camera_three", alice, false) },
		func() { errs[3] = e.read("camera_one", "", false) },
		func() { errs[4] = e.publish(e.publishURL("alice_pub", alice)) },
		func() { errs[5] = e.publish(e.publishURL("pub_ok", admin)) },
		func() { errs[6] = e.publish(e.publishURL("pub_other", admin)) },
	)
	wantRead(t, "alice reads camera_one", errs[0], true)
	wantRead(t, "alice reads camera_two with ?jwt=", errs[1], true)
	wantRead(t, "alice reads camera_three", errs[2], false)
	wantRead(t, "anonymous reads camera_one", errs[3], false)
	wantRead(t, "alice publishes", errs[4], false)
	wantRead(t, "admin publishes pub_ok with a publish token for it", errs[5], true)
	wantRead(t, "admin publishes pub_other with a publish token for pub_ok", errs[6], false)
}

// Reading, publishing and camrelay's own publish tokens in jwt mode, with
// both algorithms: MediaMTX v1.15.3 verifies EdDSA (Ed25519, OKP keys in
// the JWKS) as well as RS256.
func TestMediaMTXJWT(t *testing.T) {
	t.Parallel() // MediaMTX tests mostly wait (2 s per refusal): overlap them
	for _, alg := range []Algorithm{EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			e := newMTXEnv(t, envConfig{mode: "jwt", issuer: IssuerOptions{Algorithm: alg}})
			t.Run("read and publish", func(t *testing.T) { checkReadPublish(t, e) })
			t.Run("refusals", func(t *testing.T) {
				cases := refusals(t, e.is, time.Now(), Permission{Action: ActionRead, Path: "camera_one"})
				errs := make([]error, len(cases))
				var fs []func()
				for i, c := range cases {
					fs = append(fs, func() { errs[i] = e.read("camera_one", c.token, false) })
				}
				parallel(fs...)
				for i, c := range cases {
					if _, err := e.is.Verify(c.token); err == nil {
						t.Errorf("%s: Verify accepts it", c.name)
					}
					wantRead(t, c.name+" (MediaMTX: "+orStr(c.mediamtx, "refuses")+")", errs[i], c.mediamtx == "accepts")
					verdict := "refuses"
					if errs[i] == nil {
						verdict = "accepts"
					}
					t.Logf("MediaMTX jwt mode %s %s; camrelay refuses", verdict, c.name)
				}
			})
			t.Run("publisher tokens", func(t *testing.T) { checkPublisherTokens(t, e, e.sim) })
			// Revocation, jwt side: MediaMTX never sees the deny list, so a
			// revoked token keeps working there until it expires (the
			// exposure the package documentation states).
			t.Run("revocation not seen in jwt mode", func(t *testing.T) {
				tok, _, _ := e.is.Mint(MintRequest{Subject: "alice", Permissions: readCams, TTL: time.Minute})
				if _, err := e.is.RevokeToken(tok); err != nil {
					t.Fatal(err)
				}
				if _, err := e.is.Verify(tok); !errors.Is(err, ErrRevoked) {
					t.Errorf("Verify: %v", err)
				}
				if err := e.read("camera_one", tok, false); err != nil {
					t.Errorf("MediaMTX in jwt mode refuses a revoked token after all (update the docs): %v", err)
				}
			})
		})
	}
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkPublisherTokens: camrelay's own publish path (a
// camsim camera read by transport.RTSPSource into a ring, published by
// transport.RTSPPublisher with the token as the RTSP password): the token
// for cam_a publishes cam_a, and cannot publish cam_b. ffmpeg with ?jwt= does
// the same.
func checkPublisherTokens(t *testing.T, e *mtxEnv, sim *camsim.Server) {
	pt := &PublisherTokens{Issuer: e.is, TTL: time.Minute}
	urlA, err := pt.PublishURL(e.mtx.RTSPURL("cam_a", "relay", "old-password"), "cam_a")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(urlA); u.User.Username() != "relay" || u.Query().Get("jwt") != "" {
		t.Errorf("publish URL does not carry the token as the password")
	}
	tokA, _ := pt.Token("cam_a")
	tokA2, _ := pt.Token("cam_a2")
	reader, _, _ := e.is.Mint(MintRequest{Subject: "viewer", Permissions: Permissions{{Action: ActionRead, Path: "cam_a"}}})
	var errs [4]error
	parallel(
		func() {
			errs[0] = relayPublish(sim.URL("camera_one"), urlA, func() error { return e.read("cam_a", reader, false) })
		},
		func() { errs[1] = relayPublish(sim.URL("camera_one"), e.mtx.RTSPURL("cam_b", "relay", tokA), nil) },
		func() { errs[2] = e.publish(e.publishURL("cam_a2", tokA2)) },
		func() { errs[3] = e.publish(e.publishURL("cam_b2", tokA2)) },
	)
	wantRead(t, "camrelay publishes cam_a with cam_a's token, a viewer reads it", errs[0], true)
	wantRead(t, "camrelay publishes cam_b with cam_a's token", errs[1], false)
	wantRead(t, "ffmpeg publishes cam_a2 with cam_a2's token", errs[2], true)
	wantRead(t, "ffmpeg publishes cam_b2 with cam_a2's token", errs[3], false)
}

// relayPublish runs camrelay's copy path from a camera to dst until the
// publisher's ANNOUNCE is accepted (then runs check, if any, while it
// publishes) or refused.
func relayPublish(src, dst string, check func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rg := ring.New(ring.DefaultSize)
	source := &transport.RTSPSource{URL: src, Transport: "tcp"}
	var st transport.SinkStats
	pub := &transport.RTSPPublisher{URL: dst, Stats: &st}
	rd := rg.NewReader(ring.NextSync)
	srcDone, pubDone := make(chan error, 1), make(chan error, 1)
	go func() { srcDone <- source.Run(ctx, rg) }()
	go func() {
		defer rd.Close()
		pubDone <- pub.Run(ctx, rd)
	}()
	defer func() {
		cancel()
		<-srcDone
		<-pubDone
	}()
	for st.Sessions.Load() == 0 {
		select {
		case err := <-pubDone:
			pubDone <- err
			if err != nil && strings.Contains(err.Error(), "401") {
				return fmt.Errorf("%w: %v", errRefused, err)
			}
			return fmt.Errorf("publisher ended: %v", err)
		case <-ctx.Done():
			return errors.New("publisher did not connect")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if check != nil {
		return check()
	}
	return nil
}

// Reading, publishing and revocation in http mode: the same permissions
// through the callback, and a revoked token refused at the next check.
func TestMediaMTXHTTP(t *testing.T) {
	t.Parallel()
	e := newMTXEnv(t, envConfig{mode: "http", server: ServerOptions{InternalUsers: []InternalUser{
		{Name: "viewer3", Password: "plainpw", Permissions: Permissions{{Action: ActionRead, Path: "camera_three"}}},
	}}})
	t.Run("read and publish", func(t *testing.T) { checkReadPublish(t, e) })
	t.Run("internal user", func(t *testing.T) {
		var errs [2]error
		parallel(
			func() { errs[0] = e.read("camera_three", "", false) },
			func() {
				r := &transport.RTSPReader{URL: e.mtx.RTSPURL("camera_three", "viewer3", "plainpw"), Timeout: 5 * time.Second}
				if errs[1] = r.Start(context.Background()); errs[1] == nil {
					r.Close()
				}
			},
		)
		wantRead(t, "anonymous reads camera_three", errs[0], false)
		wantRead(t, "internal user viewer3 reads camera_three", errs[1], true)
	})
	t.Run("revocation", func(t *testing.T) {
		tok := e.tokenFromEndpoint(`{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_one"}]}`)
		other := e.tokenFromEndpoint(`{"username":"alice","password":"alicepw","permissions":[{"action":"read","path":"camera_one"}]}`)
		if err := e.read("camera_one", tok, false); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
		res, err := http.Post(e.ts.URL+RevokePath, "application/json", strings.NewReader(`{"token":"`+tok+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("revoke: %d", res.StatusCode)
		}
		var errs [2]error
		parallel(
			func() { errs[0] = e.read("camera_one", tok, false) },
			func() { errs[1] = e.read("camera_one", other, false) },
		)
		wantRead(t, "revoked token", errs[0], false)
		wantRead(t, "another token of the same user", errs[1], true)
	})
	t.Run("refusals", func(t *testing.T) {
		// Through the callback camrelay decides alone, so even what
		// MediaMTX's own jwt mode accepts is refused.
		for _, c := range refusals(t, e.is, time.Now(), Permission{Action: ActionRead, Path: "camera_one"}) {
			for _, req := range []MediaMTXRequest{
				{IP: "127.0.0.1", User: "x", Password: c.token, Action: ActionRead, Path: "camera_one", Protocol: "rtsp"},
				{IP: "127.0.0.1", Token: c.token, Action: ActionRead, Path: "camera_one", Protocol: "webrtc"},
				{IP: "127.0.0.1", Query: "jwt=" + url.QueryEscape(c.token), Action: ActionRead, Path: "camera_one", Protocol: "rtsp"},
			} {
				if err := e.srv.Authorize(req); err == nil {
					t.Errorf("%s: the callback allows it", c.name)
				}
			}
		}
		// One through MediaMTX for each kind that MediaMTX's jwt mode
		// would let through.
		var cases []refusalCase
		for _, c := range refusals(t, e.is, time.Now(), Permission{Action: ActionRead, Path: "camera_one"}) {
			if c.mediamtx == "accepts" {
				cases = append(cases, c)
			}
		}
		errs := make([]error, len(cases))
		var fs []func()
		for i, c := range cases {
			fs = append(fs, func() { errs[i] = e.read("camera_one", c.token, false) })
		}
		parallel(fs...)
		for i, c := range cases {
			wantRead(t, c.name+" through the callback", errs[i], false)
		}
	})
}

// Rotation: tokens signed before a rotation keep working until they expire;
// tokens of the new key work once MediaMTX has fetched the JWKS again (it
// does not by itself on an unknown kid); the old key leaves the JWKS after
// the last of its tokens has expired.
func TestMediaMTXRotation(t *testing.T) {
	t.Parallel()
	const ttl = 8 * time.Second
	var hook struct {
		sync.Mutex
		on bool
		mc *mediamtx.Client
	}
	refresher := func(ctx context.Context, is *Issuer) error {
		hook.Lock()
		on, mc := hook.on, hook.mc
		hook.Unlock()
		if !on {
			return nil
		}
		return MediaMTXRefresher(mc)(ctx, is)
	}
	e := newMTXEnv(t, envConfig{mode: "jwt", api: true,
		issuer: IssuerOptions{DefaultTTL: ttl, Leeway: -1, OnRotate: refresher}})
	mc := &mediamtx.Client{BaseURL: e.mtx.APIURL()}
	hook.Lock()
	hook.mc = mc
	hook.Unlock()
	read1 := Permissions{{Action: ActionRead, Path: "camera_one"}}

	oldKid := e.is.KeyID()
	tokOld, cOld, _ := e.is.Mint(MintRequest{Subject: "alice", Permissions: read1})
	if err := e.read("camera_one", tokOld, false); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	// Rotation without the refresh: MediaMTX knows only the old key.
	if err := e.is.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	tokNew, _, _ := e.is.Mint(MintRequest{Subject: "alice", Permissions: read1})
	var errs [2]error
	parallel(
		func() { errs[0] = e.read("camera_one", tokOld, false) },
		func() { errs[1] = e.read("camera_one", tokNew, false) },
	)
	wantRead(t, "old token after rotation", errs[0], true)
	wantRead(t, "new key's token before MediaMTX refreshed (MediaMTX does not refetch on an unknown kid)", errs[1], false)

	// The refresh through MediaMTX's API, authenticated by an api token.
	if err := MediaMTXRefresher(mc)(context.Background(), e.is); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	parallel(
		func() { errs[0] = e.read("camera_one", tokOld, false) },
		func() { errs[1] = e.read("camera_one", tokNew, false) },
	)
	wantRead(t, "old token after the refresh", errs[0], true)
	wantRead(t, "new key's token after the refresh", errs[1], true)

	// A rotation with the hook on: the new key works at once.
	hook.Lock()
	hook.on = true
	hook.Unlock()
	if err := e.is.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	tokNewer, _, _ := e.is.Mint(MintRequest{Subject: "alice", Permissions: read1})
	if err := e.read("camera_one", tokNewer, false); err != nil {
		t.Errorf("token of a key rotated in with the hook: %v", err)
	}

	// Past the old token's expiry: refused, and its key is gone from the
	// JWKS that MediaMTX fetches.
	var oldDrop time.Time
	e.is.mu.RLock()
	for _, k := range e.is.keys {
		if k.kid == oldKid {
			oldDrop = k.dropAfter
		}
	}
	e.is.mu.RUnlock()
	if oldDrop.Before(cOld.Expiry) {
		t.Errorf("old key leaves the JWKS at %v, before its token expires at %v", oldDrop, cOld.Expiry)
	}
	time.Sleep(time.Until(oldDrop) + 100*time.Millisecond)
	if err := e.read("camera_one", tokOld, false); !errors.Is(err, errRefused) {
		t.Errorf("old token after expiry: %v", err)
	}
	res, err := http.Get(e.ts.URL + JWKSWellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []jwk }
	json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	for _, k := range set.Keys {
		if k.Kid == oldKid {
			t.Error("the old key is still in the JWKS after its tokens expired")
		}
	}
	if len(set.Keys) == 0 {
		t.Error("empty JWKS")
	}
}
