package camsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/camrelay/camrelay/codec"
)

// CameraConfig describes one simulated camera and its quirks. Only Path and
// (for H.264 and H.265) Clip are required; every other zero value is the
// well-behaved camera.
type CameraConfig struct {
	Path string // URL path, e.g. "cam1" or "site/cam1"; leading and trailing slashes are ignored
	// Codec of the video: "H264" (the default) or "H265", looping Clip, or
	// "JPEG": MJPEG over RTP (RFC 2435) of Width x Height pictures that
	// carry their send time as a barcode (codec.DrawBarcode).
	Codec string
	Clip  string // Annex-B H.264 or H.265 file, looped forever; not used by JPEG
	FPS   int    // frame rate; 0 means 25
	// Audio is a raw G.711 mu-law 8 kHz mono file (a PCMU track, PT 0, of
	// 20 ms packets) or an AAC-LC ADTS file named .aac (an MPEG4-GENERIC
	// track, PT 97, one access unit per packet); empty: video only.
	Audio string

	// Width and Height of JPEG pictures: multiples of 8 up to 2040 (what
	// the RTP/JPEG header can say). 0 means 640x480.
	Width, Height int
	// Chroma422 sends JPEG type 0 (4:2:2) instead of type 1 (4:2:0).
	Chroma422 bool

	// User and Pass are the credentials the camera asks for with Auth.
	// With a User and AuthNone the camera uses AuthDigest.
	User, Pass string
	Auth       AuthMethod

	// SecondChallenge: on each connection, the first request that carries
	// valid credentials is answered 401 with a fresh nonce and stale=true
	// (Basic: a plain second 401); the retry succeeds.
	SecondChallenge bool
	// InBandOnly leaves sprop-parameter-sets out of the SDP: SPS/PPS arrive
	// only in band, before each IDR.
	InBandOnly bool
	// BigPackets sends each NAL unit as one RTP packet whatever its size,
	// far over 1472 bytes, as some cameras do over TCP. NAL units too big for
	// one interleaved frame (64 KB) are still fragmented, in 64 KB pieces.
	BigPackets bool
	// MarkerOnParams sets the RTP marker bit on parameter set packets
	// (SPS, PPS; VPS too for H.265), a firmware quirk that fools
	// depacketizers which end frames on it.
	MarkerOnParams bool
}

func (cfg *CameraConfig) validate() error {
	switch {
	case cfg.Path == "":
		return errors.New("empty path")
	case strings.ContainsAny(cfg.Path, "?# \t\r\n"):
		return errors.New("path must be a plain URL path")
	case strings.Contains(cfg.Path, "trackID="):
		return errors.New("path must not contain trackID=, camsim's track control")
	case cfg.Codec != "" && cfg.Codec != "H264" && cfg.Codec != "H265" && cfg.Codec != "JPEG":
		return fmt.Errorf("codec %q: want H264, H265 or JPEG", cfg.Codec)
	case cfg.Clip == "" && cfg.Codec != "JPEG":
		return errors.New("no clip")
	case cfg.Width < 0 || cfg.Height < 0 || cfg.Width > 2040 || cfg.Height > 2040 || cfg.Width%8 != 0 || cfg.Height%8 != 0:
		return fmt.Errorf("size %dx%d: want multiples of 8 up to 2040", cfg.Width, cfg.Height)
	case (cfg.Width == 0) != (cfg.Height == 0):
		return errors.New("set both width and height, or neither")
	case cfg.FPS < 0 || cfg.FPS > 240:
		return fmt.Errorf("fps %d out of range 1..240", cfg.FPS)
	case cfg.Auth < AuthNone || cfg.Auth > AuthDigestQop:
		return fmt.Errorf("unknown auth method %d", int(cfg.Auth))
	case cfg.Auth != AuthNone && cfg.User == "":
		return fmt.Errorf("auth %s needs a user", cfg.Auth)
	case strings.ContainsAny(cfg.User, ":\""):
		return errors.New("user must not contain ':' or '\"'")
	}
	return nil
}

