package transport

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	psdp "github.com/pion/sdp/v3"

	"github.com/camrelay/camrelay/codec"
)

// trackOf describes the first format of a media as a codec.Track.
func trackOf(m *description.Media, f format.Format) codec.Track {
	t := codec.Track{
		Kind:        codec.Kind(m.Type),
		PayloadType: f.PayloadType(),
		RTPMap:      f.RTPMap(),
		FMTP:        f.FMTP(),
		ClockRate:   f.ClockRate(),
		Codec:       codecName(f),
	}
	if t.RTPMap != "" {
		_, _, t.Channels = codec.ParseRTPMap(t.RTPMap)
	}
	return t
}

// codecName names a format the way rtpmap does, in upper case, including for
// static payload types that have no rtpmap.
func codecName(f format.Format) string {
	switch f := f.(type) {
	case *format.H264:
		return "H264"
	case *format.H265:
		return "H265"
	case *format.MJPEG:
		return "JPEG"
	case *format.G711:
		if f.MULaw {
			return "PCMU"
		}
		return "PCMA"
	case *format.MPEG4Audio:
		return "MPEG4-GENERIC"
	case *format.Opus:
		return "OPUS"
	}
	if f.RTPMap() != "" {
		n, _, _ := codec.ParseRTPMap(f.RTPMap())
		return n
	}
	return f.Codec()
}

// sessionOf rebuilds an announceable description from tracks. Control
// attributes are trackID=N, the form MediaMTX and most servers expect.
func sessionOf(tracks []codec.Track) (*description.Session, error) {
	desc := &description.Session{}
	for i, t := range tracks {
		f, err := formatOf(t)
		if err != nil {
			return nil, fmt.Errorf("track %d (%s): %w", i, t, err)
		}
		desc.Medias = append(desc.Medias, &description.Media{
			Type:    description.MediaType(t.Kind),
			Control: "trackID=" + strconv.Itoa(i),
			Formats: []format.Format{f},
		})
	}
	return desc, nil
}

// formatOf rebuilds a gortsplib format from a track's SDP attributes.
func formatOf(t codec.Track) (format.Format, error) {
	pt := strconv.Itoa(int(t.PayloadType))
	md := &psdp.MediaDescription{MediaName: psdp.MediaName{Media: string(t.Kind), Protos: []string{"RTP", "AVP"}, Formats: []string{pt}}}
	if t.RTPMap != "" {
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "rtpmap", Value: pt + " " + t.RTPMap})
	}
	if len(t.FMTP) != 0 {
		var v strings.Builder
		v.WriteString(pt + " ")
		for i, k := range slices.Sorted(maps.Keys(t.FMTP)) {
			if i > 0 {
				v.WriteByte(';')
			}
			v.WriteString(k + "=" + t.FMTP[k])
		}
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "fmtp", Value: v.String()})
	}
	return format.Unmarshal(md, pt)
}

// Resolution reads the picture size from an H.264 or H.265 SPS NAL unit.
func Resolution(codecName string, sps []byte) (w, h int, ok bool) {
	switch codecName {
	case "H264":
		var s h264.SPS
		if s.Unmarshal(sps) == nil {
			return s.Width(), s.Height(), true
		}
	case "H265":
		var s h265.SPS
		if s.Unmarshal(sps) == nil {
			return s.Width(), s.Height(), true
		}
	}
	return 0, 0, false
}
