package bench

import (
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/bench/camsim"
	"github.com/camrelay/camrelay/codec"
)

// PacketizeClip turns a clip into the RTP/H.264 packets a camera would send
// for one pass over it: single NAL unit packets up to maxPayload, FU-A
// beyond, the marker on each frame's last packet, timestamps 90 kHz at the
// clip's frame rate. Payloads are fresh copies.
func PacketizeClip(c *camsim.Clip, maxPayload int) []rtp.Packet {
	var out []rtp.Packet
	var f codec.Fragmenter
	var seq uint16
	step := uint32(90000 / c.FPS)
	for i := 0; i < c.Frames(); i++ {
		nals := c.Frame(i)
		ts := uint32(i) * step
		for j, nal := range nals {
			lastNAL := j == len(nals)-1
			emit := func(payload []byte, last bool) {
				out = append(out, rtp.Packet{
					Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234, Marker: lastNAL && last},
					Payload: append([]byte(nil), payload...),
				})
				seq++
			}
			if len(nal) <= maxPayload {
				emit(nal, true)
				continue
			}
			f.Reset("H264", nal, maxPayload)
			for {
				p, last, ok := f.Next()
				if !ok {
					break
				}
				emit(p, last)
			}
		}
	}
	return out
}
