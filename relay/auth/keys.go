package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"

	"github.com/camrelay/camrelay/relay/internal/atomicfile"
)

// Algorithm is a JWS signing algorithm camrelay signs and accepts. There is
// no "none" and no HS*: a key has exactly one algorithm, and a token is
// verified only with the algorithm of the key its kid names.
type Algorithm string

const (
	// EdDSA is Ed25519 (RFC 8037): 64-byte signatures, so a token stays
	// short enough to be an RTSP password. The default.
	EdDSA Algorithm = "EdDSA"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, for verifiers that lack
	// EdDSA.
	RS256 Algorithm = "RS256"
)

// Valid reports whether camrelay knows a.
func (a Algorithm) Valid() bool { return a == EdDSA || a == RS256 }

// minRSABits refuses weak RSA keys, loaded or generated.
const minRSABits = 2048

// signingKey is one key pair with its life cycle. A key is current from
// Activated until another key replaces it (Retired); its public half stays
// published until DropAfter, when every token it signed has expired.
type signingKey struct {
	kid       string
	alg       Algorithm
	priv      crypto.Signer
	pub       crypto.PublicKey
	created   time.Time
	activated time.Time // zero while published but not yet signing
	retired   time.Time
	dropAfter time.Time
	jwk       jwk // public JWK, precomputed
	// header is the encoded JWS header camrelay writes for this key, to
	// recognise it without decoding.
	header string
}

func generateKey(alg Algorithm, rsaBits int, now time.Time) (*signingKey, error) {
	var priv crypto.Signer
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case RS256:
		if rsaBits == 0 {
			rsaBits = minRSABits
		}
		if rsaBits < minRSABits {
			return nil, fmt.Errorf("RSA keys need at least %d bits", minRSABits)
		}
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, err
		}
		priv = k
	default:
		return nil, fmt.Errorf("unsupported algorithm %q (want EdDSA or RS256)", alg)
	}
	return newSigningKey(alg, priv, now)
}

func newSigningKey(alg Algorithm, priv crypto.Signer, created time.Time) (*signingKey, error) {
	k := &signingKey{alg: alg, priv: priv, pub: priv.Public(), created: created}
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		if alg != EdDSA {
			return nil, fmt.Errorf("an Ed25519 key cannot sign %s", alg)
		}
		k.jwk = jwk{Kty: "OKP", Crv: "Ed25519", X: b64(pub)}
	case *rsa.PublicKey:
		if alg != RS256 {
			return nil, fmt.Errorf("an RSA key cannot sign %s", alg)
		}
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d needed", pub.N.BitLen(), minRSABits)
		}
		k.jwk = jwk{Kty: "RSA", N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	k.kid = k.jwk.thumbprint()
	k.jwk.Kid, k.jwk.Alg, k.jwk.Use = k.kid, string(alg), "sig"
	// What golang-jwt writes: its header map, marshalled (keys sorted).
	hdr, err := json.Marshal(map[string]string{"alg": string(alg), "kid": k.kid, "typ": "JWT"})
	if err != nil {
		return nil, err
	}
	k.header = b64(hdr)
	return k, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is a public JSON Web Key (RFC 7517) as the JWKS serves it.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url): the
// required members only, in lexicographic order, no whitespace.
func (j jwk) thumbprint() string {
	var canon string
	switch j.Kty {
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:])
}

// keyFileVersion is the format of the key file; see doc.go.
const keyFileVersion = 1

type keyFile struct {
	Version int            `json:"version"`
	Keys    []keyFileEntry `json:"keys"`
}

type keyFileEntry struct {
	Kid       string     `json:"kid"`
	Alg       Algorithm  `json:"alg"`
	Created   time.Time  `json:"created"`
	Activated *time.Time `json:"activated,omitempty"`
	Retired   *time.Time `json:"retired,omitempty"`
	DropAfter *time.Time `json:"drop_after,omitempty"`
	// PKCS8 is the private key, PKCS #8 DER in standard base64 (what
	// `openssl pkey -inform DER` reads after base64 -d).
	PKCS8 string `json:"pkcs8"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// loadKeys reads a key file. A missing file is (nil, nil). The file must not
// be readable by group or others: it holds private keys.
func loadKeys(path string) ([]*signingKey, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: mode %04o lets others read the private keys; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := strictUnmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if f.Version != keyFileVersion {
		return nil, fmt.Errorf("key file %s: version %d, want %d", path, f.Version, keyFileVersion)
	}
	var keys []*signingKey
	for i, e := range f.Keys {
		k, err := e.key()
		if err != nil {
			// The error names the entry, never its bytes.
			return nil, fmt.Errorf("key file %s: keys[%d]: %w", path, i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (e keyFileEntry) key() (*signingKey, error) {
	der, err := base64.StdEncoding.DecodeString(e.PKCS8)
	if err != nil {
		return nil, errors.New("pkcs8 is not base64")
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("pkcs8 is not a PKCS #8 private key")
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", raw)
	}
	if ed, ok := signer.(ed25519.PrivateKey); ok {
		signer = ed // x509 returns the value type; keep it so
	}
	k, err := newSigningKey(e.Alg, signer, e.Created)
	if err != nil {
		return nil, err
	}
	if e.Kid != k.kid {
		return nil, fmt.Errorf("kid %q is not the thumbprint of its key", e.Kid)
	}
	k.activated, k.retired, k.dropAfter = derefTime(e.Activated), derefTime(e.Retired), derefTime(e.DropAfter)
	return k, nil
}

// saveKeys writes the key file atomically (a temporary file in the same
// folder, synced, renamed), mode 0600 from the start so that the keys are
// never readable by others, not even briefly.
func saveKeys(path string, keys []*signingKey) error {
	f := keyFile{Version: keyFileVersion, Keys: []keyFileEntry{}}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return fmt.Errorf("key %s: %w", k.kid, err)
		}
		f.Keys = append(f.Keys, keyFileEntry{
			Kid: k.kid, Alg: k.alg, Created: k.created.UTC(),
			Activated: timePtr(k.activated), Retired: timePtr(k.retired), DropAfter: timePtr(k.dropAfter),
			PKCS8: base64.StdEncoding.EncodeToString(der),
		})
	}
	data, err := jsonIndent(f)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

func jsonIndent(v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	return append(data, '\n'), err
}

// writeFileAtomic replaces path with data, mode 0600, creating the folder
// (0700) when missing.
func writeFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data, 0o600) }
