//go:build libav

package libav

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// videoDecoder decodes one source session's pictures. It owns a codec
// context, a packet and a frame, each freed once by close.
type videoDecoder struct {
	codecName string
	cc        *astiav.CodecContext
	pkt       *astiav.Packet
	frame     *astiav.Frame // the latest picture, valid until the next receive
	annexB    []byte        // reused to rebuild H.264/H.265 access units with start codes
	keySeen   bool          // a keyframe (or parameter sets) arrived this session
}

// decoderNames maps the codec names of codec.Frame to libav decoders.
var decoderIDs = map[string]astiav.CodecID{
	"JPEG": astiav.CodecIDMjpeg,
	"H264": astiav.CodecIDH264,
	"H265": astiav.CodecIDHevc,
}

// newVideoDecoder opens a decoder for codecName. extradata, if any, is
// Annex-B parameter sets known out of band (from the SDP): cameras that send
// them only there need them before the first IDR.
func newVideoDecoder(codecName string, extradata []byte) (_ *videoDecoder, err error) {
	installLog()
	id, ok := decoderIDs[codecName]
	if !ok {
		return nil, fmt.Errorf("decode video: codec %q not supported (JPEG, H264, H265)", codecName)
	}
	c := astiav.FindDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("decode video: libav has no %s decoder", codecName)
	}
	d := &videoDecoder{codecName: codecName}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.cc = astiav.AllocCodecContext(c); d.cc == nil {
		return nil, errors.New("decode video: allocating codec context failed")
	}
	// One thread per camera: an edge box runs many cameras, so parallelism
	// comes from running them side by side, and frame threads would add a
	// frame of delay per thread. Streams without B-frames then come out
	// as they go in; streams with them come out in display order, later.
	d.cc.SetThreadCount(1)
	if len(extradata) > 0 {
		if err := d.cc.SetExtraData(extradata); err != nil {
			return nil, fmt.Errorf("decode video: parameter sets: %w", err)
		}
	}
	if err := d.cc.Open(c, nil); err != nil {
		return nil, fmt.Errorf("decode video: opening %s decoder: %w", c.Name(), err)
	}
	if d.pkt = astiav.AllocPacket(); d.pkt == nil {
		return nil, errors.New("decode video: allocating packet failed")
	}
	if d.frame = astiav.AllocFrame(); d.frame == nil {
		return nil, errors.New("decode video: allocating frame failed")
	}
	return d, nil
}

// errNotJPEG reports input that cannot be a whole JPEG image. libav's mjpeg
// decoder conceals a truncated image instead of failing, and allocates for
// whatever size a damaged header claims, so a frame that fails the
// structural check is refused before it gets there.
var errNotJPEG = errors.New("decode video: not a whole JPEG image")

// errNoKeyframe reports an H.264/H.265 frame before the session's first
// keyframe: it cannot be decoded and is skipped.
var errNoKeyframe = errors.New("decode video: waiting for a keyframe")

// send hands one frame to the decoder. Its PTS (nanoseconds) comes back on
// the decoded picture.
func (d *videoDecoder) send(f *codec.Frame) error {
	var data []byte
	switch d.codecName {
	case "JPEG":
		if !wholeJPEG(f.JPEG) {
			return errNotJPEG
		}
		data = f.JPEG
	default:
		if !d.keySeen {
			if !hasKeyframe(d.codecName, f.NALUs) {
				return errNoKeyframe
			}
			d.keySeen = true
		}
		d.annexB = d.annexB[:0]
		for _, n := range f.NALUs {
			if len(n) > 0 {
				d.annexB = append(d.annexB, 0, 0, 0, 1)
				d.annexB = append(d.annexB, n...)
			}
		}
		data = d.annexB
	}
	if len(data) == 0 {
		return errors.New("decode video: empty frame")
	}
	// A copy into a libav buffer: the decoder may keep referencing it
	// after this call.
	if err := fillPacket(d.pkt, data); err != nil {
		return fmt.Errorf("decode video: packet: %w", err)
	}
	d.pkt.SetPts(int64(f.PTS))
	d.pkt.SetDts(int64(f.PTS))
	err := d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil {
		return fmt.Errorf("decode video: %s: %w", d.codecName, err)
	}
	return nil
}

