package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/camrelay/camrelay/relay"
	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

func loadAuthConfig(path string, stderr io.Writer, cmd string) (*config.Config, bool) {
	cfg, err := config.Load(path, relay.Caps())
	if err != nil {
		fmt.Fprintf(stderr, "camrelay %s: %v\n", cmd, err)
		return nil, false
	}
	if !cfg.Auth.Enabled() {
		fmt.Fprintf(stderr, "camrelay %s: %s has no auth: section (auth.keys)\n", cmd, path)
		return nil, false
	}
	return cfg, true
}

// cmdToken mints a token with the keys of a (possibly running) camrelay: an
// operator who can read the key file is trusted. The permissions must be
// the user's, or a subset of them.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "camrelay.yml", "configuration file")
	user := fs.String("user", "", "a user of auth.users (required)")
	ttl := fs.Duration("ttl", 0, "lifetime (default auth.token_ttl, at most auth.max_ttl)")
	var read, publish, playback listFlag
	fs.Var(&read, "read", "paths to read (repeatable, comma-separated)")
	fs.Var(&publish, "publish", "paths to publish")
	fs.Var(&playback, "playback", "paths to play back")
	apiPerm := fs.Bool("api", false, "include the api permission")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: camrelay token -c FILE --user U [--read cam1,cam2] [--publish cam] [--playback cam] [--api] [--ttl 10m]")
		return 2
	}
	cfg, ok := loadAuthConfig(*path, stderr, "token")
	if !ok {
		return 1
	}
	var req auth.Permissions
	for action, paths := range map[string][]string{"read": read, "publish": publish, "playback": playback} {
		for _, p := range paths {
			req = append(req, auth.Permission{Action: action, Path: p})
		}
	}
	if *apiPerm {
		req = append(req, auth.Permission{Action: "api"})
	}
	users, _, err := relayAuthUsers(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay token: %v\n", err)
		return 1
	}
	perms, err := auth.Grant(users, *user, req)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay token: %v\n", err)
		return 1
	}
	o := relay.IssuerOptions(cfg.Auth)
	o.ReadOnly = true
	is, err := auth.NewIssuer(o)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay token: %v\n", err)
		return 1
	}
	defer is.Close()
	tok, claims, err := is.Mint(auth.MintRequest{Subject: *user, Permissions: perms, TTL: *ttl})
	if err != nil {
		fmt.Fprintf(stderr, "camrelay token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "token for %s, expires %s, permissions %v\n", *user, claims.Expiry.Format(time.RFC3339), perms)
	return 0
}

func relayAuthUsers(cfg *config.Config) ([]auth.User, []auth.InternalUser, error) {
	var users []auth.User
	for _, u := range cfg.Auth.Users {
		var perms auth.Permissions
		for _, p := range u.Permissions {
			perms = append(perms, auth.Permission{Action: p.Action, Path: p.Path})
		}
		users = append(users, auth.User{Name: u.User, Password: auth.Credential(u.Pass), Permissions: perms})
	}
	return users, nil, nil
}

// cmdKeys rotates the signing key: through the running camrelay's API when
// it answers (it then asks MediaMTX to refetch the JWKS), else in the key
// file directly.
func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: camrelay keys rotate -c FILE")
		return 2
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "camrelay.yml", "configuration file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, ok := loadAuthConfig(*path, stderr, "keys rotate")
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if kid, err := rotateThroughAPI(ctx, cfg); err == nil {
		fmt.Fprintf(stdout, "rotated by the running camrelay: new key %s\n", kid)
		return 0
	} else if !isUnreachable(err) {
		fmt.Fprintf(stderr, "camrelay keys rotate: %v\n", err)
		return 1
	}
	o := relay.IssuerOptions(cfg.Auth)
	if cfg.MediaMTX.API != "" {
		o.OnRotate = auth.MediaMTXRefresher(&mediamtx.Client{BaseURL: cfg.MediaMTX.API, User: cfg.MediaMTX.User, Pass: cfg.MediaMTX.Pass})
	}
	is, err := auth.NewIssuer(o)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay keys rotate: %v\n", err)
		return 1
	}
	defer is.Close()
	if err := is.Rotate(ctx); err != nil {
		fmt.Fprintf(stderr, "camrelay keys rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rotated in %s (camrelay was not running): new key %s\n", relay.AuthKeyFile(cfg.Auth), is.KeyID())
	return 0
}

type unreachable struct{ error }

func isUnreachable(err error) bool { _, ok := err.(unreachable); return ok }

// rotateThroughAPI asks the running camrelay to rotate, with an api token
// minted from the key file (reading it is what makes the caller an
// operator).
func rotateThroughAPI(ctx context.Context, cfg *config.Config) (string, error) {
	if cfg.API.Listen == "off" {
		return "", unreachable{fmt.Errorf("api off")}
	}
	o := relay.IssuerOptions(cfg.Auth)
	o.ReadOnly = true
	is, err := auth.NewIssuer(o)
	if err != nil {
		return "", unreachable{err}
	}
	defer is.Close()
	tok, _, err := is.Mint(auth.MintRequest{Subject: "camrelay-keys", Permissions: auth.Permissions{{Action: "api"}}, TTL: time.Minute})
	if err != nil {
		return "", unreachable{err}
	}
	scheme := "http"
	if cfg.Auth.TLS.Cert != "" {
		scheme = "https"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+cfg.API.Listen+"/v1/keys/rotate", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		// The API's own certificate may be self-signed; the token, not
		// the certificate, is what is protected here (it expires in a
		// minute and only grants api).
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := hc.Do(req)
	if err != nil {
		return "", unreachable{err}
	}
	defer res.Body.Close()
	var out struct{ KID, Error string }
	json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&out)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the running camrelay refused: %d %s", res.StatusCode, out.Error)
	}
	return out.KID, nil
}

// mediamtxAuthSection renders the jwt or http auth section.
func mediamtxAuthSection(cfg *config.Config, mode, apiURL string) (string, error) {
	if !cfg.Auth.Enabled() {
		return "", fmt.Errorf("--auth %s needs an auth: section in the configuration", mode)
	}
	if apiURL == "" {
		scheme := "http"
		if cfg.Auth.TLS.Cert != "" {
			scheme = "https"
		}
		apiURL = scheme + "://" + cfg.API.Listen
	}
	m := auth.MediaMTXAuth{Method: mode, ClaimKey: cfg.Auth.ClaimKey,
		JWKSURL: apiURL + "/.well-known/jwks.json", CallbackURL: apiURL + "/v1/mediamtx/auth"}
	return m.YAML()
}
