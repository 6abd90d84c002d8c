package harness

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camrelay/camrelay/codec"
)

// RelayNull is camrelay publishing into the null sink instead of MediaMTX:
// the density scenario's way of finding camrelay's own limit when MediaMTX
// gives out first.
const RelayNull = "camrelay-null"

// The null sink is the smallest RTSP server camrelay can publish to: it
// answers OPTIONS, ANNOUNCE, SETUP, RECORD (and keepalives, TEARDOWN) with
// 200 and reads every interleaved packet, counting per path bytes, RTP
// packets, frames (marker bits) and sequence gaps, and reading camsim's SEI
// send-time stamps for latency. It does no more, so the relay's limit, not
// a server's, is what a density run into it finds.

type nullReady struct {
	Addr string `json:"addr"`
}

type nullPath struct {
	Bytes    uint64 `json:"bytes"`
	Packets  uint64 `json:"packets"`
	Frames   uint64 `json:"frames"`
	Lost     uint64 `json:"lost"` // RTP sequence gaps
	Sessions int    `json:"sessions"`
}

// nullStats answers "stats"; LatencyMS are the stamps read since the last
// "mark".
type nullStats struct {
	Paths     map[string]nullPath `json:"paths"`
	LatencyMS []float64           `json:"latency_ms"`
}

type nullSink struct {
	mu    sync.Mutex
	paths map[string]*nullPath
	lat   []float64
}

func runNullWorker(_ string, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(out, "ERROR %v\n", err)
		return err
	}
	defer ln.Close()
	s := &nullSink{paths: map[string]*nullPath{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	defer exitOnSignal()()
	if err := writeReady(out, nullReady{Addr: ln.Addr().String()}); err != nil {
		return err
	}
	return serveCommands(in, out, func(cmd string) any {
		s.mu.Lock()
		defer s.mu.Unlock()
		if cmd == "mark" {
			s.lat = s.lat[:0]
			return struct{}{}
		}
		st := nullStats{Paths: make(map[string]nullPath, len(s.paths)), LatencyMS: slices.Clone(s.lat)}
		for k, v := range s.paths {
			st.Paths[k] = *v
		}
		return st
	})
}

func (s *nullSink) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	var path string
	var st *nullPath
	var last uint16
	started := false
	buf := make([]byte, 65536)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return
		}
		if b[0] != '$' {
			method, u, cseq, err := readRTSPRequest(br)
			if err != nil {
				return
			}
			extra := ""
			switch method {
			case "ANNOUNCE":
				if pu, err := url.Parse(u); err == nil {
					path = strings.TrimPrefix(pu.Path, "/")
				}
				s.mu.Lock()
				st = s.paths[path]
				if st == nil {
					st = &nullPath{}
					s.paths[path] = st
				}
				st.Sessions++
				s.mu.Unlock()
			case "SETUP":
				extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
			case "TEARDOWN":
				fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\n\r\n", cseq)
				return
			}
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nSession: 12345678;timeout=60\r\n%s\r\n", cseq, extra)
			continue
		}
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return
		}
		if st == nil || hdr[1]%2 == 1 || n < 12 {
			continue // RTCP, or media before ANNOUNCE
		}
		now := time.Now().UnixNano() // camsim stamps Unix time
		seq := binary.BigEndian.Uint16(buf[2:])
		s.mu.Lock()
		st.Bytes += uint64(4 + n)
		st.Packets++
		if buf[1]&0x80 != 0 {
			st.Frames++
		}
		if started && seq != last+1 {
			if gap := seq - last - 1; gap < 1000 {
				st.Lost += uint64(gap)
			}
		}
		if ms, ok := stampLatency(buf[12:n], now); ok && len(s.lat) < 1<<20 {
			s.lat = append(s.lat, ms)
		}
		s.mu.Unlock()
		started, last = true, seq
	}
}

