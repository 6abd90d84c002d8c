package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// defaultHealthAddr is api.listen's default.
const defaultHealthAddr = "127.0.0.1:9990"

// cmdHealthcheck asks a running camrelay's API whether it is alive, for
// container health checks in images that have no curl (the Dockerfile's
// HEALTHCHECK, compose, Kubernetes exec probes). Exit status 0 when the
// answer is 200, 1 otherwise, 2 for bad flags.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := defaultHealthAddr
	if v := os.Getenv("CAMRELAY_API"); v != "" {
		def = v
	}
	addr := fs.String("addr", def, "host:port of camrelay's API (api.listen); default $CAMRELAY_API or "+defaultHealthAddr)
	path := fs.String("path", "/healthz", "what to ask: /healthz (alive) or /readyz (configuration loaded, MediaMTX reachable)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	insecure := fs.Bool("tls", false, "use https (api.listen served with auth.tls); the certificate is not verified")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "camrelay healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if !strings.HasPrefix(*path, "/") {
		fmt.Fprintf(stderr, "camrelay healthcheck: -path %q must start with /\n", *path)
		return 2
	}
	host := strings.TrimPrefix(strings.TrimPrefix(*addr, "http://"), "https://")
	if _, _, err := net.SplitHostPort(host); err != nil {
		fmt.Fprintf(stderr, "camrelay healthcheck: -addr %q is not host:port\n", *addr)
		return 2
	}
	scheme := "http"
	if *insecure || strings.HasPrefix(*addr, "https://") {
		scheme = "https"
	}
	url := scheme + "://" + host + *path

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay healthcheck: %v\n", err)
		return 1
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a health check never goes through a proxy
	if scheme == "https" {
		// A local check of our own API, whose certificate may be self-signed.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "camrelay healthcheck: %s: not answering: %v\n", url, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "camrelay healthcheck: %s: unhealthy: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "camrelay healthcheck: %s: ok\n", url)
	return 0
}
