//go:build libav

package libav

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// snapshotQScale is the JPEG quantiser of snapshots (2 best .. 31 worst):
// 3 looks like the picture it came from at a fraction of a PNG's size.
const snapshotQScale = 3

// ffQP2Lambda is libavcodec's FF_QP2LAMBDA: quality values are lambdas.
const ffQP2Lambda = 118

// encodeJPEG encodes a limited-range yuv420p picture as a baseline JPEG
// (full-range yuvj420p, as JPEG decoders expect). Snapshots are rare, so the
// scaler and encoder live only for the call.
func encodeJPEG(src *astiav.Frame) ([]byte, error) {
	return encodeJPEGAs(src, astiav.PixelFormatYuvj420P)
}

// encodeJPEGAs is encodeJPEG with the JPEG's sampling given: yuvj420p,
// yuvj422p or yuvj444p.
func encodeJPEGAs(src *astiav.Frame, pf astiav.PixelFormat) (_ []byte, err error) {
	return encodeJPEGSized(src, pf, src.Width(), src.Height())
}

// encodeJPEGSized is encodeJPEGAs with the picture scaled to w x h.
func encodeJPEGSized(src *astiav.Frame, pf astiav.PixelFormat, w, h int) (_ []byte, err error) {
	installLog()
	var s scaler
	defer s.Close()
	if err := s.reset(src, w, h, pf, true); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	dst := astiav.AllocFrame()
	if dst == nil {
		return nil, errors.New("snapshot: allocating frame failed")
	}
	defer dst.Free()
	dst.SetWidth(w)
	dst.SetHeight(h)
	dst.SetPixelFormat(pf)
	dst.SetColorRange(astiav.ColorRangeJpeg)
	if err := dst.AllocBuffer(0); err != nil {
		return nil, fmt.Errorf("snapshot: allocating %dx%d picture: %w", w, h, err)
	}
	if err := s.scale(src, dst, 0, 0); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}

	c := astiav.FindEncoder(astiav.CodecIDMjpeg)
	if c == nil {
		return nil, errors.New("snapshot: libav has no mjpeg encoder")
	}
	cc := astiav.AllocCodecContext(c)
	if cc == nil {
		return nil, errors.New("snapshot: allocating codec context failed")
	}
	defer cc.Free()
	cc.SetWidth(w)
	cc.SetHeight(h)
	cc.SetPixelFormat(pf)
	cc.SetTimeBase(astiav.NewRational(1, 25))
	cc.SetThreadCount(1)
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagQscale))
	if err := openWithOptions(cc, c, [][2]string{{"global_quality", fmt.Sprint(snapshotQScale * ffQP2Lambda)}}); err != nil {
		return nil, fmt.Errorf("snapshot: opening mjpeg encoder: %w", err)
	}
	setQuality(dst, snapshotQScale*ffQP2Lambda)
	dst.SetPts(0)
	if err := cc.SendFrame(dst); err != nil {
		return nil, fmt.Errorf("snapshot: encoding: %w", err)
	}
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, errors.New("snapshot: allocating packet failed")
	}
	defer pkt.Free()
	if err := cc.ReceivePacket(pkt); err != nil {
		return nil, fmt.Errorf("snapshot: encoding: %w", err)
	}
	return pkt.Data(), nil
}