// stampLatency reads camsim's SEI send-time stamp from an H.264 RTP payload
// (a single NAL unit or a STAP-A) and returns how long before now (Unix
// nanoseconds) it was sent.
func stampLatency(p []byte, now int64) (float64, bool) {
	if len(p) == 0 {
		return 0, false
	}
	check := func(nal []byte) (float64, bool) {
		if s, ok := codec.ParseStampSEI(nal, false); ok {
			return float64(now-s.SendTime) / 1e6, true
		}
		return 0, false
	}
	switch p[0] & 0x1f {
	case 6:
		return check(p)
	case 24: // STAP-A
		for b := p[1:]; len(b) > 2; {
			l := int(binary.BigEndian.Uint16(b))
			if l == 0 || l > len(b)-2 {
				break
			}
			if ms, ok := check(b[2 : 2+l]); ok {
				return ms, true
			}
			b = b[2+l:]
		}
	}
	return 0, false
}

// readRTSPRequest reads one request: method, URL, CSeq (its body is read
// and dropped).
func readRTSPRequest(br *bufio.Reader) (method, u, cseq string, err error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return "", "", "", err
	}
	parts := strings.Fields(line)
	if len(parts) < 2 {
		return "", "", "", fmt.Errorf("bad request line %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return "", "", "", err
	}
	if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 {
		if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
			return "", "", "", err
		}
	}
	return parts[0], parts[1], h.Get("Cseq"), nil
}

