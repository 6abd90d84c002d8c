package camsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// Clip is an Annex-B H.264 or H.265 file split into access units. It is
// read-only once loaded, so any number of cameras share one Clip (and its
// memory).
type Clip struct {
	Codec         string // "H264" or "H265"
	Width, Height int    // from the first SPS
	FPS           int    // the rate the clip was loaded for; cameras pace with their own FPS

	vps, sps, pps []byte     // the first parameter sets, for the SDP's sprop-* (no VPS in H.264)
	frames        [][][]byte // access units, each a list of NAL units without start codes
}

// Frames is the number of access units in the clip.
func (c *Clip) Frames() int { return len(c.frames) }

// Frame returns access unit i as NAL units without start codes. The slices
// are shared: do not modify them.
func (c *Clip) Frame(i int) [][]byte { return c.frames[i] }

// LoadClip reads an Annex-B file into access units: H.265 when the name
// ends in .h265, .265 or .hevc, H.264 otherwise. fps <= 0 means 25.
func LoadClip(path string, fps int) (*Clip, error) {
	codec := "H264"
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h265", ".265", ".hevc":
		codec = "H265"
	}
	return LoadClipCodec(path, codec, fps)
}

// LoadClipCodec reads an Annex-B file of the given codec ("H264" or
// "H265") into access units. fps <= 0 means 25.
func LoadClipCodec(path, codec string, fps int) (*Clip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	var c *Clip
	switch codec {
	case "H264":
		c, err = parseClip(b)
	case "H265":
		c, err = parseClipH265(b)
	default:
		return nil, fmt.Errorf("clip %s: codec %q is not H264 or H265", path, codec)
	}
	if err != nil {
		return nil, fmt.Errorf("clip %s: %w", path, err)
	}
	if fps <= 0 {
		fps = 25
	}
	c.FPS = fps
	return c, nil
}

func parseClip(b []byte) (*Clip, error) {
	nalus := splitAnnexB(b)
	if len(nalus) == 0 {
		return nil, errors.New("no Annex-B NAL units")
	}
	c := &Clip{Codec: "H264"}
	var au [][]byte
	auHasVCL := false
	for _, n := range nalus {
		typ := n[0] & 0x1f
		vcl := typ >= 1 && typ <= 5
		// An access unit ends where a picture has been seen and either a
		// non-VCL unit that may only precede a picture (AUD, SPS, PPS, SEI,
		// types 14-18) or the first slice of a new picture follows
		// (first_mb_in_slice == 0 is the single bit '1' in ue(v)).
		if auHasVCL {
			newAU := false
			switch {
			case vcl:
				newAU = len(n) > 1 && n[1]&0x80 != 0
			case typ == 6 || typ == 7 || typ == 8 || typ == 9 || (typ >= 14 && typ <= 18):
				newAU = true
			}
			if newAU {
				c.frames = append(c.frames, au)
				au, auHasVCL = nil, false
			}
		}
		switch typ {
		case 7:
			if c.sps == nil {
				c.sps = n
			}
		case 8:
			if c.pps == nil {
				c.pps = n
			}
		case 9: // access unit delimiters are not sent over RTP (RFC 6184 practice)
			continue
		}
		au = append(au, n)
		auHasVCL = auHasVCL || vcl
	}
	if auHasVCL {
		c.frames = append(c.frames, au)
	}
	if len(c.frames) == 0 {
		return nil, errors.New("no coded pictures")
	}
	if c.sps == nil || c.pps == nil {
		return nil, errors.New("no SPS/PPS")
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("SPS: %w", err)
	}
	c.Width, c.Height = sps.Width(), sps.Height()
	return c, nil
}

// parseClipH265 is parseClip for H.265 (ITU-T H.265 7.4.2.4.4 for where
// access units begin).
func parseClipH265(b []byte) (*Clip, error) {
	nalus := splitAnnexB(b)
	if len(nalus) == 0 {
		return nil, errors.New("no Annex-B NAL units")
	}
	c := &Clip{Codec: "H265"}
	var au [][]byte
	auHasVCL := false
	for _, n := range nalus {
		if len(n) < 2 {
			continue // shorter than a NAL unit header
		}
		typ := (n[0] >> 1) & 0x3f
		vcl := typ < 32
		if auHasVCL {
			newAU := false
			switch {
			case vcl:
				// first_slice_segment_in_pic_flag, the first bit after
				// the two-byte header.
				newAU = len(n) > 2 && n[2]&0x80 != 0
			case typ >= 32 && typ <= 35, typ == 39, typ >= 41 && typ <= 44, typ >= 48 && typ <= 55:
				// VPS, SPS, PPS, AUD, prefix SEI and reserved types may
				// only precede a picture.
				newAU = true
			}
			if newAU {
				c.frames = append(c.frames, au)
				au, auHasVCL = nil, false
			}
		}
		switch typ {
		case 32:
			if c.vps == nil {
				c.vps = n
			}
		case 33:
			if c.sps == nil {
				c.sps = n
			}
		case 34:
			if c.pps == nil {
				c.pps = n
			}
		case 35: // access unit delimiters are not sent over RTP
			continue
		}
		au = append(au, n)
		auHasVCL = auHasVCL || vcl
	}
	if auHasVCL {
		c.frames = append(c.frames, au)
	}
	if len(c.frames) == 0 {
		return nil, errors.New("no coded pictures")
	}
	if c.vps == nil || c.sps == nil || c.pps == nil {
		return nil, errors.New("no VPS/SPS/PPS")
	}
	var sps h265.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("SPS: %w", err)
	}
	c.Width, c.Height = sps.Width(), sps.Height()
	return c, nil
}

// splitAnnexB returns the NAL units of an Annex-B stream, sharing b's memory.
// Trailing zero bytes (trailing_zero_8bits, the first byte of a 4-byte start
// code) are dropped: no NAL unit legitimately needs them.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i+2] > 1 {
			i += 3
			continue
		}
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = appendNALU(out, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		out = appendNALU(out, b[start:])
	}
	return out
}

func appendNALU(out [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return out
	}
	return append(out, n[:len(n):len(n)])
}
