package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/transport"
)

// readerSpec lists the streams a reader worker watches.
type readerSpec struct {
	Streams []readerStream `json:"streams"`
}

// readerStream is one stream read from MediaMTX.
type readerStream struct {
	Path string `json:"path"`
	URL  string `json:"url"`
	// Via is rtsp (gortsplib over TCP) or whep (pion/webrtc).
	Via string `json:"via"`
	// Measure is sei (H.264 stamps: send time and frame number, from
	// camsim's RTSP cameras through a copy relay), barcode (decode the
	// pictures and read camsim's pixel barcode: through a transcoder) or
	// count (access units only).
	Measure string `json:"measure"`
}

// readerReport is what one stream got in the window between "mark" and
// "report".
type readerReport struct {
	Path    string `json:"path"`
	Via     string `json:"via"`
	Measure string `json:"measure"`
	// Frames are access units received in the window.
	Frames uint64 `json:"frames"`
	// Stamps are SEI stamps read; FirstStamp and LastStamp their frame
	// numbers; Expected = LastStamp-FirstStamp+1 is what camsim sent in
	// between, so Expected-Stamps frames were lost on the way.
	Stamps     uint64 `json:"stamps,omitempty"`
	FirstStamp uint64 `json:"first_stamp,omitempty"`
	LastStamp  uint64 `json:"last_stamp,omitempty"`
	Expected   uint64 `json:"expected,omitempty"`
	StampsBack uint64 `json:"stamps_back,omitempty"`
	// Codes are pictures whose barcode read; Pictures all decoded ones.
	Codes        uint64 `json:"codes,omitempty"`
	Pictures     uint64 `json:"pictures,omitempty"`
	DecodeErrors uint64 `json:"decode_errors,omitempty"`
	// LatencyMS is send time to arrival of the frame's last packet, per
	// frame, in milliseconds.
	LatencyMS []float32 `json:"latency_ms,omitempty"`
	// Ended is set when the session ended, with why.
	Ended string `json:"ended,omitempty"`
	// WindowS is the time from "mark" to "report".
	WindowS float64 `json:"window_s"`
}

// streamAcc accumulates one stream's window.
type streamAcc struct {
	spec readerStream
	mu   sync.Mutex
	w    readerReport
	have bool // a stamp was seen in the window
	mk   time.Time
	dec  barcodeDecoder
	pics bool // the decoder has produced a picture (errors before are the mid-GOP start)
}

func (a *streamAcc) mark() {
	a.mu.Lock()
	ended := a.w.Ended
	a.w = readerReport{Path: a.spec.Path, Via: a.spec.Via, Measure: a.spec.Measure, Ended: ended}
	a.have = false
	a.mk = time.Now()
	a.mu.Unlock()
}

func (a *streamAcc) report() readerReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.w
	r.LatencyMS = append([]float32(nil), a.w.LatencyMS...)
	r.WindowS = time.Since(a.mk).Seconds()
	if a.have {
		r.Expected = r.LastStamp - r.FirstStamp + 1
	}
	return r
}

func (a *streamAcc) ended(err error) {
	a.mu.Lock()
	if err == nil {
		a.w.Ended = "ended"
	} else {
		a.w.Ended = err.Error()
	}
	a.mu.Unlock()
}

// onAU takes one access unit that arrived at arrival (Unix ns).
func (a *streamAcc) onAU(au [][]byte, arrival int64) {
	var codes []int64
	var pictures int
	var derr error
	if a.spec.Measure == "barcode" && a.dec != nil {
		codes, pictures, derr = a.dec.decode(au)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Frames++
	switch a.spec.Measure {
	case "sei":
		for _, nal := range au {
			s, ok := codec.ParseStampSEI(nal, false)
			if !ok {
				continue
			}
			switch {
			case !a.have:
				a.w.FirstStamp, a.have = s.Frame, true
			case s.Frame <= a.w.LastStamp:
				a.w.StampsBack++
				continue
			}
			a.w.Stamps++
			a.w.LastStamp = s.Frame
			a.w.LatencyMS = append(a.w.LatencyMS, float32(float64(arrival-s.SendTime)/1e6))
		}
	case "barcode":
		if pictures > 0 {
			a.pics = true
		}
		if derr != nil && a.pics {
			a.w.DecodeErrors++
		}
		a.w.Pictures += uint64(pictures)
		for _, ms := range codes {
			a.w.Codes++
			// The barcode holds whole milliseconds: latencies read up to
			// 1 ms long, 0.5 ms on average.
			a.w.LatencyMS = append(a.w.LatencyMS, float32(float64(arrival)/1e6-float64(ms)))
		}
	}
}

// streamReader is a running reader of one stream.
type streamReader interface{ close() }

type rtspStreamReader struct{ r *transport.RTSPReader }

func (r rtspStreamReader) close() { r.r.Close() }

func startRTSPReader(ctx context.Context, a *streamAcc) (streamReader, error) {
	r := &transport.RTSPReader{URL: a.spec.URL, Transport: "tcp",
		OnFrame: func(_ string, au [][]byte, arrival int64) { a.onAU(au, arrival) }}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	go func() {
		<-r.Done()
		a.ended(r.Err())
	}()
	return rtspStreamReader{r}, nil
}

func runReaderWorker(arg string, in io.Reader, out io.Writer) error {
	var spec readerSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		return err
	}
	var accs []*streamAcc
	var readers []streamReader
	closeAll := func() {
		for _, r := range readers {
			r.close()
		}
		for _, a := range accs {
			if a.dec != nil {
				a.mu.Lock()
				a.dec.close()
				a.mu.Unlock()
			}
		}
	}
	defer exitOnSignal()()
	fail := func(err error) error {
		closeAll()
		fmt.Fprintf(out, "ERROR %v\n", err)
		return err
	}
	for _, s := range spec.Streams {
		a := &streamAcc{spec: s}
		a.mark()
		if s.Measure == "barcode" {
			d, err := newBarcodeDecoder()
			if err != nil {
				return fail(err)
			}
			a.dec = d
		}
		accs = append(accs, a)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var r streamReader
		var err error
		switch s.Via {
		case "rtsp":
			r, err = startRTSPReader(ctx, a)
		case "whep":
			r, err = startWHEPReader(ctx, a)
		default:
			err = fmt.Errorf("unknown reader %q", s.Via)
		}
		cancel()
		if err != nil {
			return fail(fmt.Errorf("%s %s: %w", s.Via, s.Path, err))
		}
		readers = append(readers, r)
	}
	defer closeAll()
	if err := writeReady(out, struct {
		Streams int `json:"streams"`
	}{len(accs)}); err != nil {
		return err
	}
	return serveCommands(in, out, func(cmd string) any {
		switch cmd {
		case "mark":
			for _, a := range accs {
				a.mark()
			}
			return struct{}{}
		case "report":
			reps := make([]readerReport, len(accs))
			for i, a := range accs {
				reps[i] = a.report()
			}
			return reps
		}
		return map[string]string{"error": "unknown command " + cmd}
	})
}

// barcodeDecoder decodes H.264 access units and reads camsim's barcodes
// (libav build only).
type barcodeDecoder interface {
	decode(au [][]byte) (codes []int64, pictures int, err error)
	close()
}