const (
	videoPT         = 96 // dynamic payload type of H.264 and H.265
	jpegPT          = 26 // static payload type of JPEG (RFC 3551)
	audioPT         = 0
	maxPayload      = 1400            // single NAL packets up to this, FU-A above
	maxBigPayload   = 0xffff - rtpHdr // what one interleaved frame can carry
	pcmuPacketBytes = 160             // 20 ms at 8 kHz
	audioPeriod     = 20 * time.Millisecond
	srPeriod        = 2 * time.Second
	rtpHdr          = 12
	ilvHdr          = 4 // interleaved frame header: '$', channel, length
	srLen           = 28
	behindLimit     = time.Second
	ntpEpochOffset  = 2208988800 // seconds from 1900 to 1970
)

// Camera is one simulated camera of a Server. Its methods are safe for
// concurrent use.
type Camera struct {
	s     *Server
	cfg   CameraConfig
	auth  AuthMethod // effective method
	clip  *Clip      // H.264 and H.265
	jpeg  *jpegFrames
	audio *audioClip
	sdp   []byte

	stalled  atomic.Bool
	connects atomic.Uint64
	frames   atomic.Uint64
	vSSRC    atomic.Uint32 // published copies of st.vssrc/st.assrc for SETUP
	aSSRC    atomic.Uint32

	mu       sync.Mutex
	sessions []*session // playing
	conns    map[*rtspConn]struct{}
	down     bool
	removed  bool

	running  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// smu guards st. The clock goroutine holds it while it produces and
	// writes a frame, so Restart never lands in the middle of one.
	smu sync.Mutex
	st  stream
}

// stream is the state of what a camera sends, owned by its clock goroutine
// (and Restart, under smu). Buffers are reused frame after frame.
type stream struct {
	vssrc, assrc uint32
	vseq, aseq   uint16
	vbase, abase uint32
	n            uint64 // frames since (re)start: the RTP timestamp and schedule
	an           uint64 // audio packets since (re)start
	pos, apos    int    // position in the clip and the audio file
	vorigin      time.Time
	aorigin      time.Time
	nextSR       time.Time

	vpt  uint8  // video payload type
	vbuf []byte // the frame's packets, each with room for the interleaved header
	voff []int  // start of each packet in vbuf
	vch  byte   // interleaved channel currently written in vbuf
	sei  []byte
	jsc  jpegScratch
	scan []byte // a JPEG frame's entropy-coded data
	abuf []byte
	sr   []byte
	snap []*session
}

