package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/webrtc/v4"

	"github.com/camrelay/camrelay/internal/testenv/whep"
)

// whepReader reads one stream over WHEP (internal/testenv/whep, loopback only),
// the path a browser takes. MediaMTX's WebRTC server itself joins mDNS on
// every interface, which is why the harness runs in a loopback-only network
// namespace when --whep is on.
type whepReader struct {
	s  *whep.Session
	wg sync.WaitGroup
}

func startWHEPReader(ctx context.Context, a *streamAcc) (streamReader, error) {
	w := &whepReader{}
	gotTrack := make(chan struct{})
	var once sync.Once
	s, err := whep.Dial(ctx, a.spec.URL, "", func(tr *webrtc.TrackRemote) {
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
	if err != nil {
		return nil, err
	}
	w.s = s
	select {
	case <-gotTrack:
		return w, nil
	case <-ctx.Done():
		err := fmt.Errorf("whep: no track (ICE %s): %w", s.ICEState(), ctx.Err())
		w.close()
		return nil, err
	}
}

func (w *whepReader) close() {
	w.s.Close()
	w.wg.Wait()
}
