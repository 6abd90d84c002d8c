//go:build libav

package libav

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"

	"github.com/camrelay/camrelay/codec"
)

// audioOutRate is the sample rate of encoded audio: Opus in RTP is always
// 48 kHz, and AAC at 48 kHz is what HLS players expect.
const audioOutRate = 48000

// audioMaxPayload keeps audio RTP payloads within what gortsplib and
// MediaMTX pass for codecs they do not re-packetize.
const audioMaxPayload = 1400

// audioPath is the audio half of a transcoder: it copies, drops or
// re-encodes the source's audio track into output track 1.
//
// Ownership: the decoder, its packet and frame, the filter graph and the
// filtered frame belong to the source session (closeSession frees them);
// the encoder and its packet live as long as the transcoder (close), so the
// output track and its timeline survive a reconnect.
type audioPath struct {
	mode   string
	epoch  uint32
	inIdx  int  // the input audio track's index in the session
	active bool // the session has an audio output track
	out    codec.Track

	// session
	inCodec  string
	inRate   int
	dec      *astiav.CodecContext
	decPkt   *astiav.Packet
	decFrame *astiav.Frame
	graph    *astiav.FilterGraph
	src      *astiav.FilterContext
	sink     *astiav.FilterContext
	filt     *astiav.Frame
	aac      aacDepacketizer
	unwrap   tsUnwrap
	started  bool  // the session's first packet arrived
	sessBase int64 // output pts (audioOutRate) of the session's first sample

	// transcoder's life
	enc       *astiav.CodecContext
	encPkt    *astiav.Packet
	channels  int
	frameSize int
	lastEnd   int64 // output pts after the last encoded frame
	written   bool

	seq  uint16
	pkt  codec.Packet
	buf  []byte
	recv int64 // Received of the packet being processed
}

// audioDecoders maps input RTP codec names to libav decoders.
var audioDecoders = map[string]astiav.CodecID{
	"PCMU":          astiav.CodecIDPcmMulaw,
	"PCMA":          astiav.CodecIDPcmAlaw,
	"MPEG4-GENERIC": astiav.CodecIDAac,
	"OPUS":          astiav.CodecIDOpus,
}

// begin sets up a session's audio for the input track in (nil when the
// source has none) at index idx, and returns the output track, if any.
func (a *audioPath) begin(in *codec.Track, idx int) (*codec.Track, error) {
	a.closeSession()
	a.active = false
	if in == nil || a.mode == codec.AudioDrop {
		return nil, nil
	}
	a.inIdx = idx
	if a.mode == codec.AudioCopy {
		a.out = *in
		a.active = true
		return &a.out, nil
	}
	if err := a.openDecoder(in); err != nil {
		a.closeSession()
		return nil, err
	}
	if a.enc == nil {
		if err := a.openEncoder(); err != nil {
			a.closeSession()
			return nil, err
		}
	}
	a.active = true
	return &a.out, nil
}

