// Package auth holds camrelay's credentials and tokens: password hashes in
// the formats MediaMTX writes (Credential: plain, sha256:, argon2:), and the
// JWT issuer that MediaMTX trusts, with its JWKS, token endpoint,
// revocation, and MediaMTX's HTTP auth callback.
//
// # Pieces
//
//   - Issuer signs and verifies tokens and owns the signing keys (a key
//     file) and the deny list (a file). Mint is the trusted API (the
//     command line, camrelay itself); Verify is strict (below). The command
//     line opens the key file of a running camrelay with
//     IssuerOptions.ReadOnly and checks what it mints with Grant.
//   - Server serves, through Handler or one handler each:
//     GET /.well-known/jwks.json (and ServerOptions.JWKSPath),
//     POST /v1/token, POST /v1/token/revoke, and MediaMTX's callback at
//     /v1/mediamtx/auth. Serve it with an http.Server; TLSConfig builds the
//     TLS side from certificate and key files.
//   - PublisherTokens gives camrelay's own publishers one token per camera
//     path (publish on that path only, 10 minutes, renewed at two thirds).
//   - MediaMTXAuth renders the auth section of mediamtx.yml for jwt or http
//     mode; MediaMTXRefresher is the OnRotate hook that makes MediaMTX fetch
//     the JWKS again.
//
// Wiring, in short:
//
//	is, _ := auth.NewIssuer(auth.IssuerOptions{KeyFile: ".../jwt-keys.json", DenyFile: ".../jwt-deny.json",
//		OnRotate: auth.MediaMTXRefresher(&mediamtx.Client{BaseURL: "http://127.0.0.1:9997"})})
//	is.Start()      // OnRotate for a new key, pruning, scheduled rotation
//	defer is.Close()
//	srv, _ := auth.NewServer(auth.ServerOptions{Issuer: is, Users: users})
//	http.ListenAndServe("127.0.0.1:8990", srv.Handler())
//
// # Tokens
//
// A token is a compact JWS with the header {"alg","kid","typ":"JWT"} and
// exactly the claims sub, iat, nbf, exp (whole seconds), jti (128 random
// bits) and the permission claim (ClaimKey, default mediamtx_permissions),
// an array of {"action","path"} as MediaMTX reads it. Actions are publish,
// read, playback, api and metrics; a path is an exact name, "~regexp"
// (matched unanchored, as MediaMTX does) or empty for any path.
//
// Keys are EdDSA (Ed25519, the default) or RS256 (RSA 2048 bits or more).
// The kid is the key's RFC 7638 thumbprint. An EdDSA token with two
// permissions is about 450 bytes (RS256: about 700): short enough to be an
// RTSP password, whose header MediaMTX caps at 2048 bytes. PublishURL puts
// a token longer than 1024 bytes in ?jwt= instead. ffmpeg (5.1) keeps only
// 127 bytes of a URL's credentials, so ffmpeg clients must use ?jwt=.
//
// Tokens are signed, and their signatures and exp/nbf checked, by
// github.com/golang-jwt/jwt/v5 (what MediaMTX verifies with); camrelay's
// own checks on the header and claims run around it. Verify accepts a
// token only if: it is at most 8 KiB; three parts of
// unpadded base64url; the header has alg, kid and optionally typ "JWT" and
// nothing else; alg is the algorithm of the published key kid names (never
// none, never HS*); the signature verifies; the claims are exactly those
// above, each of its type, without duplicate members; the permission claim
// is an array (not a string) of objects with exactly a known action and a
// path, both strings; exp and nbf hold with IssuerOptions.Leeway (default
// 10 s); iat is not in the future (by more than the leeway, at least 1 s);
// the token is not revoked.
//
// # Endpoints
//
// POST /v1/token takes {"username","password"} and optionally
// "permissions" (a non-empty subset of the user's) and "ttl" (a Go
// duration, at most MaxTTL), and answers {"token","expires_at",
// "permissions"}. Wrong credentials get 401; asking for more than the user
// has gets 403; a bad body 400, 413 or 415. Users need argon2 hashes; an
// unknown user is checked against a dummy hash with the parameters most
// users have, so that both take the same time. Per client address (IPv6 by
// /64) a token bucket (golang.org/x/time/rate: 10, then one per 6 s)
// answers 429 with Retry-After; the limiter tracks at most 10000 clients. At most GOMAXPROCS password
// checks run at once (503 after 5 s of waiting). Browsers may call from
// AllowedOrigins only (their origin echoed, never "*", no credentials
// mode). Every answer carries nosniff, DENY framing, a none CSP, no-referrer,
// no-store, and HSTS over TLS.
//
// POST /v1/token/revoke takes exactly one of {"token"} (holding the token is
// enough), {"jti"} (the caller needs the api permission) or {"user"} (the
// user themself or the api permission); the caller authenticates with
// "Authorization: Bearer" (one of our tokens) or Basic (a token user).
//
// The callback answers MediaMTX's POST {ip,user,password,token,action,path,
// protocol,id,query} with 200 or 401 (a short reason MediaMTX logs, never
// the credentials), from memory only: first the internal users
// (InternalUser: name, Credential, IP ranges, permissions; "any" as in
// MediaMTX), then a token from token, from a password shaped like a JWT, or
// from ?jwt= in query, verified, checked against the deny list and the
// permissions. Only CallbackClients (default loopback) may call it.
//
// # Files
//
// The key file (IssuerOptions.KeyFile) is JSON, mode 0600 (refused when
// group or others may read it), written atomically:
//
//	{"version": 1, "keys": [{"kid": "<RFC 7638 thumbprint>", "alg": "EdDSA",
//	  "created": "<RFC 3339>", "activated": "...", "retired": "...", "drop_after": "...",
//	  "pkcs8": "<base64 of the PKCS #8 DER private key>"}]}
//
// The current key has no "retired"; a retired key is kept (and published)
// until "drop_after" = retired + MaxTTL + leeway, when every token it signed
// has expired; then Prune (every minute after Start) removes it. A key
// published by a rotation that did not finish has no "activated". Nothing
// from this file is ever logged.
//
// The deny list (IssuerOptions.DenyFile) is JSON, mode 0600, rewritten
// atomically on every revocation before it is acknowledged:
//
//	{"version": 1, "tokens": [{"jti": "...", "until": "<RFC 3339>"}],
//	 "users": [{"user": "...", "before": "<RFC 3339>", "until": "<RFC 3339>"}]}
//
// A token entry lasts until the token's exp (revoked by token) or, when
// the expiry is unknown (revoked by jti), for the longest lifetime a token
// can have, MaxTTL; a user entry refuses the user's tokens issued before
// "before" for as long. Verify refuses every token whose lifetime (exp -
// iat) exceeds MaxTTL, so lowering MaxTTL cannot bring a revoked token
// back. Raising it again can, for tokens revoked by jti or user more than
// the lower MaxTTL ago that were minted under the higher one: revoke such
// tokens by token, which keeps their exp. Expired entries are pruned.
//
// # Rotation
//
// Rotate publishes a new key in the JWKS, calls OnRotate, then makes the
// new key sign and retires the old one. MediaMTX v1.15.3 does not fetch the
// JWKS when it meets an unknown kid (only hourly, or on POST
// /v3/auth/jwks/refresh), so without the refresh it refuses tokens of the
// new key; MediaMTXRefresher sends that request, authenticated with an api
// token signed by a key MediaMTX already knows. IssuerOptions.RotateEvery
// rotates on a schedule; changing IssuerOptions.Algorithm rotates at the
// next start.
//
// # Revocation and MediaMTX's modes
//
// In http mode (authMethod: http) MediaMTX asks the callback for every new
// session, so a revoked token is refused at its next use. In jwt mode
// (authMethod: jwt) MediaMTX verifies tokens itself and never sees the deny
// list: a revoked token stays usable against MediaMTX until it expires,
// that is for at most its lifetime (MaxTTL, one hour by default; keep it
// short where revocation matters). In both modes MediaMTX checks only when a
// session starts: a session already open continues after revocation until
// it ends or is kicked through MediaMTX's API.
//
// # What MediaMTX v1.15.3 does (found by the tests in this package)
//
//   - It accepts EdDSA tokens (OKP Ed25519 keys in the JWKS) as well as
//     RS256, over RTSP (password or ?jwt=) and WHEP (Authorization: Bearer).
//   - It refuses: expired and not-yet-valid tokens, unknown kids, alg none,
//     HS256 signed with the public key, an alg that does not match the JWK's,
//     tampered payloads, a permission object with a field besides action and
//     path (it decodes the claim with unknown fields disallowed), unknown
//     actions, and a claim that is not an array.
//   - It accepts what camrelay's Verify and callback refuse: extra top-level
//     claims, the permission claim as a JSON string holding the array,
//     duplicate claim names (the last wins), a missing exp, exp as a string,
//     iat in the future, unknown header members such as jku, and a token
//     without kid when the JWKS holds a single key. camrelay never mints
//     such tokens; in http mode they are refused.
//   - A refused WHEP offer gets 400 {"error":"authentication failed: ..."}
//     rather than 401, and without the 2 s pause other protocols apply.
//   - In http mode its default authHTTPExclude lets api, metrics and pprof
//     through unchecked; MediaMTXAuth writes an explicit list (empty unless
//     Exclude says otherwise).
package auth
