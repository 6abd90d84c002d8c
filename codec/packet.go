package codec

import (
	"strconv"
	"strings"
)

// Kind is the media type of a track, as SDP names it.
type Kind string

// Track kinds.
const (
	KindVideo       Kind = "video"
	KindAudio       Kind = "audio"
	KindApplication Kind = "application"
)

// Track describes one RTP stream of a source session. It carries what a sink
// needs to announce the stream again (RTPMap and FMTP as the SDP had them) and
// the few facts the relay reasons about (kind, codec, clock rate).
type Track struct {
	Kind        Kind
	Codec       string // upper case, as in the rtpmap: H264, H265, JPEG, PCMU, MPEG4-GENERIC, OPUS...
	ClockRate   int
	Channels    int // audio only; 0 when the SDP does not say
	PayloadType uint8
	RTPMap      string            // "H264/90000"; empty for static payload types without one
	FMTP        map[string]string // nil when absent
}

// SameStream reports whether b can continue a stream announced as a without a
// new ANNOUNCE: same kind, codec, clock rate and channels. Payload types and
// parameter sets may differ: sinks rewrite the one and MediaMTX learns the
// other in band.
func (a Track) SameStream(b Track) bool {
	return a.Kind == b.Kind && a.Codec == b.Codec && a.ClockRate == b.ClockRate && a.Channels == b.Channels
}

// SameTracks reports whether every track of b continues the track of a at the
// same index.
func SameTracks(a, b []Track) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].SameStream(b[i]) {
			return false
		}
	}
	return true
}

// String gives a short form for logs and status: "video H264/90000".
func (a Track) String() string {
	s := string(a.Kind) + " " + a.Codec + "/" + strconv.Itoa(a.ClockRate)
	if a.Channels > 1 {
		s += "/" + strconv.Itoa(a.Channels)
	}
	return s
}

// ParseRTPMap splits an rtpmap value ("MPEG4-GENERIC/48000/2") into codec name
// (upper case), clock rate and channels. Missing parts are zero.
func ParseRTPMap(rtpMap string) (codecName string, clockRate, channels int) {
	parts := strings.Split(rtpMap, "/")
	codecName = strings.ToUpper(strings.TrimSpace(parts[0]))
	if len(parts) > 1 {
		clockRate, _ = strconv.Atoi(strings.TrimSpace(parts[1]))
	}
	if len(parts) > 2 {
		channels, _ = strconv.Atoi(strings.TrimSpace(parts[2]))
	}
	return codecName, clockRate, channels
}

// Flags mark packets that matter to readers of a ring.
type Flags uint8

const (
	// FlagMarker is the RTP marker bit.
	FlagMarker Flags = 1 << iota
	// FlagSync marks a packet a reader may start at: the first packet of a
	// video keyframe (SPS, VPS or IDR), a JPEG frame, or any packet of a
	// stream that has no video.
	FlagSync
)

// Packet is one RTP packet as it moves from a source through the ring to the
// sinks. Header fields are the camera's; sinks rewrite sequence numbers,
// timestamps, SSRC and payload type. Payload is borrowed: whoever receives a
// *Packet copies what it keeps before returning.
type Packet struct {
	// Epoch numbers source sessions; it changes each time the source
	// (re)connects and announces its tracks, so sinks know to rebase.
	Epoch          uint32
	Track          uint8
	Flags          Flags
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	// Received is when the packet came off the camera socket, in nanoseconds
	// of the process clock (see Now); it drives rebasing and latency figures.
	Received int64
	Payload  []byte
}

// Marker reports the RTP marker bit.
func (p *Packet) Marker() bool { return p.Flags&FlagMarker != 0 }

// MaxPayload is the largest RTP payload camrelay moves. MediaMTX re-packetizes
// larger H.264/H.265 payloads but drops them for other codecs, and gortsplib
// refuses RTP packets over 1472 bytes; 1460 + 12 header bytes fits both.
const MaxPayload = 1460