// openDecoder prepares decoding of the input track.
func (a *audioPath) openDecoder(in *codec.Track) error {
	id, ok := audioDecoders[in.Codec]
	if !ok {
		return fmt.Errorf("audio: cannot decode %s (PCMU, PCMA, MPEG4-GENERIC, OPUS)", in.Codec)
	}
	c := astiav.FindDecoder(id)
	if c == nil {
		return fmt.Errorf("audio: libav has no %s decoder", in.Codec)
	}
	if a.dec = astiav.AllocCodecContext(c); a.dec == nil {
		return errors.New("audio: allocating decoder failed")
	}
	rate, ch := in.ClockRate, in.Channels
	switch in.Codec {
	case "PCMU", "PCMA":
		if rate <= 0 {
			rate = 8000
		}
	case "OPUS":
		// RFC 7587: the SDP always says 48000/2; the decoder mixes mono
		// packets up.
		rate, ch = 48000, 2
	case "MPEG4-GENERIC":
		p, err := parseAACParams(in.FMTP)
		if err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		a.aac = aacDepacketizer{p: p}
		if err := a.dec.SetExtraData(p.config); err != nil {
			return fmt.Errorf("audio: aac config: %w", err)
		}
	}
	if rate <= 0 {
		return fmt.Errorf("audio: %s track without a clock rate", in.Codec)
	}
	ch = min(max(ch, 1), 2)
	a.dec.SetSampleRate(rate)
	if ch == 2 {
		a.dec.SetChannelLayout(astiav.ChannelLayoutStereo)
	} else {
		a.dec.SetChannelLayout(astiav.ChannelLayoutMono)
	}
	a.dec.SetThreadCount(1)
	if err := a.dec.Open(c, nil); err != nil {
		return fmt.Errorf("audio: opening %s decoder: %w", in.Codec, err)
	}
	if a.decPkt = astiav.AllocPacket(); a.decPkt == nil {
		return errors.New("audio: allocating packet failed")
	}
	if a.decFrame = astiav.AllocFrame(); a.decFrame == nil {
		return errors.New("audio: allocating frame failed")
	}
	if a.filt = astiav.AllocFrame(); a.filt == nil {
		return errors.New("audio: allocating frame failed")
	}
	a.inCodec, a.inRate = in.Codec, rate
	if a.channels == 0 {
		a.channels = ch // the encoder, opened once, follows the first source
	}
	return nil
}

// openEncoder opens the Opus or AAC encoder and sets the output track.
func (a *audioPath) openEncoder() (err error) {
	name, sf := "libopus", astiav.SampleFormatS16
	if a.mode == codec.AudioAAC {
		name, sf = "aac", astiav.SampleFormatFltp
	}
	c := astiav.FindEncoderByName(name)
	if c == nil {
		return fmt.Errorf("audio: libav has no %s encoder", name)
	}
	defer func() {
		if err != nil {
			a.closeEncoder()
		}
	}()
	if a.enc = astiav.AllocCodecContext(c); a.enc == nil {
		return errors.New("audio: allocating encoder failed")
	}
	a.enc.SetSampleRate(audioOutRate)
	a.enc.SetSampleFormat(sf)
	if a.channels == 2 {
		a.enc.SetChannelLayout(astiav.ChannelLayoutStereo)
	} else {
		a.enc.SetChannelLayout(astiav.ChannelLayoutMono)
	}
	a.enc.SetTimeBase(astiav.NewRational(1, audioOutRate))
	a.enc.SetThreadCount(1)
	// 32 kbit/s per channel for Opus (transparent for camera microphones),
	// 64 kbit/s per channel for AAC-LC.
	bitrate := 32000 * a.channels
	if a.mode == codec.AudioAAC {
		bitrate = 64000 * a.channels
	}
	a.enc.SetBitRate(int64(bitrate))
	if err := a.enc.Open(c, nil); err != nil {
		return fmt.Errorf("audio: opening %s encoder: %w", name, err)
	}
	if a.encPkt = astiav.AllocPacket(); a.encPkt == nil {
		return errors.New("audio: allocating packet failed")
	}
	a.frameSize = a.enc.FrameSize()
	if a.frameSize <= 0 {
		return fmt.Errorf("audio: %s encoder has no frame size", name)
	}
	if a.mode == codec.AudioAAC {
		cfg := a.enc.ExtraData()
		if len(cfg) < 2 {
			return errors.New("audio: aac encoder gave no AudioSpecificConfig")
		}
		a.out = codec.Track{
			Kind: codec.KindAudio, Codec: "MPEG4-GENERIC", ClockRate: audioOutRate, Channels: a.channels,
			PayloadType: audioPayloadType, RTPMap: "MPEG4-GENERIC/48000/" + strconv.Itoa(a.channels),
			FMTP: aacFMTP(cfg),
		}
	} else {
		stereo := "0"
		if a.channels == 2 {
			stereo = "1"
		}
		a.out = codec.Track{
			Kind: codec.KindAudio, Codec: "OPUS", ClockRate: audioOutRate, Channels: 2,
			PayloadType: audioPayloadType, RTPMap: "OPUS/48000/2",
			FMTP: map[string]string{"sprop-stereo": stereo},
		}
	}
	return nil
}

