package libav

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RFC 3640 (mpeg4-generic) AAC in RTP, AAC-hbr mode: each packet starts with
// a 16-bit AU-headers-length (in bits), then one AU header per access unit
// (size and index fields), padded to a byte, then the access units.

// aacParams are the SDP format parameters of an AAC track.
type aacParams struct {
	sizeLength, indexLength, indexDeltaLength int
	config                                    []byte // AudioSpecificConfig
}

// fmtpValue looks a format parameter up case-insensitively: SDPs write
// sizeLength and sizelength alike.
func fmtpValue(fmtp map[string]string, key string) (string, bool) {
	if v, ok := fmtp[key]; ok {
		return v, true
	}
	for k, v := range fmtp {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// parseAACParams reads an input AAC track's format parameters.
func parseAACParams(fmtp map[string]string) (aacParams, error) {
	p := aacParams{sizeLength: 13, indexLength: 3, indexDeltaLength: 3}
	for _, f := range []struct {
		key string
		dst *int
	}{{"sizelength", &p.sizeLength}, {"indexlength", &p.indexLength}, {"indexdeltalength", &p.indexDeltaLength}} {
		if v, ok := fmtpValue(fmtp, f.key); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > 16 {
				return p, fmt.Errorf("aac: fmtp %s=%q", f.key, v)
			}
			*f.dst = n
		}
	}
	if p.sizeLength == 0 {
		return p, errors.New("aac: fmtp sizelength=0 (constant-size AUs are not supported)")
	}
	v, ok := fmtpValue(fmtp, "config")
	if !ok {
		return p, errors.New("aac: fmtp has no config")
	}
	cfg, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(cfg) < 2 {
		return p, fmt.Errorf("aac: fmtp config=%q is not an AudioSpecificConfig", v)
	}
	p.config = cfg
	return p, nil
}

// aacDepacketizer takes access units out of RFC 3640 payloads, joining
// fragments of one AU spread over several packets.
type aacDepacketizer struct {
	p    aacParams
	aus  [][]byte
	frag []byte // the fragmented AU so far
	want int    // its size from the AU header; 0 when none is open
}

// unpack returns the whole access units that payload completes, valid until
// the next call.
func (d *aacDepacketizer) unpack(payload []byte, marker bool) ([][]byte, error) {
	d.aus = d.aus[:0]
	if len(payload) < 2 {
		return nil, errors.New("aac: payload too short")
	}
	hdrBits := int(payload[0])<<8 | int(payload[1])
	hdrBytes := (hdrBits + 7) / 8
	if 2+hdrBytes > len(payload) {
		return nil, errors.New("aac: AU headers longer than the payload")
	}
	hdr, data := payload[2:2+hdrBytes], payload[2+hdrBytes:]
	var sizes [64]int
	n := 0
	for pos, first := 0, true; pos < hdrBits; first = false {
		idx := d.p.indexDeltaLength
		if first {
			idx = d.p.indexLength
		}
		if pos+d.p.sizeLength+idx > hdrBits || n == len(sizes) {
			return nil, errors.New("aac: bad AU headers")
		}
		sizes[n] = readBits(hdr, pos, d.p.sizeLength)
		n++
		pos += d.p.sizeLength + idx
	}
	if n == 1 && sizes[0] > len(data) {
		// A fragment of an AU larger than a packet; the marker ends it.
		if d.want != sizes[0] {
			d.frag, d.want = d.frag[:0], sizes[0]
		}
		d.frag = append(d.frag, data...)
		if !marker {
			return nil, nil
		}
		w := d.want
		d.want = 0
		if len(d.frag) != w {
			return nil, fmt.Errorf("aac: fragmented AU of %d bytes, header says %d", len(d.frag), w)
		}
		d.aus = append(d.aus, d.frag)
		return d.aus, nil
	}
	d.want = 0
	for _, s := range sizes[:n] {
		if s > len(data) {
			return d.aus, errors.New("aac: AU longer than the payload")
		}
		d.aus = append(d.aus, data[:s])
		data = data[s:]
	}
	return d.aus, nil
}

// readBits reads n bits (n <= 16) at bit offset pos, most significant first.
func readBits(b []byte, pos, n int) int {
	v := 0
	for i := 0; i < n; i++ {
		bit := (b[(pos+i)/8] >> (7 - uint((pos+i)%8))) & 1
		v = v<<1 | int(bit)
	}
	return v
}

// aacHeaderLen is the 2-byte AU-headers-length plus one 16-bit AU header
// (13-bit size, 3-bit index), what our output always uses.
const aacHeaderLen = 4

// aacFragment writes into buf the RTP payload carrying au[off:] (at most
// maxPayload bytes) and returns it with the offset of what is left; the AU
// header always gives the whole AU's size, as RFC 3640 asks of fragments.
func aacFragment(buf, au []byte, off, maxPayload int) (payload []byte, next int) {
	n := min(len(au)-off, maxPayload-aacHeaderLen)
	size := len(au)
	buf = append(buf[:0], 0x00, 0x10, byte(size>>5), byte(size<<3))
	buf = append(buf, au[off:off+n]...)
	return buf, off + n
}

// aacFMTP is the format parameters of an AAC output track (AAC-hbr).
func aacFMTP(config []byte) map[string]string {
	return map[string]string{
		"streamtype":       "5",
		"profile-level-id": "1",
		"mode":             "AAC-hbr",
		"sizelength":       "13",
		"indexlength":      "3",
		"indexdeltalength": "3",
		"config":           hex.EncodeToString(config),
	}
}

// tsUnwrap turns 32-bit RTP timestamps into a 64-bit count from the first
// one, across wraps and small reorderings.
type tsUnwrap struct {
	started bool
	last    uint32
	acc     int64
}

func (u *tsUnwrap) next(ts uint32) int64 {
	if !u.started {
		u.started, u.last = true, ts
		return 0
	}
	u.acc += int64(int32(ts - u.last))
	u.last = ts
	return u.acc
}
