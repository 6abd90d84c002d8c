package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/camrelay/camrelay/codec"
)

// ErrUnknownPath is returned by a Demand function for a path it does not
// serve; the client gets 404.
var ErrUnknownPath = errors.New("no such camera")

// Demand is how an RTSPServer asks for a camera: it connects the camera if
// needed and returns a reader of its ring once the camera's tracks are
// known, and a release function to call when no client wants it any more.
type Demand func(ctx context.Context, path string) (PacketReader, func(), error)

// RTSPServer serves cameras to RTSP clients; MediaMTX pulls on-demand cameras
// from it (a path with source: rtsp://camrelay/NAME and sourceOnDemand: yes).
// A camera is demanded when the first client DESCRIBEs it and released when
// its last client leaves. Only TCP transport is offered: MediaMTX and
// camrelay sit close to each other, and TCP needs no extra ports.
type RTSPServer struct {
	// Listen is the TCP address, e.g. 127.0.0.1:8556.
	Listen string
	// User and Pass, when set, are required of every client (Basic or
	// Digest).
	User, Pass string
	// Demand connects a camera; required.
	Demand Demand
	// DemandTimeout bounds how long a DESCRIBE waits for the camera. Zero
	// means 8 s (MediaMTX's source read timeout is 10 s).
	DemandTimeout time.Duration
	Log           *slog.Logger

	srv     *gortsplib.Server
	addr    string
	mu      sync.Mutex
	streams map[string]*servedStream
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// servedStream is one demanded camera and the clients playing it.
type servedStream struct {
	path     string
	stream   *gortsplib.ServerStream
	desc     *description.Session
	release  func()
	sessions map[*gortsplib.ServerSession]struct{}
	played   bool
	cancel   context.CancelFunc
	done     chan struct{}
	stats    SinkStats
}

// Start opens the listener.
func (s *RTSPServer) Start() error {
	if s.Demand == nil {
		return errors.New("rtsp server: Demand is required")
	}
	s.streams = map[string]*servedStream{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.Listen,
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err == nil {
				s.addr = ln.Addr().String()
			}
			return ln, err
		}}
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtsp server on %s: %w", s.Listen, err)
	}
	return nil
}

// Addr is the address the server listens on.
func (s *RTSPServer) Addr() string { return s.addr }

// Close stops the server, every stream and every pump.
func (s *RTSPServer) Close() {
	s.cancel()
	s.srv.Close()
	s.mu.Lock()
	streams := s.streams
	s.streams = map[string]*servedStream{}
	s.mu.Unlock()
	for _, st := range streams {
		s.stop(st)
	}
	s.wg.Wait()
}

// Stats returns the send counters of a path being served.
func (s *RTSPServer) Stats(path string) (packets uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[path]
	if !ok {
		return 0, false
	}
	return st.stats.Packets.Load(), true
}

func (s *RTSPServer) authorized(ctx *gortsplib.ServerConn, req *base.Request) bool {
	return s.User == "" || ctx.VerifyCredentials(req, s.User, s.Pass)
}

func unauthorized() (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
}

func cleanPath(p string) string { return strings.Trim(p, "/") }

// OnDescribe demands the camera (or joins the stream already served).
func (s *RTSPServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return unauthorized()
	}
	st, err := s.serve(cleanPath(ctx.Path))
	switch {
	case errors.Is(err, ErrUnknownPath):
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	case err != nil:
		if s.Log != nil {
			s.Log.Warn("on-demand camera not available", "path", ctx.Path, "err", err.Error())
		}
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.stream, nil
}

// OnSetup attaches a client to a stream demanded by its DESCRIBE.
func (s *RTSPServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return unauthorized()
	}
	if ctx.Transport != gortsplib.TransportTCP {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	path := cleanPath(ctx.Path)
	// SETUP carries the track's control URL: strip /trackID=N.
	if i := strings.LastIndex(path, "/trackID="); i >= 0 {
		path = path[:i]
	}
	s.mu.Lock()
	st, ok := s.streams[path]
	s.mu.Unlock()
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.stream, nil
}

