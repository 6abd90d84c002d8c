package auth

import (
	"context"
	"errors"
	"time"

	"github.com/camrelay/camrelay/transport/mediamtx"
)

// MediaMTXRefresher is an OnRotate hook: it asks MediaMTX's API to fetch the
// JWKS again (POST /v3/auth/jwks/refresh), because MediaMTX v1.15.3 refetches
// only hourly and not when it meets an unknown kid. The call happens before
// the new key signs, so a client without credentials authenticates with a
// one-minute api token signed by the key MediaMTX already knows (MediaMTX in
// jwt mode checks API calls with tokens too).
func MediaMTXRefresher(c *mediamtx.Client) func(context.Context, *Issuer) error {
	return func(ctx context.Context, is *Issuer) error {
		if c == nil || c.BaseURL == "" {
			return errors.New("auth: no MediaMTX API to refresh")
		}
		cl := *c
		if cl.User == "" && cl.Pass == "" && is != nil {
			tok, _, err := is.Mint(MintRequest{Subject: DefaultPublisherSubject, TTL: min(time.Minute, is.o.MaxTTL),
				Permissions: Permissions{{Action: ActionAPI}}})
			if err != nil {
				return err
			}
			cl.User, cl.Pass = DefaultPublisherSubject, tok
		}
		return cl.RefreshJWKS(ctx)
	}
}