func newCamera(s *Server, cfg CameraConfig, clip *Clip, jpeg *jpegFrames, audio *audioClip) (*Camera, error) {
	c := &Camera{
		s:     s,
		cfg:   cfg,
		auth:  cfg.Auth,
		clip:  clip,
		jpeg:  jpeg,
		audio: audio,
		conns: make(map[*rtspConn]struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	c.st.vpt = videoPT
	if cfg.Codec == "JPEG" {
		c.st.vpt = jpegPT
	}
	if c.auth == AuthNone && cfg.User != "" {
		c.auth = AuthDigest
	}
	sdp, err := c.makeSDP()
	if err != nil {
		return nil, err
	}
	c.sdp = sdp
	if audio != nil {
		c.st.abuf = make([]byte, 0, ilvHdr+rtpHdr+audio.maxPayload())
	}
	c.st.sr = make([]byte, 0, 2*(ilvHdr+srLen))
	c.resetStream()
	return c, nil
}

// inBandH264 is an H.264 format whose fmtp keeps profile-level-id but not
// sprop-parameter-sets, as cameras that send parameter sets only in band do.
type inBandH264 struct {
	*format.H264
	profileLevelID string
}

func (f inBandH264) FMTP() map[string]string {
	return map[string]string{
		"packetization-mode": "1",
		"profile-level-id":   f.profileLevelID,
	}
}

// inBandH265 is an H.265 format with no sprop-vps/sps/pps in its fmtp.
type inBandH265 struct{ *format.H265 }

func (f inBandH265) FMTP() map[string]string { return nil }

func (c *Camera) makeSDP() ([]byte, error) {
	var vf format.Format
	switch c.cfg.Codec {
	case "JPEG":
		vf = &format.MJPEG{}
	case "H265":
		vf = &format.H265{PayloadTyp: videoPT, VPS: c.clip.vps, SPS: c.clip.sps, PPS: c.clip.pps}
		if c.cfg.InBandOnly {
			vf = inBandH265{&format.H265{PayloadTyp: videoPT}}
		}
	default:
		vf = &format.H264{PayloadTyp: videoPT, PacketizationMode: 1, SPS: c.clip.sps, PPS: c.clip.pps}
		if c.cfg.InBandOnly {
			vf = inBandH264{
				H264:           &format.H264{PayloadTyp: videoPT, PacketizationMode: 1},
				profileLevelID: fmt.Sprintf("%02X%02X%02X", c.clip.sps[1], c.clip.sps[2], c.clip.sps[3]),
			}
		}
	}
	desc := description.Session{
		Title: "camsim " + c.cfg.Path,
		Medias: []*description.Media{{
			Type:    description.MediaTypeVideo,
			Control: "trackID=0",
			Formats: []format.Format{vf},
		}},
	}
	if c.audio != nil {
		desc.Medias = append(desc.Medias, &description.Media{
			Type:    description.MediaTypeAudio,
			Control: "trackID=1",
			Formats: []format.Format{c.audio.format()},
		})
	}
	b, err := desc.Marshal(false)
	if err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	return b, nil
}

func (c *Camera) tracks() int {
	if c.audio != nil {
		return 2
	}
	return 1
}

// resetStream starts the stream over as a rebooted camera would: new SSRCs,
// random first sequence numbers and timestamps, the clip from its first
// frame. Callers hold smu or own the camera exclusively.
func (c *Camera) resetStream() {
	st := &c.st
	st.vssrc, st.assrc = rand.Uint32(), rand.Uint32()
	for st.assrc == st.vssrc {
		st.assrc = rand.Uint32()
	}
	st.vseq, st.aseq = uint16(rand.Uint32()), uint16(rand.Uint32())
	st.vbase, st.abase = rand.Uint32(), rand.Uint32()
	st.n, st.an, st.pos, st.apos = 0, 0, 0, 0
	now := time.Now()
	st.vorigin, st.aorigin = now, now
	st.nextSR = now.Add(srPeriod)
	c.vSSRC.Store(st.vssrc)
	c.aSSRC.Store(st.assrc)
}

func (c *Camera) start() {
	c.running.Store(true)
	c.s.wg.Go(c.run)
}

func (c *Camera) stopClock() {
	c.stopOnce.Do(func() { close(c.stop) })
	if c.running.Load() {
		<-c.done
	}
}

func (c *Camera) run() {
	defer close(c.done)
	c.smu.Lock()
	now := time.Now()
	c.st.vorigin, c.st.aorigin, c.st.nextSR = now, now, now.Add(srPeriod)
	c.smu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.smu.Lock()
		next := c.tick(time.Now())
		c.smu.Unlock()
		t.Reset(time.Until(next))
	}
}

func (c *Camera) frameOffset(n uint64) time.Duration {
	return time.Duration(n * uint64(time.Second) / uint64(c.cfg.FPS))
}

// tick sends whatever is due at now and reports when the next thing is.
// Due times derive from an origin and a counter, so pacing does not drift.
func (c *Camera) tick(now time.Time) time.Time {
	st := &c.st
	for {
		due := st.vorigin.Add(c.frameOffset(st.n))
		if now.Before(due) {
			break
		}
		if now.Sub(due) > behindLimit {
			st.vorigin = now.Add(-c.frameOffset(st.n))
		}
		c.sendFrame()
		st.n++
	}
	next := st.vorigin.Add(c.frameOffset(st.n))
	if c.audio != nil {
		for {
			due := st.aorigin.Add(time.Duration(st.an) * c.audio.period())
			if now.Before(due) {
				break
			}
			if now.Sub(due) > behindLimit {
				st.aorigin = now.Add(-time.Duration(st.an) * c.audio.period())
			}
			c.sendAudio()
			st.an++
		}
		if due := st.aorigin.Add(time.Duration(st.an) * c.audio.period()); due.Before(next) {
			next = due
		}
	}
	if !now.Before(st.nextSR) {
		c.sendSR(now)
		st.nextSR = st.nextSR.Add(srPeriod)
		if st.nextSR.Before(now) {
			st.nextSR = now.Add(srPeriod)
		}
	}
	if st.nextSR.Before(next) {
		next = st.nextSR
	}
	return next
}

// snapshot copies the playing sessions so that writes happen outside mu.
func (c *Camera) snapshot() []*session {
	c.mu.Lock()
	c.st.snap = append(c.st.snap[:0], c.sessions...)
	c.mu.Unlock()
	return c.st.snap
}

func appendRTPHeader(b []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) []byte {
	m := pt
	if marker {
		m |= 0x80
	}
	b = append(b, 0x80, m, byte(seq>>8), byte(seq))
	b = binary.BigEndian.AppendUint32(b, ts)
	return binary.BigEndian.AppendUint32(b, ssrc)
}

// beginPacket appends the interleaved and RTP headers of a video packet; the
// caller appends the payload and calls endPacket.
func (st *stream) beginPacket(marker bool, ts uint32) {
	st.voff = append(st.voff, len(st.vbuf))
	st.vbuf = append(st.vbuf, '$', st.vch, 0, 0)
	st.vbuf = appendRTPHeader(st.vbuf, marker, st.vpt, st.vseq, ts, st.vssrc)
	st.vseq++
}

func (st *stream) endPacket() {
	o := st.voff[len(st.voff)-1]
	l := len(st.vbuf) - o - ilvHdr
	st.vbuf[o+2], st.vbuf[o+3] = byte(l>>8), byte(l)
}

// appendNAL packetizes one H.264 NAL unit: a single NAL unit packet when it
// fits, FU-A fragments otherwise (RFC 6184 5.6 and 5.8): FU indicator with
// type 28, FU header with the NAL unit's type.
func (st *stream) appendNAL(nal []byte, marker bool, ts uint32, limit int) {
	if len(nal) <= limit {
		st.appendWhole(nal, marker, ts)
		return
	}
	st.appendFragments(nal[1:], []byte{nal[0]&0xe0 | 28, nal[0] & 0x1f}, marker, ts, limit)
}

// appendNAL265 packetizes one H.265 NAL unit: a single NAL unit packet when
// it fits, fragmentation units otherwise (RFC 7798 4.4.1 and 4.4.3):
// PayloadHdr is the NAL unit's header with type 49, the FU header carries
// the NAL unit's type.
func (st *stream) appendNAL265(nal []byte, marker bool, ts uint32, limit int) {
	if len(nal) <= limit {
		st.appendWhole(nal, marker, ts)
		return
	}
	st.appendFragments(nal[2:], []byte{nal[0]&0x81 | 49<<1, nal[1], (nal[0] >> 1) & 0x3f}, marker, ts, limit)
}

func (st *stream) appendWhole(nal []byte, marker bool, ts uint32) {
	st.beginPacket(marker, ts)
	st.vbuf = append(st.vbuf, nal...)
	st.endPacket()
}

// appendFragments sends a NAL unit's body in fragments that each start with
// hdr, whose last byte (the FU header) gets the S and E bits.
func (st *stream) appendFragments(data, hdr []byte, marker bool, ts uint32, limit int) {
	for first := true; len(data) > 0; first = false {
		n := min(len(data), limit-len(hdr))
		last := n == len(data)
		st.beginPacket(marker && last, ts)
		st.vbuf = append(st.vbuf, hdr...)
		fu := &st.vbuf[len(st.vbuf)-1]
		if first {
			*fu |= 0x80
		}
		if last {
			*fu |= 0x40
		}
		st.vbuf = append(st.vbuf, data[:n]...)
		st.endPacket()
		data = data[n:]
	}
}

// appendJPEG packetizes one JPEG scan (RFC 2435): each packet has the main
// JPEG header with its fragment offset, the first also the quantization
// tables in band (Q 255), the last the marker bit.
func (st *stream) appendJPEG(f *jpegFrames, scan []byte, ts uint32, limit int) {
	typ := byte(sub420)
	if f.sub == sub422 {
		typ = sub422
	}
	for off := 0; off < len(scan) || off == 0; {
		room := limit - 8
		st.beginPacket(false, ts)
		start := len(st.vbuf)
		st.vbuf = append(st.vbuf, 0, byte(off>>16), byte(off>>8), byte(off), typ, 255, byte(f.w/8), byte(f.h/8))
		if off == 0 {
			st.vbuf = append(st.vbuf, 0, 0, 0, 128) // MBZ, precision 8-bit, length
			st.vbuf = append(st.vbuf, f.quant[0][:]...)
			st.vbuf = append(st.vbuf, f.quant[1][:]...)
			room -= 4 + 128
		}
		n := min(room, len(scan)-off)
		st.vbuf = append(st.vbuf, scan[off:off+n]...)
		off += n
		if off == len(scan) {
			st.vbuf[start-rtpHdr+1] |= 0x80 // marker: the frame's last packet
		}
		st.endPacket()
		if off == len(scan) {
			break
		}
	}
}

// sendFrame packetizes the next frame once and writes the same bytes to
// every playing session.
func (c *Camera) sendFrame() {
	st := &c.st
	var au [][]byte
	if c.clip != nil {
		au = c.clip.frames[st.pos]
		if st.pos++; st.pos == len(c.clip.frames) {
			st.pos = 0
		}
	}
	ts := st.vbase + uint32(st.n*90000/uint64(c.cfg.FPS))
	number := c.frames.Add(1) - 1
	if c.stalled.Load() {
		// The encoder keeps running; only the network goes quiet. Sequence
		// numbers do not advance for packets never sent.
		return
	}
	snap := c.snapshot()
	if len(snap) == 0 {
		return // nobody to packetize for: idle cameras cost only their timer
	}
	limit := maxPayload
	if c.cfg.BigPackets {
		limit = maxBigPayload
	}
	st.vbuf, st.voff = st.vbuf[:0], st.voff[:0]
	switch c.cfg.Codec {
	case "JPEG":
		st.scan = c.jpeg.frame(st.scan[:0], &st.jsc, int(number), time.Now().UnixMilli(), false)
		st.appendJPEG(c.jpeg, st.scan, ts, limit)
	case "H265":
		st.sei = codec.AppendH265StampSEI(st.sei[:0], codec.Stamp{SendTime: time.Now().UnixNano(), Frame: number})
		stamped := false
		last := len(au) - 1
		for i, nal := range au {
			typ := (nal[0] >> 1) & 0x3f
			param := typ >= 32 && typ <= 34
			if !stamped && !param {
				st.appendNAL265(st.sei, false, ts, limit)
				stamped = true
			}
			st.appendNAL265(nal, i == last || (param && c.cfg.MarkerOnParams), ts, limit)
		}
	default:
		st.sei = codec.AppendH264StampSEI(st.sei[:0], codec.Stamp{SendTime: time.Now().UnixNano(), Frame: number})
		// The stamp goes after the parameter sets, right before the
		// picture, so that a keyframe still starts with its SPS: readers
		// that join at the keyframe (rings, MediaMTX) keep its stamp.
		stamped := false
		last := len(au) - 1
		for i, nal := range au {
			typ := nal[0] & 0x1f
			param := typ == 7 || typ == 8
			if !stamped && !param {
				st.appendNAL(st.sei, false, ts, limit)
				stamped = true
			}
			st.appendNAL(nal, i == last || (param && c.cfg.MarkerOnParams), ts, limit)
		}
	}
	payload := uint32(len(st.vbuf) - len(st.voff)*(ilvHdr+rtpHdr))
	for _, ss := range snap {
		t := &ss.tracks[0]
		if !t.on || ss.dead.Load() {
			continue
		}
		if ss.tcp {
			if st.vch != t.ch {
				for _, o := range st.voff {
					st.vbuf[o+1] = t.ch
				}
				st.vch = t.ch
			}
			if err := ss.c.writeRaw(st.vbuf); err != nil {
				ss.fail(err)
				continue
			}
		} else {
			for k, o := range st.voff {
				end := len(st.vbuf)
				if k+1 < len(st.voff) {
					end = st.voff[k+1]
				}
				// Loopback UDP drops rather than blocks; a lost datagram is
				// the client's loss to see, not a reason to end the session.
				_, _ = c.s.udpRTP.WriteToUDPAddrPort(st.vbuf[o+ilvHdr:end], t.rtp)
			}
		}
		ss.vPackets += uint32(len(st.voff))
		ss.vOctets += payload
	}
}

func (c *Camera) sendAudio() {
	st := &c.st
	ts := st.abase + uint32(st.an)*c.audio.samples()
	if c.stalled.Load() {
		_, st.apos = c.audio.appendPayload(st.abuf[:0], st.an, st.apos)
		return
	}
	b := appendRTPHeader(st.abuf[:ilvHdr], c.audio.isAAC(), c.audio.payloadType(), st.aseq, ts, st.assrc)
	st.aseq++
	b, st.apos = c.audio.appendPayload(b, st.an, st.apos)
	payload := len(b) - ilvHdr - rtpHdr
	b[0], b[2], b[3] = '$', byte((len(b)-ilvHdr)>>8), byte(len(b)-ilvHdr)
	for _, ss := range c.snapshot() {
		t := &ss.tracks[1]
		if !t.on || ss.dead.Load() {
			continue
		}
		if ss.tcp {
			b[1] = t.ch
			if err := ss.c.writeRaw(b); err != nil {
				ss.fail(err)
				continue
			}
		} else {
			_, _ = c.s.udpRTP.WriteToUDPAddrPort(b[ilvHdr:], t.rtp)
		}
		ss.aPackets++
		ss.aOctets += uint32(payload)
	}
}

// sendSR sends an RTCP sender report per track to every playing session,
// stalled or not: a stalled camera is only visible in its media.
func (c *Camera) sendSR(now time.Time) {
	st := &c.st
	snap := c.snapshot()
	if len(snap) == 0 {
		return
	}
	unix := now.UnixNano()
	sec := uint64(unix/1e9) + ntpEpochOffset
	frac := uint64(unix%1e9) << 32 / 1e9
	ntp := sec<<32 | frac
	vts := st.vbase + uint32(int64(now.Sub(st.vorigin))*9/100000)
	ats := st.abase
	if c.audio != nil {
		ats += uint32(int64(now.Sub(st.aorigin)) * int64(c.audio.rate) / int64(time.Second))
	}
	for _, ss := range snap {
		if ss.dead.Load() {
			continue
		}
		for i := range ss.tracks {
			t := &ss.tracks[i]
			if !t.on {
				continue
			}
			ssrc, ts, pk, oc := st.vssrc, vts, ss.vPackets, ss.vOctets
			if i == 1 {
				ssrc, ts, pk, oc = st.assrc, ats, ss.aPackets, ss.aOctets
			}
			b := append(st.sr[:0], '$', t.ch+1, 0, srLen)
			b = append(b, 0x80, 200, 0, 6) // V=2, no report blocks, SR, length 6 words
			b = binary.BigEndian.AppendUint32(b, ssrc)
			b = binary.BigEndian.AppendUint64(b, ntp)
			b = binary.BigEndian.AppendUint32(b, ts)
			b = binary.BigEndian.AppendUint32(b, pk)
			b = binary.BigEndian.AppendUint32(b, oc)
			if ss.tcp {
				if err := ss.c.writeRaw(b); err != nil {
					ss.fail(err)
					break
				}
			} else {
				_, _ = c.s.udpRTCP.WriteToUDPAddrPort(b[ilvHdr:], t.rtcp)
			}
		}
	}
}

// Drop closes every connection of this camera now, as a network drop does.
func (c *Camera) Drop() {
	c.mu.Lock()
	conns := make([]*rtspConn, 0, len(c.conns))
	for rc := range c.conns {
		conns = append(conns, rc)
	}
	c.mu.Unlock()
	for _, rc := range conns {
		rc.close()
	}
}

// SetDown makes the camera unreachable (down true) or reachable again. While
// down, any request that names its path gets no answer: camsim closes the
// TCP connection, as a client of a vanished camera sees it. Sessions already
// playing are not touched; Drop them to simulate an outage.
func (c *Camera) SetDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// Stall stops (on) or resumes the media while connections stay open, RTSP
// requests are answered and RTCP sender reports keep flowing. The clock keeps
// running, so media resumes at the current frame with a timestamp jump equal
// to the stall.
func (c *Camera) Stall(on bool) { c.stalled.Store(on) }

// Restart simulates a reboot: every connection is dropped and the stream
// comes back (at once; combine with SetDown for an outage) with new SSRCs,
// new random sequence numbers and timestamps, from the clip's first frame.
// FramesSent and the frame numbers in the stamps keep counting.
func (c *Camera) Restart() {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.resetStream()
	c.Drop()
}

// Sessions is the number of sessions currently playing.
func (c *Camera) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// Transports counts the sessions currently playing over TCP and over UDP, so
// tests can tell which transport a client chose.
func (c *Camera) Transports() (tcp, udp int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ss := range c.sessions {
		if ss.tcp {
			tcp++
		} else {
			udp++
		}
	}
	return tcp, udp
}

// Connects is the number of PLAY requests that started a session, ever.
func (c *Camera) Connects() uint64 { return c.connects.Load() }

// FramesSent is the number of video frames the camera's clock produced,
// whether anybody received them or not.
func (c *Camera) FramesSent() uint64 { return c.frames.Load() }

// Path is the camera's URL path.
func (c *Camera) Path() string { return c.cfg.Path }

// Clip is the camera's clip; nil for a JPEG camera.
func (c *Camera) Clip() *Clip { return c.clip }

func (c *Camera) addConn(rc *rtspConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return false
	}
	c.conns[rc] = struct{}{}
	return true
}

