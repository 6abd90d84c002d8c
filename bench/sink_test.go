package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// discardServer is the smallest RTSP server a publisher can RECORD to: it
// answers OPTIONS, ANNOUNCE, SETUP and RECORD with 200 and then reads and
// throws away whatever comes, counting bytes. It keeps the benchmarks about
// camrelay's own cost, not a server's.
type discardServer struct {
	ln        net.Listener
	bytes     atomic.Uint64
	announces atomic.Uint64 // publish sessions begun
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     []net.Conn
}

func startDiscardServer(tb testing.TB) *discardServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &discardServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	tb.Cleanup(s.close)
	return s
}

func (s *discardServer) url(path string) string {
	return "rtsp://" + s.ln.Addr().String() + "/" + path
}

func (s *discardServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *discardServer) serve(c net.Conn) {
	br := bufio.NewReader(c)
	tp := textproto.NewReader(br)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		method, _, _ := strings.Cut(line, " ")
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 {
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return
			}
		}
		extra := ""
		if method == "ANNOUNCE" {
			s.announces.Add(1)
		}
		if method == "SETUP" {
			extra = "Transport: " + h.Get("Transport") + "\r\n"
		}
		fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nSession: 12345678\r\n%s\r\n", h.Get("Cseq"), extra)
		if method == "RECORD" {
			n, _ := io.Copy(io.Discard, br)
			s.bytes.Add(uint64(n))
			return
		}
	}
}
