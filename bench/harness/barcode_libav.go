//go:build libav

package harness

import (
	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
)

// Built with libav: transcoded streams are decoded and their barcodes read.
const haveLibav = true

type libavBarcodes struct{ d *libav.Decoder }

func newBarcodeDecoder() (barcodeDecoder, error) {
	d, err := libav.NewDecoder("H264")
	if err != nil {
		return nil, err
	}
	return &libavBarcodes{d: d}, nil
}

func (b *libavBarcodes) decode(au [][]byte) ([]int64, int, error) {
	pics, err := b.d.Decode(&codec.Frame{Codec: "H264", NALUs: au})
	var codes []int64
	for _, p := range pics {
		if ms, ok := codec.ReadBarcode(p.Y, p.Stride, p.Width, p.Height); ok {
			codes = append(codes, ms)
		}
	}
	return codes, len(pics), err
}

func (b *libavBarcodes) close() { b.d.Close() }
