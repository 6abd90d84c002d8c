package codec

import (
	"bytes"
	"encoding/binary"
)

// StampUUID identifies camrelay's send-time stamp in an H.264/H.265 SEI
// user_data_unregistered message. camsim writes one before every frame;
// latency probes read it back downstream.
var StampUUID = [16]byte{'c', 'a', 'm', 'r', 'e', 'l', 'a', 'y', '-', 's', 'e', 'n', 'd', 't', 'i', 'm'}

// Stamp is what a stamp carries: when the frame left the camera (Unix
// nanoseconds) and its number since the camera started.
type Stamp struct {
	SendTime int64
	Frame    uint64
}

const stampPayloadLen = 16 + 8 + 8

// AppendH264StampSEI appends an H.264 SEI NAL unit (without start code) that
// carries s.
func AppendH264StampSEI(dst []byte, s Stamp) []byte {
	return appendStampSEI(append(dst, h264NALSEI), s)
}

// AppendH265StampSEI appends an H.265 prefix SEI NAL unit that carries s.
func AppendH265StampSEI(dst []byte, s Stamp) []byte {
	return appendStampSEI(append(dst, h265NALPrefixSEI<<1, 1), s)
}

func appendStampSEI(dst []byte, s Stamp) []byte {
	var raw [2 + stampPayloadLen]byte
	raw[0] = 5 // payloadType: user_data_unregistered
	raw[1] = stampPayloadLen
	copy(raw[2:], StampUUID[:])
	binary.BigEndian.PutUint64(raw[18:], uint64(s.SendTime))
	binary.BigEndian.PutUint64(raw[26:], s.Frame)
	dst = appendEmulationPrevented(dst, raw[:])
	return append(dst, 0x80) // rbsp_trailing_bits
}

// appendEmulationPrevented appends rbsp with emulation prevention bytes
// inserted, so that no start code appears inside the NAL unit.
func appendEmulationPrevented(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// ParseStampSEI reads a stamp from an H.264 (h265 false) or H.265 SEI NAL
// unit. It reports false for any other NAL unit or SEI message.
func ParseStampSEI(nal []byte, h265 bool) (Stamp, bool) {
	var body []byte
	switch {
	case !h265 && len(nal) > 1 && nal[0]&0x1f == h264NALSEI:
		body = nal[1:]
	case h265 && len(nal) > 2 && (nal[0]>>1)&0x3f == h265NALPrefixSEI:
		body = nal[2:]
	default:
		return Stamp{}, false
	}
	if len(body) > 64 { // ours is 35 bytes; do not unescape big SEI messages
		body = body[:64]
	}
	var raw [64]byte
	n := 0
	zeros := 0
	for _, b := range body {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		raw[n] = b
		n++
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	r := raw[:n]
	if len(r) < 2+stampPayloadLen || r[0] != 5 || r[1] != stampPayloadLen || !bytes.Equal(r[2:18], StampUUID[:]) {
		return Stamp{}, false
	}
	return Stamp{
		SendTime: int64(binary.BigEndian.Uint64(r[18:])),
		Frame:    binary.BigEndian.Uint64(r[26:]),
	}, true
}
