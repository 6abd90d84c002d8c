package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// whepReader reads one stream over WHEP with pion/webrtc, the path a
// browser takes. Nothing leaves loopback: no mDNS, only the lo interface,
// UDP over IPv4 loopback. MediaMTX's WebRTC server itself joins mDNS on
// every interface, which is why the harness runs in a loopback-only network
// namespace when --whep is on.
type whepReader struct {
	pc       *webrtc.PeerConnection
	location string
	wg       sync.WaitGroup
}

var whepHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func startWHEPReader(ctx context.Context, a *streamAcc) (streamReader, error) {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	w := &whepReader{pc: pc}
	fail := func(err error) (streamReader, error) {
		w.close()
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(err)
	}
	gotTrack := make(chan struct{})
	var once sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if !strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264) {
			a.ended(fmt.Errorf("whep: track %s, want H264", tr.Codec().MimeType))
			return
		}
		once.Do(func() { close(gotTrack) })
		w.wg.Add(1)
		defer w.wg.Done()
		dec, err := (&format.H264{PayloadTyp: uint8(tr.PayloadType()), PacketizationMode: 1}).CreateDecoder()
		if err != nil {
			a.ended(err)
			return
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				a.ended(err)
				return
			}
			now := time.Now().UnixNano()
			au, err := dec.Decode(pkt)
			if err != nil {
				if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
					a.mu.Lock()
					a.w.DecodeErrors++
					a.mu.Unlock()
				}
				continue
			}
			a.onAU(au, now)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.spec.URL, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := whepHTTP.Do(req)
	if err != nil {
		return fail(err)
	}
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("whep: %d: %s", res.StatusCode, strings.TrimSpace(string(answer))))
	}
	if loc := res.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(a.spec.URL); err == nil {
			if l, err := u.Parse(loc); err == nil {
				w.location = l.String()
			}
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fail(err)
	}
	select {
	case <-gotTrack:
		return w, nil
	case <-ctx.Done():
		return fail(fmt.Errorf("whep: no track (ICE %s): %w", pc.ICEConnectionState(), ctx.Err()))
	}
}

func (w *whepReader) close() {
	if w.location != "" {
		if req, err := http.NewRequest(http.MethodDelete, w.location, nil); err == nil {
			if res, err := whepHTTP.Do(req); err == nil {
				res.Body.Close()
			}
		}
	}
	_ = w.pc.Close()
	w.wg.Wait()
}