// receive makes d.frame the next decoded picture. It reports false when the
// decoder needs more input; a picture the decoder flagged as damaged is an
// error.
func (d *videoDecoder) receive() (bool, error) {
	d.frame.Unref()
	if err := d.cc.ReceiveFrame(d.frame); err != nil {
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return false, nil
		}
		return false, fmt.Errorf("decode video: %s: %w", d.codecName, err)
	}
	if frameCorrupt(d.frame) {
		d.frame.Unref()
		return false, errors.New("decode video: " + d.codecName + ": picture damaged")
	}
	return true, nil
}

func (d *videoDecoder) close() {
	if d.frame != nil {
		d.frame.Free()
		d.frame = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
}

// wholeJPEG reports whether b is a structurally whole JPEG (codec's
// JPEGScanner: SOI, sane segments and size, entropy data up to EOI; bytes
// after EOI are allowed, as some cameras pad).
func wholeJPEG(b []byte) bool {
	var s codec.JPEGScanner
	n, err := s.Next(b)
	return err == nil && n > 0
}

// hasKeyframe reports whether an access unit can start decoding: an IDR or
// IRAP picture, or parameter sets (which precede one in camera streams).
func hasKeyframe(codecName string, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if codecName == "H264" {
			if t := n[0] & 0x1f; t == 5 || t == 7 {
				return true
			}
		} else if t := (n[0] >> 1) & 0x3f; (t >= 16 && t <= 23) || t == 32 || t == 33 {
			return true
		}
	}
	return false
}

// Decoder decodes H.264, H.265 or JPEG frames to pictures. Tests and the
// benchmark harness use it to read back what camrelay published: picture
// size, frame count, pixel barcodes in the luma plane.
type Decoder struct {
	d    *videoDecoder
	pics []Picture
	bufs [][]byte
}

// NewDecoder makes a decoder for "H264", "H265" or "JPEG" frames.
func NewDecoder(codecName string) (*Decoder, error) {
	d, err := newVideoDecoder(codecName, nil)
	if err != nil {
		return nil, err
	}
	// The reader wants every picture, keyframe or not: a stream that starts
	// mid-GOP is an error the caller should see.
	d.keySeen = true
	return &Decoder{d: d}, nil
}

// Decode decodes one frame and returns the pictures it completed (none
// while a decoder with delay fills up, usually one). The pictures' Y slices
// are owned by the Decoder and valid until the next Decode or Close: copy
// what must live longer. A frame the decoder rejects, or a picture it
// reports damaged, is an error; decoding can go on with the next frame.
func (d *Decoder) Decode(f *codec.Frame) ([]Picture, error) {
	if d.d == nil {
		return nil, errors.New("decode video: decoder closed")
	}
	d.pics = d.pics[:0]
	if err := d.d.send(f); err != nil {
		return nil, err
	}
	for {
		ok, err := d.d.receive()
		if err != nil {
			return d.pics, err
		}
		if !ok {
			return d.pics, nil
		}
		fr := d.d.frame
		w, h := fr.Width(), fr.Height()
		y, stride := plane(fr, 0, h)
		i := len(d.pics)
		if i == len(d.bufs) {
			d.bufs = append(d.bufs, nil)
		}
		d.bufs[i] = append(d.bufs[i][:0], y...)
		d.pics = append(d.pics, Picture{Y: d.bufs[i], Stride: stride, Width: w, Height: h})
	}
}

// Close frees the decoder. It is safe to call more than once.
func (d *Decoder) Close() {
	if d.d != nil {
		d.d.close()
		d.d = nil
	}
}

// parameterSets returns the out-of-band parameter sets of a track's SDP
// format parameters as Annex-B, or nil: sprop-parameter-sets for H.264,
// sprop-vps, sprop-sps and sprop-pps for H.265.
func parameterSets(tr codec.Track) []byte {
	var keys []string
	switch tr.Codec {
	case "H264":
		keys = []string{"sprop-parameter-sets"}
	case "H265":
		keys = []string{"sprop-vps", "sprop-sps", "sprop-pps"}
	}
	var out []byte
	for _, k := range keys {
		v, _ := fmtpValue(tr.FMTP, k)
		for _, p := range strings.Split(v, ",") {
			nal, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p))
			if err != nil || len(nal) == 0 {
				continue
			}
			out = append(out, 0, 0, 0, 1)
			out = append(out, nal...)
		}
	}
	return out
}
