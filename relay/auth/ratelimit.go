package auth

import (
	"math"
	"net/netip"
	"sync"
	"time"
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

// limiter is a token bucket per client. A bucket that has refilled is
// equivalent to no bucket, so such entries are swept when the map is full;
// the map never holds more than MaxClients entries.
type limiter struct {
	cfg RateLimit
	now func() time.Time

	mu        sync.Mutex
	clients   map[netip.Prefix]*bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(cfg RateLimit, now func() time.Time) *limiter {
	return &limiter{cfg: cfg.withDefaults(), now: now, clients: map[netip.Prefix]*bucket{}}
}

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
// one is available.
func (l *limiter) allow(a netip.Addr) (bool, time.Duration) {
	if l.cfg.Disabled {
		return true, 0
	}
	key := clientKey(a)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[key]
	if b == nil {
		if len(l.clients) >= l.cfg.MaxClients {
			l.sweepLocked(now)
		}
		if len(l.clients) >= l.cfg.MaxClients {
			b = &l.overflow
		} else {
			b = &bucket{tokens: float64(l.cfg.Burst), last: now}
			l.clients[key] = b
		}
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) * float64(l.cfg.Every)))
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(l.cfg.Burst), now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(l.cfg.Burst), b.tokens+float64(el)/float64(l.cfg.Every))
		b.last = now
	}
}

// sweepLocked drops clients whose buckets are full again. It runs at most
// once per Every, so that a flood of new clients costs a full scan only
// that often.
func (l *limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.cfg.Every {
		return
	}
	l.lastSweep = now
	for k, b := range l.clients {
		l.refill(b, now)
		if b.tokens >= float64(l.cfg.Burst) {
			delete(l.clients, k)
		}
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
