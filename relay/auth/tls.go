package auth

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSConfig builds the server TLS configuration for the token endpoint from
// a PEM certificate (chain) and key file: TLS 1.2 at least, and the files
// read again when either changes on disk (a renewed certificate needs no
// restart). Serve with http.Server{TLSConfig: cfg} and ListenAndServeTLS("",
// ""), or tls.NewListener. The key file should be mode 0600; it is never
// logged.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.get()
		},
	}, nil
}

type certReloader struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	modCert  time.Time
	modKey   time.Time
	lastStat time.Time
}

// get returns the certificate, loading it again when a file's modification
// time changed (checked at most once a second). If a reload fails (a
// half-written file), the previous certificate stays in use.
func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.cert != nil && now.Sub(r.lastStat) < time.Second {
		return r.cert, nil
	}
	r.lastStat = now
	ci, err1 := os.Stat(r.certFile)
	ki, err2 := os.Stat(r.keyFile)
	if r.cert != nil && (err1 != nil || err2 != nil || (ci.ModTime().Equal(r.modCert) && ki.ModTime().Equal(r.modKey))) {
		return r.cert, nil
	}
	if err1 != nil {
		return nil, fmt.Errorf("auth: tls certificate: %w", err1)
	}
	if err2 != nil {
		return nil, fmt.Errorf("auth: tls key: %w", err2)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		// LoadX509KeyPair's errors name files and formats, not key bytes.
		return nil, fmt.Errorf("auth: tls: %w", err)
	}
	r.cert, r.modCert, r.modKey = &c, ci.ModTime(), ki.ModTime()
	return r.cert, nil
}
