package harness

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// The null sink answers a publisher's requests and counts what it gets per
// path: bytes, packets, frames, sequence gaps, and the latency of camsim's
// SEI stamps.
func TestNullSinkCounts(t *testing.T) {
	s := &nullSink{paths: map[string]*nullPath{}}
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve(sc)
	}()
	answers := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := cc.Read(buf)
			if err != nil {
				close(answers)
				return
			}
			answers <- string(buf[:n])
		}
	}()
	req := func(method, u string, body string) {
		t.Helper()
		fmt.Fprintf(cc, "%s %s RTSP/1.0\r\nCSeq: 7\r\nContent-Length: %d\r\n\r\n%s", method, u, len(body), body)
		select {
		case a := <-answers:
			if a[:15] != "RTSP/1.0 200 OK" {
				t.Fatalf("%s: %q", method, a)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no answer", method)
		}
	}
	req("OPTIONS", "rtsp://127.0.0.1/cam7", "")
	req("ANNOUNCE", "rtsp://127.0.0.1/cam7", "v=0\r\n")
	req("SETUP", "rtsp://127.0.0.1/cam7/trackID=0", "")
	req("RECORD", "rtsp://127.0.0.1/cam7", "")
	packet := func(seq uint16, marker bool, payload []byte) {
		b := []byte{'$', 0, 0, 0, 0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
		binary.BigEndian.PutUint16(b[2:], uint16(12+len(payload)))
		if marker {
			b[5] |= 0x80
		}
		binary.BigEndian.PutUint16(b[6:], seq)
		if _, err := cc.Write(append(b, payload...)); err != nil {
			t.Fatal(err)
		}
	}
	sei := codec.AppendH264StampSEI(nil, codec.Stamp{SendTime: time.Now().UnixNano() - int64(3*time.Millisecond), Frame: 1})
	packet(10, false, sei)
	packet(11, true, []byte{0x65, 1, 2, 3})
	packet(14, true, []byte{0x41, 1})                           // 12 and 13 lost
	req("OPTIONS", "rtsp://127.0.0.1/cam7", "")                 // a keepalive between packets
	cc.Write([]byte{'$', 1, 0, 8, 0x80, 201, 0, 1, 0, 0, 0, 0}) // RTCP: not media
	req("TEARDOWN", "rtsp://127.0.0.1/cam7", "")
	<-done
	cc.Close()

	p := s.paths["cam7"]
	if p == nil {
		t.Fatalf("no stats for cam7: %v", s.paths)
	}
	if p.Packets != 3 || p.Frames != 2 || p.Lost != 2 || p.Sessions != 1 {
		t.Fatalf("cam7: %+v, want 3 packets, 2 frames, 2 lost, 1 session", *p)
	}
	if want := uint64(3*16 + len(sei) + 4 + 2); p.Bytes != want {
		t.Fatalf("cam7: %d bytes, want %d", p.Bytes, want)
	}
	if len(s.lat) != 1 || s.lat[0] < 3 || s.lat[0] > 1000 {
		t.Fatalf("latency %v ms, want one reading of 3 ms or a little more", s.lat)
	}
}
