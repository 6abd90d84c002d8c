//go:build libav

package libav

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// Available reports whether this binary was built with libav.
const Available = true

// Output payload types: dynamic, one per output track.
const (
	videoPayloadType = 96
	audioPayloadType = 97
)

// transcoder is the libav codec.Transcoder. It has no goroutine: each
// WriteFrame decodes, scales, encodes and packetizes before returning, so
// a frame's latency is its own processing time and nothing queues.
//
// Ownership: every libav object belongs to exactly one field below and is
// freed by the close method of the value holding it, under mu. Per source
// session: the video decoder (and the audio decoder and filter graph). For
// the transcoder's life: the scaler, the canvas frame, the encoders.
type transcoder struct {
	cfg codec.TranscodeConfig
	out codec.PacketWriter
	log *slog.Logger

	mu     sync.Mutex // Begin/Write* against Snapshot and Close
	closed bool
	began  bool // a session is open (Begin succeeded)

	dec       *videoDecoder // this session's video decoder
	inflight  [8]inflight   // the latest frames sent to it
	inflightN int

	scl      scaler
	canvas   *astiav.Frame // the output picture: scaled input plus bars
	full     bool          // the output is full range (JPEG cameras)
	hasPic   bool          // canvas holds a picture
	inW, inH int           // size of the latest decoded input picture
	rect     [4]int        // x, y, w, h of the input's place in the canvas

	enc    *h264Encoder
	encErr error // why the encoder could not open; reported once
	pz     codec.H264Packetizer
	clock  slotClock

	origin originClock

	// the fresh (not repeated) picture in the encoder, for latency
	freshPTS  int64
	freshRecv int64
	fresh     bool

	audio audioPath

	lat   codec.Histogram
	stats struct {
		framesIn, framesDecoded, framesOut    atomic.Uint64
		dropped, repeated, decodeErrs, reinit atomic.Uint64
		inW, inH, outW, outH                  atomic.Int32
	}
}

var _ codec.Transcoder = (*transcoder)(nil)

// New returns a codec.Transcoder writing H.264 (and audio) RTP packets to
// out. With a configured output size it opens the encoder at once, so that
// a missing libx264 shows here and the first Begin can announce the
// parameter sets.
func New(cfg codec.TranscodeConfig, out codec.PacketWriter, log *slog.Logger) (codec.Transcoder, error) {
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, fmt.Errorf("transcoder: %w", err)
	}
	if out == nil {
		return nil, errors.New("transcoder: no packet writer")
	}
	if log == nil {
		log = slog.Default()
	}
	installLog()
	t := &transcoder{cfg: cfg, out: out, log: log}
	t.clock.fps = cfg.Video.FPS
	t.pz.PayloadType = videoPayloadType
	t.pz.Track = 0
	t.audio.mode = cfg.Audio
	if astiav.FindEncoderByName("libx264") == nil {
		return nil, errors.New("transcoder: libav has no libx264 encoder")
	}
	return t, nil
}

// openEncoder opens the encoder and the canvas for the output size given or
// derived from the first input picture. full encodes full-range video (as
// JPEG pictures are): then a JPEG camera at the output size is copied into
// the canvas, not converted, which is what ffmpeg does with MJPEG into
// libx264 too; the range is signalled in the SPS (VUI).
func (t *transcoder) openEncoder(inW, inH int, full bool) error {
	w, h := outputSize(t.cfg.Video.Width, t.cfg.Video.Height, inW, inH)
	enc, err := newH264Encoder(t.cfg.Video, w, h, full)
	if err != nil {
		return err
	}
	c := astiav.AllocFrame()
	if c == nil {
		enc.close()
		return errors.New("canvas: allocating frame failed")
	}
	c.SetWidth(w)
	c.SetHeight(h)
	c.SetPixelFormat(astiav.PixelFormatYuv420P)
	c.SetColorRange(astiav.ColorRangeMpeg)
	if full {
		c.SetColorRange(astiav.ColorRangeJpeg)
	}
	if err := c.AllocBuffer(0); err != nil {
		c.Free()
		enc.close()
		return fmt.Errorf("canvas: allocating %dx%d picture: %w", w, h, err)
	}
	if err := c.ImageFillBlack(); err != nil {
		c.Free()
		enc.close()
		return fmt.Errorf("canvas: %w", err)
	}
	t.enc, t.canvas, t.full = enc, c, full
	t.stats.outW.Store(int32(w))
	t.stats.outH.Store(int32(h))
	return nil
}

// videoTrack is the output video track; the parameter sets are in it once
// the encoder is open.
func (t *transcoder) videoTrack() codec.Track {
	tr := codec.Track{
		Kind: codec.KindVideo, Codec: "H264", ClockRate: 90000,
		PayloadType: videoPayloadType, RTPMap: "H264/90000",
	}
	if t.enc != nil {
		tr.FMTP = t.enc.fmtp()
	} else {
		// Profile known, level not yet (the size comes with the first
		// picture): 3.1 covers 720p30, and players take the SPS's word.
		pli := "42c01f"
		if t.cfg.Video.Profile == "main" {
			pli = "4d401f"
		}
		tr.FMTP = map[string]string{"packetization-mode": "1", "profile-level-id": pli}
	}
	return tr
}

