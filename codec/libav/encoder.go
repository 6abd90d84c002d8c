//go:build libav

package libav

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// h264Encoder is libx264 behind libavcodec. It owns its codec context and
// packet, each freed once by close.
type h264Encoder struct {
	cc       *astiav.CodecContext
	pkt      *astiav.Packet
	w, h     int
	sps, pps []byte
}

// x264Options are the encoder settings, as libavcodec options:
//   - tune zerolatency: no frame threads, no lookahead, no B-frames, so
//     each picture comes out as soon as it goes in;
//   - b, maxrate, bufsize: average bitrate with a VBV cap at the same rate
//     and a half-second buffer, so an IDR burst stays short on the link;
//   - g and keyint_min equal, scenecut off: an IDR exactly every GOP frames,
//     where MediaMTX's HLS muxer cuts segments and late viewers start;
//   - repeat-headers with a global header: SPS and PPS before every IDR
//     (a viewer can join at any keyframe) and known at open time for the
//     SDP's sprop-parameter-sets;
//   - threads 1: density over per-camera speed, as for the decoders.
func x264Options(v codec.VideoConfig) [][2]string {
	bitrate := v.Bitrate
	return [][2]string{
		{"preset", v.Preset},
		{"tune", "zerolatency"},
		{"profile", v.Profile},
		{"b", strconv.Itoa(bitrate)},
		{"maxrate", strconv.Itoa(bitrate)},
		{"bufsize", strconv.Itoa(bitrate / 2)},
		{"g", strconv.Itoa(v.GOP)},
		{"keyint_min", strconv.Itoa(v.GOP)},
		{"bf", "0"},
		{"threads", "1"},
		{"x264-params", "scenecut=0:repeat-headers=1:rc-lookahead=0:sync-lookahead=0"},
	}
}

func newH264Encoder(v codec.VideoConfig, w, h int, full bool) (_ *h264Encoder, err error) {
	installLog()
	c := astiav.FindEncoderByName("libx264")
	if c == nil {
		return nil, errors.New("encode video: libav has no libx264 encoder")
	}
	e := &h264Encoder{w: w, h: h}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.cc = astiav.AllocCodecContext(c); e.cc == nil {
		return nil, errors.New("encode video: allocating codec context failed")
	}
	e.cc.SetWidth(w)
	e.cc.SetHeight(h)
	e.cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	e.cc.SetTimeBase(astiav.NewRational(1, 90000))
	e.cc.SetFramerate(astiav.NewRational(v.FPS, 1))
	e.cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	e.cc.SetFlags(e.cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	opts := x264Options(v)
	if full {
		// libx264 writes video_full_range_flag into the SPS's VUI.
		opts = append(opts, [2]string{"color_range", "pc"})
	}
	if err := openWithOptions(e.cc, c, opts); err != nil {
		return nil, fmt.Errorf("encode video: opening libx264 %dx%d: %w", w, h, err)
	}
	if e.pkt = astiav.AllocPacket(); e.pkt == nil {
		return nil, errors.New("encode video: allocating packet failed")
	}
	for nal, rest := codec.NextAnnexB(e.cc.ExtraData()); nal != nil; nal, rest = codec.NextAnnexB(rest) {
		switch nal[0] & 0x1f {
		case 7:
			e.sps = nal
		case 8:
			e.pps = nal
		}
	}
	if len(e.sps) < 4 || e.pps == nil {
		return nil, errors.New("encode video: libx264 gave no SPS/PPS")
	}
	return e, nil
}

// openWithOptions opens cc with options and fails if any of them was not
// recognised (libavcodec leaves those in the dictionary).
func openWithOptions(cc *astiav.CodecContext, c *astiav.Codec, opts [][2]string) error {
	d := astiav.NewDictionary()
	defer d.Free()
	for _, o := range opts {
		if err := d.Set(o[0], o[1], 0); err != nil {
			return fmt.Errorf("option %s=%s: %w", o[0], o[1], err)
		}
	}
	if err := cc.Open(c, d); err != nil {
		return err
	}
	if e := d.Get("", nil, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)); e != nil {
		return fmt.Errorf("option %s not recognised", e.Key())
	}
	return nil
}

// fmtp is the SDP format parameters of the output track.
func (e *h264Encoder) fmtp() map[string]string {
	return map[string]string{
		"packetization-mode":   "1",
		"profile-level-id":     hex.EncodeToString(e.sps[1:4]),
		"sprop-parameter-sets": base64.StdEncoding.EncodeToString(e.sps) + "," + base64.StdEncoding.EncodeToString(e.pps),
	}
}

// send hands a picture to the encoder, stamped pts (90 kHz).
func (e *h264Encoder) send(f *astiav.Frame, pts int64) error {
	f.SetPts(pts)
	f.SetPictureType(astiav.PictureTypeNone)
	if err := e.cc.SendFrame(f); err != nil {
		return fmt.Errorf("encode video: %w", err)
	}
	return nil
}

// receive returns the next encoded access unit (Annex-B, valid until the next
// receive) and its pts, or ok false when the encoder wants more input.
func (e *h264Encoder) receive() (au []byte, pts int64, ok bool, err error) {
	e.pkt.Unref()
	if err := e.cc.ReceivePacket(e.pkt); err != nil {
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil, 0, false, nil
		}
		return nil, 0, false, fmt.Errorf("encode video: %w", err)
	}
	return packetBytes(e.pkt), e.pkt.Pts(), true, nil
}

func (e *h264Encoder) close() {
	if e.pkt != nil {
		e.pkt.Free()
		e.pkt = nil
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc = nil
	}
	e.sps, e.pps = nil, nil
}