func (c *Camera) removeConn(rc *rtspConn) {
	c.mu.Lock()
	delete(c.conns, rc)
	c.mu.Unlock()
}

func (c *Camera) isDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

// play adds a session to the ones the clock writes to.
func (c *Camera) play(ss *session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return false
	}
	c.sessions = append(c.sessions, ss)
	c.connects.Add(1)
	return true
}

func (c *Camera) unplay(ss *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.sessions {
		if x == ss {
			c.sessions = append(c.sessions[:i], c.sessions[i+1:]...)
			// Clear the tail so a dropped session is not kept alive.
			c.sessions[len(c.sessions):cap(c.sessions)][0] = nil
			return
		}
	}
}

// session is one client's stream of one camera. Setup fields are fixed
// before PLAY; the counters belong to the camera's clock goroutine.
type session struct {
	id     string
	cam    *Camera
	c      *rtspConn
	tcp    bool
	tracks [2]trackSetup // 0 video, 1 audio

	playing bool // reader goroutine only
	pending bool // PLAY answered, not yet handed to the camera
	played  bool
	dead    atomic.Bool

	vPackets, vOctets uint32
	aPackets, aOctets uint32
}

type trackSetup struct {
	on        bool
	ch        byte // interleaved RTP channel; RTCP is ch+1
	rtp, rtcp netip.AddrPort
}

// fail ends a session whose connection cannot take what the camera sends,
// leaving the camera's other sessions alone.
func (ss *session) fail(err error) {
	if ss.dead.Swap(true) {
		return
	}
	lvl := slog.LevelInfo
	if errors.Is(err, net.ErrClosed) {
		lvl = slog.LevelDebug // dropped on purpose (Drop, Restart, Close)
	}
	ss.cam.s.log.Log(context.Background(), lvl, "session write failed, closing", "path", ss.cam.cfg.Path, "session", ss.id, "err", err)
	ss.c.close()
}