func (t *transcoder) Begin(tracks []codec.Track) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("transcoder: closed")
	}
	t.began = false
	vi, ai := -1, -1
	for i, tr := range tracks {
		switch {
		case tr.Kind == codec.KindVideo && vi < 0:
			vi = i
		case tr.Kind == codec.KindAudio && ai < 0:
			ai = i
		}
	}
	if vi < 0 {
		return errors.New("transcoder: the source has no video track")
	}
	vt := tracks[vi]
	if _, ok := decoderIDs[vt.Codec]; !ok {
		return fmt.Errorf("transcoder: video codec %q cannot be decoded (JPEG, H264, H265)", vt.Codec)
	}
	// A new session: a fresh decoder (the camera may have come back with
	// another codec or size), same encoder and output timeline.
	if t.dec != nil {
		t.dec.close()
		t.dec = nil
	}
	dec, err := newVideoDecoder(vt.Codec, parameterSets(vt))
	if err != nil {
		return fmt.Errorf("transcoder: %w", err)
	}
	t.dec = dec
	// With a configured size the encoder opens now, so that the output
	// track carries its SPS; JPEG cameras are full range.
	if t.enc == nil && t.encErr == nil && t.cfg.Video.Width > 0 && t.cfg.Video.Height > 0 {
		if err := t.openEncoder(t.cfg.Video.Width, t.cfg.Video.Height, vt.Codec == "JPEG"); err != nil {
			t.encErr = err
			return fmt.Errorf("transcoder: %w", err)
		}
	}
	t.clock.newSession()
	t.fresh = false

	out := []codec.Track{t.videoTrack()}
	var in *codec.Track
	if ai >= 0 {
		in = &tracks[ai]
	}
	if at, err := t.audio.begin(in, ai); err != nil {
		// Video matters more than audio: go on without it.
		t.log.Warn("transcoder: audio dropped", "err", err)
	} else if at != nil {
		out = append(out, *at)
	}
	epoch := t.out.SetTracks(out)
	t.pz.Epoch = epoch
	t.audio.epoch = epoch
	t.began = true
	return nil
}

// originClock maps Received instants to output time: the first media the
// transcoder saw is time 0 for video and audio alike, which keeps them in
// step when a session starts.
type originClock struct {
	origin int64
	set    bool
}

// ticks is the output time of recv in units of rate.
func (o *originClock) ticks(recv int64, rate int) uint64 {
	if !o.set {
		o.origin, o.set = recv, true
	}
	return uint64(codec.Elapsed(recv-o.origin, rate))
}

func (t *transcoder) WriteFrame(f *codec.Frame) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.framesIn.Add(1)
	if t.closed || !t.began {
		t.stats.dropped.Add(1)
		return
	}
	t.inflight[t.inflightN%len(t.inflight)] = inflight{f.PTS, f.Received}
	t.inflightN++
	if err := t.dec.send(f); err != nil {
		if err == errNoKeyframe {
			t.stats.dropped.Add(1)
		} else {
			t.stats.decodeErrs.Add(1)
			t.log.Debug("transcoder: frame skipped", "err", err)
		}
		return
	}
	for {
		ok, err := t.dec.receive()
		if err != nil {
			t.stats.decodeErrs.Add(1)
			t.log.Debug("transcoder: frame skipped", "err", err)
			return
		}
		if !ok {
			return
		}
		t.stats.framesDecoded.Add(1)
		pts, recv := t.origins(t.dec.frame, f)
		t.picture(t.dec.frame, pts, recv)
	}
}

// inflight is a frame in the decoder.
type inflight struct {
	pts  time.Duration
	recv int64
}

// origins finds the PTS and Received of the frame a picture was decoded
// from: f itself, except with B-frames, where the decoder gives pictures back
// in display order, after later frames went in.
func (t *transcoder) origins(fr *astiav.Frame, f *codec.Frame) (time.Duration, int64) {
	p := fr.Pts()
	if p == astiav.NoPtsValue || time.Duration(p) == f.PTS {
		return f.PTS, f.Received
	}
	for _, e := range t.inflight {
		if e.pts == time.Duration(p) {
			return e.pts, e.recv
		}
	}
	return time.Duration(p), f.Received
}

// picture takes one decoded picture through the timeline, the scaler and the
// encoder.
func (t *transcoder) picture(fr *astiav.Frame, pts time.Duration, recv int64) {
	w, h := fr.Width(), fr.Height()
	if w <= 0 || h <= 0 {
		t.stats.decodeErrs.Add(1)
		return
	}
	if t.enc == nil {
		if t.encErr != nil {
			t.stats.dropped.Add(1)
			return
		}
		if err := t.openEncoder(w, h, isFullRange(fr)); err != nil {
			t.encErr = err
			t.log.Error("transcoder: cannot encode", "err", err)
			t.stats.dropped.Add(1)
			return
		}
	}
	slot, repeats, drop := t.clock.place(pts, recv, t.origin.ticks(recv, 90000))
	if drop {
		t.stats.dropped.Add(1)
		return
	}
	// Slots the input skipped repeat the picture already in the canvas.
	for i := repeats; i > 0 && t.hasPic; i-- {
		if !t.encode(slot-int64(i), recv, false) {
			return
		}
		t.stats.repeated.Add(1)
	}
	if err := t.draw(fr); err != nil {
		t.stats.decodeErrs.Add(1)
		t.log.Debug("transcoder: picture skipped", "err", err)
		return
	}
	t.encode(slot, recv, true)
}

