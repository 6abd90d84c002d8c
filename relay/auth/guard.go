package auth

import (
	"context"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// LoginGuard stands between clients and password checks, which cost an
// argon2 hash each (64 MiB of memory by default): a per-client rate limit
// (429 with Retry-After) and a bound on checks running at once (503 past
// it). The token endpoint and the control API share one, so that neither
// is a way around the other's limits.
type LoginGuard struct {
	limit *limiter
	sem   chan struct{}
}

// NewLoginGuard limits clients as rl says and runs at most maxConcurrent
// password checks at once (0: one per four cores, at least one: each holds
// 64 MiB, and an edge box has little memory to spare). now is the clock
// (nil: time.Now).
func NewLoginGuard(rl RateLimit, maxConcurrent int, now func() time.Time) *LoginGuard {
	if now == nil {
		now = time.Now
	}
	if maxConcurrent <= 0 {
		maxConcurrent = max(1, runtime.GOMAXPROCS(0)/4)
	}
	return &LoginGuard{limit: newLimiter(rl, now), sem: make(chan struct{}, maxConcurrent)}
}

// Limited applies the rate limit to client; over it, it answers 429 with
// Retry-After itself and returns true.
func (g *LoginGuard) Limited(w http.ResponseWriter, client netip.Addr) bool {
	ok, wait := g.limit.allow(client)
	if ok {
		return false
	}
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "too many requests")
	return true
}

// Acquire takes a password-check slot; false after loginWait or when the
// client left (answer 503). Release gives it back.
func (g *LoginGuard) Acquire(ctx context.Context) bool {
	select {
	case g.sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(loginWait)
	defer t.Stop()
	select {
	case g.sem <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Release gives back a slot taken by Acquire. The check's argon2 memory is
// garbage by now: it is collected and handed back to the system at once,
// where the runtime left to itself would let the heap grow by another
// 64 MiB first (and small objects split the freed span, so that the next
// check takes fresh memory). Checks are rate-limited, so this is rare.
func (g *LoginGuard) Release() {
	debug.FreeOSMemory()
	<-g.sem
}

// Busy answers a request that got no password-check slot.
func Busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "busy, try again")
}

// ClientAddr is the address of a request's client (the connection's peer).
func ClientAddr(r *http.Request) netip.Addr { return remoteAddr(r) }
