package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/camrelay/camrelay/transport/mediamtx"
)

// MediaMTXRefresher is an OnRotate hook: it asks MediaMTX's API to fetch the
// JWKS again (POST /v3/auth/jwks/refresh), because MediaMTX v1.15.3 refetches
// only hourly and not when it meets an unknown kid.
//
// A client without credentials authenticates with a one-minute api token
// (MediaMTX in jwt mode checks API calls with tokens too), signed by a key
// MediaMTX knows: during Rotate that is the current key, which still signs;
// when called later (a retry after a failed refresh) MediaMTX may know only
// an older key, so on 401 the older published keys are tried, newest first
// (each 401 costs MediaMTX's 2 s pause).
func MediaMTXRefresher(c *mediamtx.Client) func(context.Context, *Issuer) error {
	return func(ctx context.Context, is *Issuer) error {
		if c == nil || c.BaseURL == "" {
			return errors.New("auth: no MediaMTX API to refresh")
		}
		if c.User != "" || c.Pass != "" || is == nil {
			return c.RefreshJWKS(ctx)
		}
		var err error
		for _, sg := range is.signersNewestFirst() {
			ttl := min(time.Minute, is.o.MaxTTL)
			if !sg.dropAfter.IsZero() {
				ttl = min(ttl, sg.dropAfter.Sub(is.o.Now()).Truncate(time.Second))
			}
			if ttl < time.Second {
				continue
			}
			tok, _, merr := is.mintWith(sg.k, MintRequest{Subject: DefaultPublisherSubject, TTL: ttl,
				Permissions: Permissions{{Action: ActionAPI}}})
			if merr != nil {
				return merr
			}
			cl := *c
			cl.User, cl.Pass = DefaultPublisherSubject, tok
			err = cl.RefreshJWKS(ctx)
			var me *mediamtx.Error
			if err == nil || !errors.As(err, &me) || me.Status != http.StatusUnauthorized {
				return err
			}
		}
		return err
	}
}
