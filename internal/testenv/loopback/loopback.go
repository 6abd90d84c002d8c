// Package loopback has the small pieces tests on every floor share: free
// ports on 127.0.0.1 and a log buffer that goroutines may write at once.
package loopback

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// TCPPort returns a TCP port on 127.0.0.1 with nothing listening on it.
func TCPPort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// UDPPort returns a UDP port on 127.0.0.1 with nothing bound to it.
func UDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Buffer is a bytes.Buffer that several goroutines may write (logs of a
// process or of pipelines under test).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
