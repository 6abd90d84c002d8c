package relay

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/camrelay/camrelay/relay/auth"
	"github.com/camrelay/camrelay/relay/config"
	"github.com/camrelay/camrelay/transport/mediamtx"
)

// Issuer is the JWT issuer (nil unless auth: is configured and Run started).
func (a *App) Issuer() *auth.Issuer { return a.issuer }

// AuthServer serves the JWKS, tokens, revocation and MediaMTX's callback.
func (a *App) AuthServer() *auth.Server { return a.authSrv }

// AuthKeyFile is where the signing keys of a configuration live.
func AuthKeyFile(c config.Auth) string { return filepath.Join(c.Keys, "jwt-keys.json") }

// AuthDenyFile is where revocations are kept.
func AuthDenyFile(c config.Auth) string { return filepath.Join(c.Keys, "jwt-deny.json") }

// IssuerOptions are the issuer settings of a configuration.
func IssuerOptions(c config.Auth) auth.IssuerOptions {
	return auth.IssuerOptions{
		KeyFile:     AuthKeyFile(c),
		DenyFile:    AuthDenyFile(c),
		Algorithm:   auth.Algorithm(c.Algorithm),
		DefaultTTL:  time.Duration(c.TokenTTL),
		MaxTTL:      time.Duration(c.MaxTTL),
		ClaimKey:    c.ClaimKey,
		RotateEvery: time.Duration(c.RotateEvery),
	}
}

func (a *App) startAuth(cfg *config.Config, mtx *mediamtx.Client) error {
	if err := os.MkdirAll(cfg.Auth.Keys, 0o700); err != nil {
		return fmt.Errorf("auth.keys: %w", err)
	}
	o := IssuerOptions(cfg.Auth)
	o.Logger = a.Log
	if mtx != nil {
		o.OnRotate = auth.MediaMTXRefresher(mtx)
	}
	is, err := auth.NewIssuer(o)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	users, internal, err := authUsers(cfg.Auth)
	if err != nil {
		is.Close()
		return err
	}
	srv, err := auth.NewServer(auth.ServerOptions{Issuer: is, Users: users, InternalUsers: internal,
		JWKSPath: cfg.Auth.JWKSPath, AllowedOrigins: cfg.Auth.AllowedOrigins, Logger: a.Log, Guard: a.LoginGuard()})
	if err != nil {
		is.Close()
		return fmt.Errorf("auth: %w", err)
	}
	is.Start()
	a.issuer, a.authSrv = is, srv
	if cfg.Auth.PublishTokens {
		a.pubTokens = &auth.PublisherTokens{Issuer: is}
	}
	a.Log.Info("auth server on", "algorithm", cfg.Auth.Algorithm, "kid", is.KeyID())
	return nil
}

// authUsers converts the configuration's users for the auth server.
func authUsers(c config.Auth) ([]auth.User, []auth.InternalUser, error) {
	perms := func(ps []config.AuthPermission) auth.Permissions {
		out := make(auth.Permissions, 0, len(ps))
		for _, p := range ps {
			out = append(out, auth.Permission{Action: p.Action, Path: p.Path})
		}
		return out
	}
	var users []auth.User
	for _, u := range c.Users {
		users = append(users, auth.User{Name: u.User, Password: auth.Credential(u.Pass), Permissions: perms(u.Permissions)})
	}
	var internal []auth.InternalUser
	for _, u := range c.Internal {
		iu := auth.InternalUser{Name: u.User, Password: auth.Credential(u.Pass), Permissions: perms(u.Permissions)}
		for _, ip := range u.IPs {
			pfx, err := netip.ParsePrefix(ip)
			if err != nil {
				a, aerr := netip.ParseAddr(ip)
				if aerr != nil {
					return nil, nil, fmt.Errorf("auth.internal %s: ips: %q is not an address or range", u.User, ip)
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			iu.IPs = append(iu.IPs, pfx)
		}
		internal = append(internal, iu)
	}
	return users, internal, nil
}

// LoginGuard is the one guard of password checks that the token endpoint
// and the control API share: a rate limit per client and a bound on
// argon2 checks at once.
func (a *App) LoginGuard() *auth.LoginGuard {
	a.guardOnce.Do(func() { a.guard = auth.NewLoginGuard(auth.RateLimit{}, 0, nil) })
	return a.guard
}
