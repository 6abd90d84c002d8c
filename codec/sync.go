package codec

// H.264 NAL unit types camrelay looks at (ITU-T H.264 table 7-1, RFC 6184).
const (
	h264NALNonIDR = 1
	h264NALIDR    = 5
	h264NALSEI    = 6
	h264NALSPS    = 7
	h264NALPPS    = 8
	h264NALAUD    = 9
	h264STAPA     = 24
	h264FUA       = 28
)

// H.265 NAL unit types (ITU-T H.265 table 7-1, RFC 7798).
const (
	h265NALBLAWLP    = 16 // first IRAP type
	h265NALRSVIRAP23 = 23 // last IRAP type (reserved)
	h265NALVPS       = 32
	h265NALSPS       = 33
	h265NALPPS       = 34
	h265NALPrefixSEI = 39
	h265AP           = 48
	h265FU           = 49
)

// H264StartsKeyframe reports whether an RTP/H.264 payload carries the start of
// an SPS or an IDR slice, alone, aggregated (STAP-A) or as the first fragment
// (FU-A).
func H264StartsKeyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case h264NALIDR, h264NALSPS:
		return true
	case h264STAPA:
		for q := p[1:]; len(q) > 2; {
			n := int(q[0])<<8 | int(q[1])
			if n == 0 || len(q) < 2+n {
				return false
			}
			if nt := q[2] & 0x1f; nt == h264NALIDR || nt == h264NALSPS {
				return true
			}
			q = q[2+n:]
		}
	case h264FUA:
		if len(p) >= 2 && p[1]&0x80 != 0 {
			nt := p[1] & 0x1f
			return nt == h264NALIDR || nt == h264NALSPS
		}
	}
	return false
}

func h265IsKey(t byte) bool {
	return (t >= h265NALBLAWLP && t <= h265NALRSVIRAP23) || t == h265NALVPS || t == h265NALSPS
}

// H265StartsKeyframe is H264StartsKeyframe for RTP/H.265: VPS, SPS or an IRAP
// slice, alone, in an aggregation packet or as the first fragment.
func H265StartsKeyframe(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch t := (p[0] >> 1) & 0x3f; t {
	case h265AP:
		for q := p[2:]; len(q) > 3; {
			n := int(q[0])<<8 | int(q[1])
			if n < 2 || len(q) < 2+n {
				return false
			}
			if h265IsKey((q[2] >> 1) & 0x3f) {
				return true
			}
			q = q[2+n:]
		}
	case h265FU:
		return len(p) >= 3 && p[2]&0x80 != 0 && h265IsKey(p[2]&0x3f)
	default:
		return h265IsKey(t)
	}
	return false
}

// JPEGStartsFrame reports whether an RTP/JPEG (RFC 2435) payload is the first
// fragment of a frame: its fragment offset is zero.
func JPEGStartsFrame(p []byte) bool {
	return len(p) >= 8 && p[1] == 0 && p[2] == 0 && p[3] == 0
}

// SyncDetector flags, per track, the packets a ring reader may start at: the
// first packet of each keyframe access unit (so that a reader starting there
// gets SPS/PPS before the IDR when the camera sends them), the first packet of
// every JPEG frame, and, for tracks of a stream without video, every packet.
// The zero value flags nothing; set Codec and AlwaysSync.
type SyncDetector struct {
	Codec      string // H264, H265, JPEG; other video codecs are never flagged
	AlwaysSync bool   // audio or data of a stream that has no video
	lastTS     uint32
	seen       bool
}

// IsSync reports whether this packet should carry FlagSync.
func (d *SyncDetector) IsSync(payload []byte, timestamp uint32) bool {
	if d.AlwaysSync {
		return true
	}
	var key bool
	switch d.Codec {
	case "H264":
		key = H264StartsKeyframe(payload)
	case "H265":
		key = H265StartsKeyframe(payload)
	case "JPEG":
		return JPEGStartsFrame(payload)
	}
	if !key {
		return false
	}
	// Several packets of one keyframe may qualify (SPS, then the IDR's first
	// fragment); only the first of the access unit is a starting point.
	if d.seen && timestamp == d.lastTS {
		return false
	}
	d.seen, d.lastTS = true, timestamp
	return true
}

// FindSPS returns the sequence parameter set an RTP/H.264 or RTP/H.265
// payload carries, alone or inside an aggregation packet, or nil. Fragmented
// parameter sets are not reassembled: cameras send them whole.
func FindSPS(codecName string, p []byte) []byte {
	switch codecName {
	case "H264":
		if len(p) < 2 {
			return nil
		}
		switch p[0] & 0x1f {
		case h264NALSPS:
			return p
		case h264STAPA:
			for q := p[1:]; len(q) > 2; {
				n := int(q[0])<<8 | int(q[1])
				if n == 0 || len(q) < 2+n {
					return nil
				}
				if q[2]&0x1f == h264NALSPS {
					return q[2 : 2+n]
				}
				q = q[2+n:]
			}
		}
	case "H265":
		if len(p) < 3 {
			return nil
		}
		switch (p[0] >> 1) & 0x3f {
		case h265NALSPS:
			return p
		case h265AP:
			for q := p[2:]; len(q) > 3; {
				n := int(q[0])<<8 | int(q[1])
				if n < 2 || len(q) < 2+n {
					return nil
				}
				if (q[2]>>1)&0x3f == h265NALSPS {
					return q[2 : 2+n]
				}
				q = q[2+n:]
			}
		}
	}
	return nil
}