// openGraph builds the filter graph that resamples decoded audio to the
// encoder's rate, format and layout and cuts it into frames of the encoder's
// frame size; built at the first decoded frame, whose format it takes.
func (a *audioPath) openGraph(f *astiav.Frame) error {
	if a.graph = astiav.AllocFilterGraph(); a.graph == nil {
		return errors.New("audio: allocating filter graph failed")
	}
	a.graph.SetThreadCount(1)
	abuffer, abuffersink := astiav.FindFilterByName("abuffer"), astiav.FindFilterByName("abuffersink")
	if abuffer == nil || abuffersink == nil {
		return errors.New("audio: libav has no abuffer/abuffersink filters")
	}
	var err error
	if a.src, err = a.graph.NewFilterContext(abuffer, "in", astiav.FilterArgs{
		"time_base":      "1/" + strconv.Itoa(a.inRate),
		"sample_rate":    strconv.Itoa(f.SampleRate()),
		"sample_fmt":     f.SampleFormat().Name(),
		"channel_layout": f.ChannelLayout().String(),
	}); err != nil {
		return fmt.Errorf("audio: abuffer: %w", err)
	}
	if a.sink, err = a.graph.NewFilterContext(abuffersink, "out", nil); err != nil {
		return fmt.Errorf("audio: abuffersink: %w", err)
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	if outputs == nil || inputs == nil {
		return errors.New("audio: allocating filter in/out failed")
	}
	outputs.SetName("in")
	outputs.SetFilterContext(a.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(a.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	layout := "mono"
	if a.channels == 2 {
		layout = "stereo"
	}
	desc := fmt.Sprintf("aresample=%d,aformat=sample_fmts=%s:channel_layouts=%s,asetnsamples=n=%d:p=0",
		audioOutRate, a.enc.SampleFormat().Name(), layout, a.frameSize)
	if err := a.graph.Parse(desc, inputs, outputs); err != nil {
		return fmt.Errorf("audio: filter %q: %w", desc, err)
	}
	if err := a.graph.Configure(); err != nil {
		return fmt.Errorf("audio: configuring filters: %w", err)
	}
	return nil
}

// write takes one input RTP packet of the session.
func (a *audioPath) write(out codec.PacketWriter, p *codec.Packet, origin *originClock) {
	if !a.active || int(p.Track) != a.inIdx {
		return
	}
	a.recv = p.Received
	if a.mode == codec.AudioCopy {
		q := &a.pkt
		*q = *p
		q.Epoch, q.Track = a.epoch, 1
		q.Flags &^= codec.FlagSync // the output has video: readers start at its keyframes
		out.WritePacket(q)
		return
	}
	pts := a.unwrap.next(p.Timestamp)
	if !a.started {
		a.started = true
		a.sessBase = int64(origin.ticks(p.Received, audioOutRate))
		if a.written && a.sessBase < a.lastEnd {
			a.sessBase = a.lastEnd
		}
	}
	if a.inCodec == "MPEG4-GENERIC" {
		aus, err := a.aac.unpack(p.Payload, p.Marker())
		if err != nil {
			return
		}
		for i, au := range aus {
			a.decode(out, au, pts+int64(i)*1024)
		}
		return
	}
	a.decode(out, p.Payload, pts)
}

// decode decodes one input packet and pushes what comes out through the
// filters and the encoder. Damaged audio is skipped quietly: a gap is all a
// listener notices.
func (a *audioPath) decode(out codec.PacketWriter, data []byte, pts int64) {
	if fillPacket(a.decPkt, data) != nil {
		return
	}
	a.decPkt.SetPts(pts)
	err := a.dec.SendPacket(a.decPkt)
	a.decPkt.Unref()
	if err != nil {
		return
	}
	for {
		if a.dec.ReceiveFrame(a.decFrame) != nil {
			return
		}
		if a.graph == nil {
			if err := a.openGraph(a.decFrame); err != nil {
				a.decFrame.Unref()
				a.closeGraph()
				a.active = false // no audio for the rest of the session
				return
			}
		}
		// Without KEEP_REF the filter takes the frame's reference.
		if a.src.BuffersrcAddFrame(a.decFrame, astiav.NewBuffersrcFlags()) != nil {
			a.decFrame.Unref()
			continue
		}
		for a.sink.BuffersinkGetFrame(a.filt, astiav.NewBuffersinkFlags()) == nil {
			a.encode(out)
		}
	}
}

// encode encodes the filtered frame in a.filt and writes the packets.
func (a *audioPath) encode(out codec.PacketWriter) {
	a.filt.SetPts(a.sessBase + a.filt.Pts())
	err := a.enc.SendFrame(a.filt)
	a.filt.Unref()
	if err != nil {
		return
	}
	for {
		a.encPkt.Unref()
		if a.enc.ReceivePacket(a.encPkt) != nil {
			return
		}
		pts := a.encPkt.Pts()
		a.lastEnd, a.written = pts+int64(a.frameSize), true
		a.writeEncoded(out, packetBytes(a.encPkt), uint32(pts))
	}
}

// writeEncoded packetizes one encoded frame: Opus one frame per packet
// (RFC 7587), AAC as AAC-hbr access units (RFC 3640), fragmented if large.
func (a *audioPath) writeEncoded(out codec.PacketWriter, data []byte, ts uint32) {
	if len(data) == 0 {
		return
	}
	q := &a.pkt
	*q = codec.Packet{Epoch: a.epoch, Track: 1, PayloadType: audioPayloadType, Timestamp: ts, Received: a.recv}
	if a.mode == codec.AudioOpus {
		q.SequenceNumber = a.seq
		a.seq++
		q.Payload = data
		out.WritePacket(q)
		return
	}
	for off := 0; off < len(data); {
		a.buf, off = aacFragment(a.buf, data, off, audioMaxPayload)
		q.SequenceNumber = a.seq
		a.seq++
		q.Flags = 0
		if off == len(data) {
			q.Flags = codec.FlagMarker
		}
		q.Payload = a.buf
		out.WritePacket(q)
	}
}

func (a *audioPath) closeGraph() {
	// go-astiav registers the two filter contexts it made in a global map
	// that freeing the graph does not clear; freeing them first (which
	// also detaches them from the graph) keeps that map from growing.
	if a.src != nil {
		a.src.Free()
		a.src = nil
	}
	if a.sink != nil {
		a.sink.Free()
		a.sink = nil
	}
	if a.graph != nil {
		a.graph.Free()
		a.graph = nil
	}
}

// closeSession frees what belongs to the source session.
func (a *audioPath) closeSession() {
	a.closeGraph()
	if a.filt != nil {
		a.filt.Free()
		a.filt = nil
	}
	if a.decFrame != nil {
		a.decFrame.Free()
		a.decFrame = nil
	}
	if a.decPkt != nil {
		a.decPkt.Free()
		a.decPkt = nil
	}
	if a.dec != nil {
		a.dec.Free()
		a.dec = nil
	}
	a.aac = aacDepacketizer{}
	a.unwrap = tsUnwrap{}
	a.started = false
	a.inCodec, a.inRate = "", 0
}

func (a *audioPath) closeEncoder() {
	if a.encPkt != nil {
		a.encPkt.Free()
		a.encPkt = nil
	}
	if a.enc != nil {
		a.enc.Free()
		a.enc = nil
	}
}

// close frees everything.
func (a *audioPath) close() {
	a.closeSession()
	a.closeEncoder()
	a.active = false
}
