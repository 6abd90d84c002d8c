package relay

import (
	"fmt"
	"sync"
	"time"

	"github.com/camrelay/camrelay/codec"
	"github.com/camrelay/camrelay/codec/libav"
	"github.com/camrelay/camrelay/relay/ring"
	"github.com/camrelay/camrelay/transport"
)

// Snapshot widths (?width=) the API takes.
const (
	MinSnapshotWidth = 16
	MaxSnapshotWidth = 4096
)

// snapshotTTL is how long a camera's snapshot is served from its cache:
// a page of thumbnails polled by many viewers decodes each camera once a
// second at most.
const snapshotTTL = time.Second

// keyframeWait bounds how long a snapshot of a copy camera waits for a
// keyframe when the newest one is no longer in the ring (a long GOP).
const keyframeWait = 5 * time.Second

// ErrSnapshotNeedsLibav is what a snapshot request gets from a binary built
// without libav (the API answers 501).
var ErrSnapshotNeedsLibav = fmt.Errorf("snapshots decode the camera's pictures: %w", libav.ErrNotBuilt)

// snapshotCache holds a camera's recent snapshots, one per width asked for,
// each for snapshotTTL. Its lock is taken per request, never per packet;
// concurrent requests for one camera wait for one decode.
type snapshotCache struct {
	mu      sync.Mutex
	entries [4]snapshotEntry
	next    int
}

type snapshotEntry struct {
	width int
	at    time.Time
	jpg   []byte
}

// get returns a fresh cached snapshot of the given width or makes one.
func (c *snapshotCache) get(width int, take func(width int) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, e := range c.entries {
		if e.jpg != nil && e.width == width && now.Sub(e.at) < snapshotTTL {
			return e.jpg, nil
		}
	}
	jpg, err := take(width)
	if err != nil {
		return nil, err
	}
	c.entries[c.next] = snapshotEntry{width: width, at: time.Now(), jpg: jpg}
	c.next = (c.next + 1) % len(c.entries)
	return jpg, nil
}

// snapshotWidth is a JPEG of the camera's latest picture, width pixels wide
// (0: its own size): the transcoder's latest picture, or for copy cameras
// the newest keyframe in the ring, decoded on request.
func (p *pipeline) snapshotWidth(width int) ([]byte, error) {
	if !libav.Available {
		return nil, ErrSnapshotNeedsLibav
	}
	return p.snaps.get(width, func(width int) ([]byte, error) {
		if p.transcoder != nil {
			jpg, err := p.transcoder.Snapshot()
			if err != nil {
				return nil, err
			}
			return libav.ScaleJPEG(jpg, width)
		}
		track, frame, err := newestKeyframe(p.ring, keyframeWait)
		if err != nil {
			return nil, err
		}
		return libav.SnapshotFrame(track, frame, width)
	})
}

// newestKeyframe reads the newest keyframe of a ring's video track (waiting
// up to wait for the next one when the newest is no longer in the ring) and
// reassembles it into a frame. It is a reader of the ring like any sink: the
// writer never waits for it.
func newestKeyframe(r *ring.Ring, wait time.Duration) (codec.Track, *codec.Frame, error) {
	_, tracks := r.Tracks()
	vi := -1
	for i, t := range tracks {
		if t.Kind == codec.KindVideo {
			vi = i
			break
		}
	}
	if vi < 0 {
		if len(tracks) == 0 || r.Packets() == 0 {
			return codec.Track{}, nil, codec.ErrNoPicture
		}
		return codec.Track{}, nil, ErrNoSnapshot
	}
	track := tracks[vi]
	switch track.Codec {
	case "H264", "H265", "JPEG":
	default:
		return codec.Track{}, nil, fmt.Errorf("snapshot: %s video cannot be decoded (H264, H265, JPEG)", track.Codec)
	}
	rd := r.NewReader(ring.LatestSync)
	defer rd.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var (
		p     = codec.Packet{Payload: make([]byte, codec.MaxPayload)}
		pkts  []codec.Packet
		epoch uint32
		ts    uint32
	)
	for {
		if !rd.TryRead(&p) {
			select {
			case <-rd.Ready():
				continue
			case <-timer.C:
				return codec.Track{}, nil, fmt.Errorf("snapshot: no keyframe from the camera within %v", wait)
			}
		}
		if int(p.Track) != vi {
			continue
		}
		switch {
		case p.Flags&codec.FlagSync != 0 && (len(pkts) == 0 || p.Timestamp != ts || p.Epoch != epoch):
			// The first keyframe, or a newer one after the reader was
			// lapped: start over from it.
			pkts, epoch, ts = pkts[:0], p.Epoch, p.Timestamp
			if e, tr := r.Tracks(); e == epoch && vi < len(tr) {
				track = tr[vi]
			}
		case len(pkts) == 0:
			continue // wait for a keyframe's first packet
		case p.Epoch != epoch || p.Timestamp != ts:
			goto whole // the next frame began (a camera that never sets the marker)
		}
		q := p
		q.Payload = append([]byte(nil), p.Payload...)
		pkts = append(pkts, q)
		if p.Marker() {
			break
		}
	}
whole:
	f, err := transport.AssembleFrame(track, pkts)
	if err != nil {
		return codec.Track{}, nil, fmt.Errorf("snapshot: %w", err)
	}
	return track, f, nil
}

// SnapshotWidth is a JPEG of a camera's latest picture, scaled down to
// width pixels wide (0: its own size).
func (s *Supervisor) SnapshotWidth(name string, width int) ([]byte, error) {
	s.mu.Lock()
	p, ok := s.pipes[name]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("camera %q: %w", name, ErrNotFound)
	}
	return p.snapshotWidth(width)
}

// SnapshotWidth is a JPEG of a camera's latest picture (every camera that
// camrelay relays: transcoding cameras give their latest decoded picture,
// copy cameras their newest keyframe), scaled down to width pixels wide
// with the aspect ratio kept (0: its own size).
func (a *App) SnapshotWidth(name string, width int) ([]byte, error) {
	if width != 0 && (width < MinSnapshotWidth || width > MaxSnapshotWidth) {
		return nil, fmt.Errorf("width: must be from %d to %d, not %d", MinSnapshotWidth, MaxSnapshotWidth, width)
	}
	if _, ok := a.Config().Camera(name); !ok {
		return nil, ErrNotFound
	}
	sup := a.Supervisor()
	if sup == nil {
		return nil, ErrNotFound
	}
	return sup.SnapshotWidth(name, width)
}