// OnPlay counts the client as a viewer of its stream.
func (s *RTSPServer) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	ss := ctx.Session
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if ss.SetuppedStream() == st.stream {
			st.sessions[ss] = struct{}{}
			st.played = true
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose releases the camera when its last client leaves.
func (s *RTSPServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	var done *servedStream
	for path, st := range s.streams {
		if _, ok := st.sessions[ctx.Session]; ok {
			delete(st.sessions, ctx.Session)
			if len(st.sessions) == 0 {
				delete(s.streams, path)
				done = st
			}
		}
	}
	s.mu.Unlock()
	if done != nil {
		s.stop(done)
	}
}

// serve returns the stream of path, demanding the camera if nobody is
// watching it yet.
func (s *RTSPServer) serve(path string) (*servedStream, error) {
	s.mu.Lock()
	if st, ok := s.streams[path]; ok {
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(s.ctx, orDefault(s.DemandTimeout, 8*time.Second))
	defer cancel()
	r, release, err := s.Demand(ctx, path)
	if err != nil {
		return nil, err
	}
	epoch, tracks := r.Tracks()
	desc, err := sessionOf(tracks)
	if err != nil {
		release()
		return nil, err
	}
	st := &servedStream{path: path, desc: desc, release: release, sessions: map[*gortsplib.ServerSession]struct{}{}, done: make(chan struct{})}
	st.stream = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := st.stream.Initialize(); err != nil {
		release()
		return nil, err
	}

	s.mu.Lock()
	if other, ok := s.streams[path]; ok { // a concurrent DESCRIBE won
		s.mu.Unlock()
		st.stream.Close()
		release()
		return other, nil
	}
	s.streams[path] = st
	s.mu.Unlock()

	pctx, pcancel := context.WithCancel(s.ctx)
	st.cancel = pcancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(st.done)
		err := s.pump(pctx, st, r, epoch, tracks)
		if pctx.Err() == nil {
			// The source changed its tracks, or failed: end the clients'
			// sessions; MediaMTX will pull again.
			if s.Log != nil && err != nil {
				s.Log.Info("on-demand stream ended", "path", path, "reason", err.Error())
			}
			s.mu.Lock()
			if s.streams[path] == st {
				delete(s.streams, path)
			}
			s.mu.Unlock()
			st.stream.Close()
			st.release()
		}
	}()
	// A client that DESCRIBEs and never PLAYs must not hold the camera.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-st.done:
		case <-s.ctx.Done():
		case <-time.After(15 * time.Second):
			s.mu.Lock()
			idle := !st.played && s.streams[path] == st
			if idle {
				delete(s.streams, path)
			}
			s.mu.Unlock()
			if idle {
				s.stop(st)
			}
		}
	}()
	return st, nil
}

// stop ends a stream's pump, closes it and releases the camera.
func (s *RTSPServer) stop(st *servedStream) {
	if st.cancel != nil {
		st.cancel()
		<-st.done
	}
	st.stream.Close()
	st.release()
}

// pump copies the camera's ring into the served stream, on one continuous
// timeline.
func (s *RTSPServer) pump(ctx context.Context, st *servedStream, r PacketReader, epoch uint32, tracks []codec.Track) error {
	tl := newTimeline(tracks, epoch, &st.stats)
	r.Resync()
	p := codec.Packet{Payload: make([]byte, codec.MaxPayload)}
	var out rtp.Packet
	for {
		for r.TryRead(&p) {
			t, seq, ts, err := tl.next(r, &p)
			if err != nil {
				return err
			}
			if t == nil {
				continue
			}
			out.Header = rtp.Header{Version: 2, PayloadType: t.track.PayloadType, SequenceNumber: seq, Timestamp: ts, Marker: p.Marker()}
			out.Payload = p.Payload
			if err := st.stream.WritePacketRTP(st.desc.Medias[p.Track], &out); err != nil {
				return err
			}
			st.stats.Packets.Add(1)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.Ready():
		}
	}
}
