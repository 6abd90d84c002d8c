package camsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// audioClip is what a camera's audio track loops: raw G.711 mu-law (a PCMU
// track, PT 0, 8 kHz mono, 20 ms packets), or AAC-LC from an ADTS file (an
// MPEG4-GENERIC track, PT 97, AAC-hbr as RFC 3640 says: one access unit of
// 1024 samples per packet), chosen by the file's extension (.aac or .adts).
type audioClip struct {
	pcmu     []byte
	aus      [][]byte // AAC access units
	maxAU    int
	rate     int
	channels int
	asc      *mpeg4audio.AudioSpecificConfig
}

const (
	aacPT          = 97
	aacFrameLength = 1024 // samples per AAC-LC access unit
	aacAUHeaderLen = 4    // AU-headers-length and one 16-bit AU header
)

// loadAudio reads a camera's audio file.
func loadAudio(path string) (*audioClip, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".aac", ".adts":
		var ps mpeg4audio.ADTSPackets
		if err := ps.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("%s: ADTS: %w", path, err)
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("%s: no AAC frames", path)
		}
		a := &audioClip{rate: ps[0].SampleRate, channels: ps[0].ChannelCount}
		if ps[0].Type != mpeg4audio.ObjectTypeAACLC {
			return nil, fmt.Errorf("%s: AAC object type %d, want AAC-LC (2)", path, ps[0].Type)
		}
		for _, p := range ps {
			if p.SampleRate != a.rate || p.ChannelCount != a.channels {
				return nil, fmt.Errorf("%s: the sample rate or channel count changes mid-file", path)
			}
			if len(p.AU) > 1400-aacAUHeaderLen || len(p.AU) >= 1<<13 {
				return nil, fmt.Errorf("%s: an AAC frame of %d bytes is too big for one packet", path, len(p.AU))
			}
			a.aus = append(a.aus, p.AU)
			a.maxAU = max(a.maxAU, len(p.AU))
		}
		a.asc = &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: a.rate, ChannelCount: a.channels}
		return a, nil
	default:
		if len(b) < pcmuPacketBytes {
			return nil, fmt.Errorf("%s: shorter than one 20 ms packet", path)
		}
		return &audioClip{pcmu: b, rate: 8000, channels: 1}, nil
	}
}

func (a *audioClip) isAAC() bool { return a.aus != nil }

// period is the time one packet carries.
func (a *audioClip) period() time.Duration {
	if a.isAAC() {
		return time.Duration(aacFrameLength) * time.Second / time.Duration(a.rate)
	}
	return audioPeriod
}

// samples is the RTP timestamp increment of one packet.
func (a *audioClip) samples() uint32 {
	if a.isAAC() {
		return aacFrameLength
	}
	return pcmuPacketBytes
}

func (a *audioClip) payloadType() uint8 {
	if a.isAAC() {
		return aacPT
	}
	return audioPT
}

// maxPayload is the largest RTP payload of the track.
func (a *audioClip) maxPayload() int {
	if a.isAAC() {
		return aacAUHeaderLen + a.maxAU
	}
	return pcmuPacketBytes
}

func (a *audioClip) format() format.Format {
	if a.isAAC() {
		return &format.MPEG4Audio{PayloadTyp: aacPT, ProfileLevelID: 1, Config: a.asc,
			SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	}
	return &format.G711{PayloadTyp: audioPT, MULaw: true, SampleRate: 8000, ChannelCount: 1}
}

// appendPayload appends packet n's payload to b, the PCMU position pos
// advancing through the file (looping); it returns the new position.
func (a *audioClip) appendPayload(b []byte, n uint64, pos int) ([]byte, int) {
	if a.isAAC() {
		au := a.aus[n%uint64(len(a.aus))]
		b = append(b, 0x00, 0x10, byte(len(au)>>5), byte(len(au)<<3))
		return append(b, au...), pos
	}
	for want := len(b) + pcmuPacketBytes; len(b) < want; {
		m := min(want-len(b), len(a.pcmu)-pos)
		b = append(b, a.pcmu[pos:pos+m]...)
		if pos += m; pos == len(a.pcmu) {
			pos = 0
		}
	}
	return b, pos
}
