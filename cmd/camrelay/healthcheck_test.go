package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte(`{"status":"ok"}`))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ready":false,"problems":["sink 127.0.0.1:8554 unreachable"]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// A port nothing listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name string
		args []string
		env  string
		want int
		msg  string
	}{
		{"200 is healthy", []string{"-addr", addr}, "", 0, "ok"},
		{"503 is unhealthy", []string{"-addr", addr, "-path", "/readyz"}, "", 1, "503 Service Unavailable"},
		{"unreachable", []string{"-addr", dead, "-timeout", "2s"}, "", 1, "not answering"},
		{"address from CAMRELAY_API", nil, addr, 0, "ok"},
		{"flag wins over CAMRELAY_API", []string{"-addr", addr}, dead, 0, "ok"},
		{"bad address", []string{"-addr", "nonsense"}, "", 2, "not host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CAMRELAY_API", tc.env)
			var out, errb bytes.Buffer
			got := run(append([]string{"healthcheck"}, tc.args...), &out, &errb)
			if got != tc.want {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", got, tc.want, out.String(), errb.String())
			}
			if all := out.String() + errb.String(); !strings.Contains(all, tc.msg) {
				t.Errorf("output %q does not say %q", all, tc.msg)
			}
		})
	}
}
