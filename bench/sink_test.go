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
	// hold, when set, keeps a RECORD session from reading until it is
	// closed; packet, when set, gets every interleaved frame instead of
	// the bytes being thrown away.
	hold   chan struct{}
	packet func(channel byte, payload []byte)
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
			if s.hold != nil {
				<-s.hold
			}
			if s.packet != nil {
				s.readFrames(br)
				return
			}
			n, _ := io.Copy(io.Discard, br)
			s.bytes.Add(uint64(n))
			return
		}
	}
}

// readFrames hands each interleaved frame of a RECORD session to s.packet;
// anything else in the stream (a keepalive, bytes of two writes mixed up)
// is reported as channel 255.
func (s *discardServer) readFrames(br *bufio.Reader) {
	var hdr [4]byte
	buf := make([]byte, 65536)
	for {
		if _, err := io.ReadFull(br, hdr[:1]); err != nil {
			return
		}
		if hdr[0] != '$' {
			line, _ := br.ReadString('\n')
			s.packet(255, append(hdr[:1:1], line...))
			continue
		}
		if _, err := io.ReadFull(br, hdr[1:]); err != nil {
			return
		}
		n := int(hdr[2])<<8 | int(hdr[3])
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return
		}
		s.bytes.Add(uint64(4 + n))
		s.packet(hdr[1], buf[:n])
	}
}
