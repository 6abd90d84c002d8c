package auth

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit limits requests to the token and revoke endpoints per client
// address (an IPv6 client by its /64, which one host usually has whole).
// A client that is over the limit gets 429 with Retry-After.
type RateLimit struct {
	// Burst requests are allowed at once; 0 means 10.
	Burst int
	// Every is how often one more request is allowed; 0 means 6s (ten a
	// minute once the burst is spent).
	Every time.Duration
	// MaxClients bounds the clients tracked, and so the memory; 0 means
	// 10000. When that many clients are over their limit at once, new
	// clients share one bucket.
	MaxClients int
	// Disabled turns the limit off (a proxy in front limits instead).
	Disabled bool
}

func (r RateLimit) withDefaults() RateLimit {
	if r.Burst <= 0 {
		r.Burst = 10
	}
	if r.Every <= 0 {
		r.Every = 6 * time.Second
	}
	if r.MaxClients <= 0 {
		r.MaxClients = 10000
	}
	return r
}

// limiter keeps one rate.Limiter per client. A limiter whose bucket has
// refilled is equivalent to a new one, so such idle entries are evicted
// when the map is full; the map never holds more than MaxClients entries.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu        sync.Mutex
	clients   map[netip.Prefix]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	cfg = cfg.withDefaults()
	return &limiter{cfg: cfg, now: now, clients: map[netip.Prefix]*rate.Limiter{}, overflow: cfg.newBucket()}
}

func (r RateLimit) newBucket() *rate.Limiter { return rate.NewLimiter(rate.Every(r.Every), r.Burst) }

func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// allow takes one request from the client's bucket, or says how long until
// one is available. A refused request takes nothing.
func (l *limiter) allow(a netip.Addr) (bool, time.Duration) {
	if l.cfg.Disabled {
		return true, 0
	}
	key := clientKey(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock() // held: a sweep must not evict b in between
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= l.cfg.MaxClients {
			l.sweepLocked(now)
		}
		if len(l.clients) >= l.cfg.MaxClients {
			b = l.overflow
		} else {
			b = l.cfg.newBucket()
			l.clients[key] = b
		}
	}
	r := b.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweepLocked evicts clients whose buckets are full again. It runs at most
// once per Every, so that a flood of new clients costs a full scan only
// that often.
func (l *limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.cfg.Every {
		return
	}
	l.lastSweep = now
	full := float64(l.cfg.Burst)
	for k, b := range l.clients {
		if b.TokensAt(now) >= full {
			delete(l.clients, k)
		}
	}
}