// draw scales fr into the canvas, re-initialising the scaler (and counting a
// Reinit) when the input size changed.
func (t *transcoder) draw(fr *astiav.Frame) error {
	w, h := fr.Width(), fr.Height()
	cw, ch := t.canvas.Width(), t.canvas.Height()
	if err := makeWritable(t.canvas); err != nil {
		return fmt.Errorf("canvas: %w", err)
	}
	if !t.scl.matches(fr, t.rect[2], t.rect[3], astiav.PixelFormatYuv420P, t.full) {
		if t.inW != 0 && (w != t.inW || h != t.inH) {
			t.stats.reinit.Add(1)
			t.log.Info("transcoder: input size changed", "from", fmt.Sprintf("%dx%d", t.inW, t.inH), "to", fmt.Sprintf("%dx%d", w, h))
		}
		x, y, rw, rh := placement(t.cfg.Video.Scale, w, h, cw, ch)
		if err := t.scl.reset(fr, rw, rh, astiav.PixelFormatYuv420P, t.full); err != nil {
			return err
		}
		t.rect = [4]int{x, y, rw, rh}
		// The bars may have moved: paint the whole canvas black again.
		if err := t.canvas.ImageFillBlack(); err != nil {
			return fmt.Errorf("canvas: %w", err)
		}
	}
	t.inW, t.inH = w, h
	t.stats.inW.Store(int32(w))
	t.stats.inH.Store(int32(h))
	if err := t.scl.scale(fr, t.canvas, t.rect[0], t.rect[1]); err != nil {
		return err
	}
	t.hasPic = true
	return nil
}

// encode encodes the canvas for a session slot and packetizes what comes
// out. It reports false if the encoder failed.
func (t *transcoder) encode(slot int64, recv int64, fresh bool) bool {
	pts := int64(t.clock.ts(slot))
	if err := t.enc.send(t.canvas, pts); err != nil {
		t.log.Warn("transcoder: encoding failed", "err", err)
		t.stats.dropped.Add(1)
		return false
	}
	t.clock.commit(slot)
	if fresh && recv != 0 { // a frame without an arrival time has no latency
		t.freshPTS, t.freshRecv, t.fresh = pts, recv, true
	}
	for {
		au, apts, ok, err := t.enc.receive()
		if err != nil {
			t.log.Warn("transcoder: encoding failed", "err", err)
			return false
		}
		if !ok {
			return true
		}
		t.pz.WriteAnnexB(t.out, au, uint32(apts), recv)
		t.stats.framesOut.Add(1)
		if t.fresh && apts == t.freshPTS {
			t.lat.Observe(time.Duration(codec.Now() - t.freshRecv))
			t.fresh = false
		}
	}
}

func (t *transcoder) WriteAudio(p *codec.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !t.began {
		return
	}
	t.audio.write(t.out, p, &t.origin)
}

func (t *transcoder) Snapshot() ([]byte, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("snapshot: transcoder closed")
	}
	if !t.hasPic {
		t.mu.Unlock()
		return nil, codec.ErrNoPicture
	}
	// A new reference to the canvas, encoded outside the lock; the next
	// picture is drawn into a copy (makeWritable) while this one is shared.
	ref := astiav.AllocFrame()
	if ref == nil {
		t.mu.Unlock()
		return nil, errors.New("snapshot: allocating frame failed")
	}
	err := ref.Ref(t.canvas)
	t.mu.Unlock()
	defer ref.Free()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return encodeJPEG(ref)
}

func (t *transcoder) Stats() codec.TranscodeStats {
	return codec.TranscodeStats{
		FramesIn:      t.stats.framesIn.Load(),
		FramesDecoded: t.stats.framesDecoded.Load(),
		FramesOut:     t.stats.framesOut.Load(),
		Dropped:       t.stats.dropped.Load(),
		Repeated:      t.stats.repeated.Load(),
		DecodeErrors:  t.stats.decodeErrs.Load(),
		Reinits:       t.stats.reinit.Load(),
		InWidth:       int(t.stats.inW.Load()),
		InHeight:      int(t.stats.inH.Load()),
		OutWidth:      int(t.stats.outW.Load()),
		OutHeight:     int(t.stats.outH.Load()),
		Latency:       t.lat.Snapshot(),
	}
}

func (t *transcoder) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if t.dec != nil {
		t.dec.close()
		t.dec = nil
	}
	t.scl.Close()
	if t.canvas != nil {
		t.canvas.Free()
		t.canvas = nil
	}
	if t.enc != nil {
		t.enc.close()
		t.enc = nil
	}
	t.audio.close()
	t.hasPic = false
}
