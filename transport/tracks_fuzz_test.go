package transport

import (
	"fmt"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"

	"github.com/camrelay/camrelay/codec"
)

// describeTracks is the path from a DESCRIBE answer's body to the tracks a
// camera session begins with, as the TCP client takes it.
func describeTracks(t *testing.T, body []byte, contentBaseHdr string) ([]codec.Track, *logSink, bool) {
	var ssd sdp.SessionDescription
	if ssd.Unmarshal(body) != nil {
		return nil, nil, false
	}
	var desc description.Session
	if desc.Unmarshal(&ssd) != nil {
		return nil, nil, false
	}
	u, _ := base.ParseURL("rtsp://user:pw@127.0.0.1:554/live/ch0")
	res := &base.Response{StatusCode: base.StatusOK, Header: base.Header{}}
	if contentBaseHdr != "" {
		res.Header["Content-Base"] = base.HeaderValue{contentBaseHdr}
	}
	baseURL, err := contentBase(&ssd, res, u)
	if err == nil && baseURL.User == nil {
		t.Fatal("the base URL lost the credentials")
	}
	sink := &logSink{t: t}
	medias, tracks, err := beginTracks(&desc, 128, sink)
	if err != nil {
		return nil, nil, false
	}
	if len(medias) != len(tracks) || len(tracks) != len(sink.tracks) || len(tracks) > 128 {
		t.Fatalf("%d medias, %d tracks, %d begun", len(medias), len(tracks), len(sink.tracks))
	}
	for i, m := range medias {
		if m.IsBackChannel || len(m.Formats) == 0 {
			t.Fatalf("media %d: back channel or no format", i)
		}
		if baseURL != nil {
			_, _ = m.URL(baseURL)
		}
		tr := tracks[i]
		if tr.Codec == "H264" || tr.Codec == "H265" {
			if sps := spsOf(m); len(sps) > 0 {
				Resolution(tr.Codec, sps)
			}
		}
	}
	return tracks, sink, true
}

// FuzzSDPTracks: any DESCRIBE body (and Content-Base) goes through
// gortsplib's SDP and description parsers to beginTracks without a panic.
// What is accepted survives what the publisher does with it: the tracks
// rebuilt as formats (formatOf), announced as SDP (sessionOf) and read
// back give the same codecs, clock rates and payload types.
func FuzzSDPTracks(f *testing.F) {
	seeds := []string{
		// A Hikvision-like camera: H.264 with parameter sets, a back channel.
		"v=0\r\no=- 1109162014219182 0 IN IP4 0.0.0.0\r\ns=HIK Media Server V3.0.2\r\ni=HIK Media Server Session Description : standard\r\ne=NONE\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\nb=AS:1034\r\na=range:npt=now-\r\nm=video 0 RTP/AVP 96\r\ni=Video Media\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=4D0014;packetization-mode=0;sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==\r\na=control:trackID=video\r\nb=AS:1024\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:trackID=audio\r\na=sendonly\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=backchannel\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\n",
		// H.265, no parameter sets in the SDP (sent in band), absolute control.
		"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=control:rtsp://127.0.0.1:554/live/ch0/\r\nm=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\na=control:rtsp://127.0.0.1:554/live/ch0/track1\r\n",
		// MJPEG (static payload type 26) and AAC.
		"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:track1\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\na=fmtp:97 streamtype=5;profile-level-id=15;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;indexdeltalength=3\r\na=control:track2\r\n",
		// Opus and a dynamic codec gortsplib does not know.
		"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\nm=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000\r\n",
		// Quirks: LF line ends, no s= line, a bad sprop, an empty media.
		"v=0\no=- 0 0 IN IP4 127.0.0.1\nt=0 0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 sprop-parameter-sets=!!!,;packetization-mode=1\nm=video 0 RTP/AVP\n",
		"",
		"v=0\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(seeds[2]), "rtsp://127.0.0.1:554/live/ch0/")
	f.Add([]byte(seeds[2]), "/relative/base/")
	f.Add([]byte(seeds[2]), "rtsp://[::1")
	f.Fuzz(func(t *testing.T, body []byte, cb string) {
		tracks, _, ok := describeTracks(t, body, cb)
		if !ok {
			return
		}
		for i, tr := range tracks {
			fm, err := formatOf(tr)
			if err != nil {
				continue // a track the publisher refuses, with an error
			}
			back := trackOf(&description.Media{Type: description.MediaType(tr.Kind)}, fm)
			if back.Codec != tr.Codec || back.ClockRate != tr.ClockRate || back.PayloadType != tr.PayloadType {
				t.Fatalf("track %d %v rebuilt as %v", i, tr, back)
			}
		}
		desc, err := sessionOf(tracks)
		if err != nil {
			return
		}
		out, err := desc.Marshal(false)
		if err != nil {
			t.Fatalf("the announce of %v does not marshal: %v", tracks, err)
		}
		again, _, ok := describeTracks(t, out, "")
		if !ok || len(again) != len(tracks) {
			t.Fatalf("the announce of %v does not read back:\n%s", tracks, out)
		}
		for i := range tracks {
			a, b := tracks[i], again[i]
			if a.Codec != b.Codec || a.ClockRate != b.ClockRate || a.PayloadType != b.PayloadType || a.Kind != b.Kind {
				t.Fatalf("track %d announced as %v, read back as %v:\n%s", i, a, b, fmt.Sprint(string(out)))
			}
		}
	})
}

func spsOf(m *description.Media) []byte {
	switch f := m.Formats[0].(type) {
	case *format.H264:
		return f.SPS
	case *format.H265:
		return f.SPS
	}
	return nil
}
