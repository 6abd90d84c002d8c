package codec

import "bytes"

// DefaultH264MaxPayload is the payload size H264Packetizer cuts at when
// MaxPayload is zero: under MaxPayload with room for RTP header extensions
// and the SRTP tag that a WebRTC hop may add downstream.
const DefaultH264MaxPayload = 1400

// H264Packetizer turns encoded H.264 access units into RTP packets (RFC 6184,
// packetization-mode 1): a NAL unit that fits goes out as a single NAL unit
// packet, a larger one as FU-A fragments. The last packet of an access unit
// carries the marker bit; the first packet of an access unit that holds an IDR
// slice carries FlagSync, so a ring reader starting there gets the SPS and PPS
// an encoder puts first. Sequence numbers increase by one per packet across
// access units.
//
// The zero value works (payload type 0, track 0, 1400-byte payloads); set the
// exported fields before the first access unit. It allocates nothing per
// packet: the Packet handed to the writer is reused and its payload is
// borrowed, as PacketWriter allows.
type H264Packetizer struct {
	MaxPayload  int // largest RTP payload; 0 means DefaultH264MaxPayload; capped at codec.MaxPayload
	PayloadType uint8
	Track       uint8
	Epoch       uint32 // copied into every packet (rings replace it with their own)

	seq  uint16
	pkt  Packet
	frag Fragmenter
}

// SetSequenceNumber sets the sequence number of the next packet.
func (z *H264Packetizer) SetSequenceNumber(seq uint16) { z.seq = seq }

// SequenceNumber is the sequence number the next packet will carry.
func (z *H264Packetizer) SequenceNumber() uint16 { return z.seq }

// WriteAU writes one access unit, given as NAL units without start codes, at
// the RTP timestamp ts (90 kHz). received is copied into every packet's
// Received. It returns the number of packets written. Empty NAL units are
// skipped.
func (z *H264Packetizer) WriteAU(w PacketWriter, nalus [][]byte, ts uint32, received int64) int {
	idr := false
	last := -1
	for i, n := range nalus {
		if len(n) == 0 {
			continue
		}
		last = i
		idr = idr || n[0]&0x1f == h264NALIDR
	}
	n := 0
	for i, nal := range nalus {
		if len(nal) == 0 {
			continue
		}
		n += z.writeNAL(w, nal, ts, received, idr && n == 0, i == last)
	}
	return n
}

// WriteAnnexB is WriteAU for an access unit in Annex-B form (start codes
// before each NAL unit), as encoders such as libx264 produce it.
func (z *H264Packetizer) WriteAnnexB(w PacketWriter, au []byte, ts uint32, received int64) int {
	idr := false
	for rest := au; ; {
		var nal []byte
		if nal, rest = NextAnnexB(rest); nal == nil {
			break
		}
		if nal[0]&0x1f == h264NALIDR {
			idr = true
			break
		}
	}
	n := 0
	nal, rest := NextAnnexB(au)
	for nal != nil {
		next, after := NextAnnexB(rest)
		n += z.writeNAL(w, nal, ts, received, idr && n == 0, next == nil)
		nal, rest = next, after
	}
	return n
}

// writeNAL sends one NAL unit, whole or as FU-A fragments.
func (z *H264Packetizer) writeNAL(w PacketWriter, nal []byte, ts uint32, received int64, sync, lastOfAU bool) int {
	maxp := z.MaxPayload
	if maxp <= 0 {
		maxp = DefaultH264MaxPayload
	}
	maxp = min(maxp, MaxPayload)
	p := &z.pkt
	p.Epoch, p.Track, p.PayloadType = z.Epoch, z.Track, z.PayloadType
	p.Timestamp, p.Received = ts, received
	if len(nal) <= maxp {
		p.Flags = 0
		if sync {
			p.Flags |= FlagSync
		}
		if lastOfAU {
			p.Flags |= FlagMarker
		}
		p.SequenceNumber = z.seq
		z.seq++
		p.Payload = nal
		w.WritePacket(p)
		return 1
	}
	// Fragmenter cuts a single NAL unit into FU-A fragments without
	// allocating; its payloads live in its own buffer until the next call.
	z.frag.Reset("H264", nal, maxp)
	n := 0
	for {
		payload, last, ok := z.frag.Next()
		if !ok {
			break
		}
		p.Flags = 0
		if sync && n == 0 {
			p.Flags |= FlagSync
		}
		if last && lastOfAU {
			p.Flags |= FlagMarker
		}
		p.SequenceNumber = z.seq
		z.seq++
		p.Payload = payload
		w.WritePacket(p)
		n++
	}
	return n
}

// NextAnnexB returns the first NAL unit of an Annex-B byte stream (without
// its start code and trailing zero bytes) and the rest of the stream after
// it. nal is nil when b holds no more NAL units. It allocates nothing.
func NextAnnexB(b []byte) (nal, rest []byte) {
	for {
		i := bytes.Index(b, annexBStart)
		if i < 0 {
			return nil, nil
		}
		b = b[i+3:]
		end := bytes.Index(b, annexBStart)
		if end < 0 {
			end = len(b)
		}
		nal, rest = b[:end], b[end:]
		// Zero bytes before the next start code are the first byte of a
		// 4-byte start code or trailing_zero_8bits; a NAL unit itself
		// never ends in a zero byte (rbsp_stop_one_bit).
		for len(nal) > 0 && nal[len(nal)-1] == 0 {
			nal = nal[:len(nal)-1]
		}
		if len(nal) > 0 {
			return nal, rest
		}
		b = rest
	}
}

var annexBStart = []byte{0, 0, 1}