// runNull is a density run of camrelay into the null sink: camsim's N
// cameras, camrelay, the null sink (each its own process), a settle, a
// window. Loss is what the sink counts (sequence gaps, bytes below what
// camsim sent); latency is camsim's stamp to the sink's read, on every
// stream.
func (h *harness) runNull(ctx context.Context, scenario string, n, rep int) (row Row) {
	sc, err := h.begin(&row, scenario, RelayNull, n, rep)
	defer sc.end()
	if err != nil {
		return sc.failed("%v", err)
	}
	failed := sc.failed
	cs, cr, err := sc.startCamsim(ctx, camsimSpec{FPS: h.o.FPS, RTSP: n, Clip: h.o.Clip})
	if err != nil {
		return failed("camsim: %v", err)
	}
	h.prog.phase("starting the null sink")
	var nr nullReady
	ns, err := startWorker(ctx, h.o.Self, "nullsink", struct{}{}, &nr, 30*time.Second)
	if err != nil {
		return failed("null sink: %v", err)
	}
	sc.onEnd(ns.stop)

	e := &runEnv{scenario: ScenarioCopy, n: n, dir: sc.dir, camsim: cr, opts: &h.o, output: "rtsp://" + nr.Addr + "/{path}"}
	h.prog.phase("starting camrelay")
	rr, err := startCamrelay(e, false)
	if err != nil {
		return failed("camrelay: %v", err)
	}
	sc.onEnd(rr.stop)
	row.Commands = rr.commands
	row.RelayProcs = 1
	paths := make([]string, n)
	for i := range paths {
		paths[i] = e.camPath(i + 1)
	}
	stats := func() (nullStats, time.Time, error) {
		var st nullStats
		err := ns.call(ctx, "stats", &st)
		return st, time.Now(), err
	}
	h.prog.phase("waiting for streams")
	deadline := time.Now().Add(30*time.Second + time.Duration(n)*150*time.Millisecond)
	for {
		st, _, err := stats()
		if err != nil {
			return failed("null sink: %v", err)
		}
		row.PathsReady = 0
		for _, p := range paths {
			if st.Paths[p].Frames > 0 {
				row.PathsReady++
			}
		}
		if row.PathsReady == n {
			break
		}
		if x := rr.exited(); x != "" {
			return failed("%s", x)
		}
		if time.Now().After(deadline) {
			return failed("%d of %d streams reached the null sink", row.PathsReady, n)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return failed("%v", err)
		}
	}
	h.prog.phase("settling")
	h.prog.countdown(h.o.Settle)
	if err := sleepCtx(ctx, h.o.Settle); err != nil {
		return failed("%v", err)
	}
	groups := map[string]*procGroup{
		"relay":    {name: RelayNull, pids: rr.pids()},
		"nullsink": {name: "nullsink", pids: []int{ns.pid()}},
		"camsim":   {name: "camsim", pids: []int{cs.pid()}},
		"harness":  {name: "harness", pids: []int{os.Getpid()}},
	}
	snap := func() (map[string]cpuSample, MachineCPU, camsimStats, time.Time, nullStats, time.Time, error) {
		cpu := map[string]cpuSample{}
		m, _ := ReadMachineCPU()
		for k, g := range groups {
			cpu[k] = g.cpu()
		}
		var cst camsimStats
		if err := cs.call(ctx, "stats", &cst); err != nil {
			return nil, m, cst, time.Time{}, nullStats{}, time.Time{}, err
		}
		camAt := time.Now()
		st, at, err := stats()
		return cpu, m, cst, camAt, st, at, err
	}
	h.prog.phase("measuring")
	h.prog.countdown(h.o.Measure)
	var none struct{}
	if err := ns.call(ctx, "mark", &none); err != nil {
		return failed("null sink: %v", err)
	}
	c1, m1, f1, cam1, s1, at1, err := snap()
	if err != nil {
		return failed("window start: %v", err)
	}
	var relayMem []Memory
	for q := 1; q <= 4; q++ {
		if err := sleepCtx(ctx, h.o.Measure/4); err != nil {
			return failed("%v", err)
		}
		m, _ := groups["relay"].memory()
		relayMem = append(relayMem, m)
	}
	c2, m2, f2, cam2, s2, at2, err := snap()
	if err != nil {
		return failed("window end: %v", err)
	}
	row.Window = cam2.Sub(cam1).Seconds()
	row.RelayCPU = coresBetween(c1["relay"], c2["relay"])
	row.MediaMTXCPU = 0 // no MediaMTX: the sink's CPU is the rig's
	for _, g := range []string{"camsim", "nullsink", "harness"} {
		row.Rig[g] = coresBetween(c1[g], c2[g])
	}
	row.RelayMem = meanMem(relayMem)
	row.MachineBusy = m2.Utilization(m1)
	row.Load1 = LoadAvg()[0]
	var fps, ratios []float64
	row.PathsDelivering = 0
	for _, p := range paths {
		sent := f2.Frames[p] - f1.Frames[p]
		fps = append(fps, float64(sent)/row.Window)
		a, b := s1.Paths[p], s2.Paths[p]
		if b.Bytes > a.Bytes {
			row.PathsDelivering++
		}
		sentRate := float64(sent) / row.Window
		recvRate := float64(b.Bytes-a.Bytes) / at2.Sub(at1).Seconds()
		if sentRate > 0 {
			ratios = append(ratios, recvRate/(sentRate*h.clipRate))
		}
		row.RTPPacketsLost += b.Lost - a.Lost
		row.SampledFrames += b.Frames - a.Frames
		row.SampledExpected += sent
	}
	row.CamsimFPS, row.CamsimFPSMin = mean(fps), slices.Min(fps)
	if len(ratios) > 0 {
		row.BytesRatioMin = slices.Min(ratios)
		row.BytesRatioMedian = Percentile(ratios, 0.5)
	}
	row.Latency = summarizeMS(s2.LatencyMS)
	row.DeliveredFPS = float64(row.SampledFrames) / row.Window / float64(n)
	row.Notes = append(row.Notes, "into camrelay's null sink (no MediaMTX): frames = frames received / sent on every stream, latency = camsim's stamp to the sink's read on every stream, RTP lost = sequence gaps at the sink")
	if x := rr.exited(); x != "" {
		return failed("%s", x)
	}
	if row.PathsDelivering < n {
		return failed("%d of %d streams received bytes in the window", row.PathsDelivering, n)
	}
	row.Loss = row.RTPPacketsLost > 0 || row.BytesRatioMin < 0.97
	if row.CamsimFPSMin < 0.95*float64(h.o.FPS) || row.MachineBusy > 0.97 {
		row.RigSaturated = true
		row.Notes = append(row.Notes, fmt.Sprintf("rig saturated: camsim sent %.1f fps per camera (lowest %.1f), machine %.0f%% busy", row.CamsimFPS, row.CamsimFPSMin, 100*row.MachineBusy))
	}
	return row
}
