// Package whep is a WHEP client (pion/webrtc v4) that receives video the way
// a browser does, for the benchmark harness and for tests. Nothing it sends
// leaves loopback: no mDNS, ICE only on the lo interface, UDP over IPv4.
// MediaMTX's WebRTC server itself joins mDNS on every interface, which is why
// its callers run inside a loopback-only network namespace. It is test
// support (internal/testenv): the camrelay binary does not import it.
package whep

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// StatusError is a WHEP endpoint's refusal of the offer.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("whep: %d: %s", e.Code, e.Body) }

// Session is one WHEP reading session.
type Session struct {
	pc       *webrtc.PeerConnection
	location string // the session's resource, deleted by Close
}

// Dial offers to receive one video track from endpoint (with a bearer token
// when token is not empty) and returns once the answer is applied. onTrack
// runs on pion's goroutine for each remote track; it reads the track until
// ReadRTP fails, which Close causes.
func Dial(ctx context.Context, endpoint, token string, onTrack func(*webrtc.TrackRemote)) (*Session, error) {
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
	s := &Session{pc: pc}
	fail := func(err error) (*Session, error) {
		s.Close()
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { onTrack(tr) })
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fail(&StatusError{Code: res.StatusCode, Body: strings.TrimSpace(string(answer))})
	}
	if loc := res.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(endpoint); err == nil {
			if l, err := u.Parse(loc); err == nil {
				s.location = l.String()
			}
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fail(err)
	}
	return s, nil
}

// ICEState is the peer connection's ICE state, for error messages.
func (s *Session) ICEState() string { return s.pc.ICEConnectionState().String() }

// Close deletes the session's resource at the endpoint and closes the peer
// connection, which ends the tracks' reads.
func (s *Session) Close() {
	if s.location != "" {
		if req, err := http.NewRequest(http.MethodDelete, s.location, nil); err == nil {
			if res, err := client.Do(req); err == nil {
				res.Body.Close()
			}
		}
	}
	_ = s.pc.Close()
}
