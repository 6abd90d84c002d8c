package codec

// Fragmenter splits an RTP payload larger than a maximum into payloads that
// fit, the way RFC 6184 (H.264 FU-A) and RFC 7798 (H.265 FU) allow: single NAL
// units are fragmented, fragments are cut finer, aggregation packets are
// unpacked. Some cameras send 10 KB RTP packets over TCP; MediaMTX and
// gortsplib want at most 1472 bytes.
//
// Use: Reset, then call Next until it returns false. Each payload returned by
// Next is valid until the following call. A Fragmenter allocates nothing.
type Fragmenter struct {
	buf   [MaxPayload]byte
	codec string
	max   int

	// the NAL unit or fragment being cut
	data     []byte // rest of the NAL unit body still to send
	hdr      [3]byte
	hdrLen   int
	start    bool // next fragment carries the S bit
	end      bool // the last fragment may carry the E bit
	fragging bool

	agg []byte // rest of an aggregation packet still to unpack
	ok  bool
}

// CanFragment reports whether payloads of this codec can be split.
func CanFragment(codecName string) bool { return codecName == "H264" || codecName == "H265" }

// Reset starts splitting p into payloads of at most max bytes (max is capped
// at MaxPayload). It reports false if the codec cannot be split (the caller
// then drops the packet and counts it).
func (f *Fragmenter) Reset(codecName string, p []byte, max int) bool {
	*f = Fragmenter{codec: codecName, max: min(max, MaxPayload)}
	if f.max < 16 || !CanFragment(codecName) || len(p) == 0 {
		return false
	}
	if codecName == "H264" {
		switch p[0] & 0x1f {
		case h264STAPA:
			f.agg = p[1:]
		case h264FUA:
			if len(p) < 2 {
				return false
			}
			f.hdr = [3]byte{p[0], p[1] &^ 0xc0}
			f.hdrLen = 2
			f.start, f.end = p[1]&0x80 != 0, p[1]&0x40 != 0
			f.data, f.fragging = p[2:], true
		default:
			f.setNAL(p) // one-byte NAL units exist (end of sequence, end of stream)
		}
		f.ok = true
		return true
	}
	if len(p) < 2 {
		return false
	}
	switch (p[0] >> 1) & 0x3f {
	case h265AP:
		f.agg = p[2:]
	case h265FU:
		if len(p) < 3 {
			return false
		}
		f.hdr = [3]byte{p[0], p[1], p[2] &^ 0xc0}
		f.hdrLen = 3
		f.start, f.end = p[2]&0x80 != 0, p[2]&0x40 != 0
		f.data, f.fragging = p[3:], true
	default:
		f.setNAL(p)
	}
	f.ok = true
	return true
}

// setNAL prepares one whole NAL unit: sent as is when it fits, otherwise as
// fragments.
func (f *Fragmenter) setNAL(nal []byte) {
	if len(nal) <= f.max {
		f.data, f.fragging = nal, false
		return
	}
	if f.codec == "H264" {
		f.hdr = [3]byte{nal[0]&0xe0 | h264FUA, nal[0] & 0x1f}
		f.hdrLen = 2
		f.data = nal[1:]
	} else {
		f.hdr = [3]byte{nal[0]&0x81 | h265FU<<1, nal[1], (nal[0] >> 1) & 0x3f}
		f.hdrLen = 3
		f.data = nal[2:]
	}
	f.start, f.end, f.fragging = true, true, true
}

// Next returns the next payload and whether it is the last one of the
// original packet (which then takes the original marker bit).
func (f *Fragmenter) Next() (payload []byte, last bool, ok bool) {
	if f.ok {
		if len(f.data) == 0 && !f.nextFromAggregate() {
			f.ok = false
			return nil, false, false
		}
		if !f.fragging {
			payload, f.data = f.data, nil
			return payload, len(f.agg) == 0, true
		}
		n := min(len(f.data), f.max-f.hdrLen)
		b := f.buf[:f.hdrLen+n]
		copy(b, f.hdr[:f.hdrLen])
		copy(b[f.hdrLen:], f.data[:n])
		f.data = f.data[n:]
		fuh := &b[f.hdrLen-1]
		if f.start {
			*fuh |= 0x80
			f.start = false
		}
		if len(f.data) == 0 && f.end {
			*fuh |= 0x40
		}
		return b, len(f.data) == 0 && len(f.agg) == 0, true
	}
	return nil, false, false
}

// nextFromAggregate takes the next NAL unit out of an aggregation packet.
func (f *Fragmenter) nextFromAggregate() bool {
	if !aggregateHasNAL(f.agg) {
		f.agg = nil
		return false
	}
	n := int(f.agg[0])<<8 | int(f.agg[1])
	nal := f.agg[2 : 2+n]
	f.agg = f.agg[2+n:]
	if !aggregateHasNAL(f.agg) {
		// Drop trailing bytes that hold no NAL unit now, so that the last
		// NAL unit is reported last and takes the marker bit.
		f.agg = nil
	}
	f.setNAL(nal)
	return true
}

// aggregateHasNAL reports whether b starts with a size-prefixed NAL unit.
func aggregateHasNAL(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	n := int(b[0])<<8 | int(b[1])
	return n > 0 && len(b) >= 2+n
}
