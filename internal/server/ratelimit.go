package server

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wardchat/ward/internal/store"
)

// limiter is a set of token buckets keyed by account or client address.
// Idle buckets (full again, not used for idleAfter) are evicted by sweep so
// the map stays bounded by the number of recently active keys.
type limiter struct {
	r     rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiter(r float64, burst int) *limiter {
	return &limiter{r: rate.Limit(r), burst: burst, m: make(map[string]*bucket)}
}

func (l *limiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	b, ok := l.m[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.r, l.burst)}
		l.m[key] = b
	}
	b.last = now
	ok = b.lim.AllowN(now, 1)
	l.mu.Unlock()
	return ok
}

// sweep evicts buckets unused for long enough to have refilled completely:
// forgetting them changes nothing for their keys.
func (l *limiter) sweep(now time.Time) int {
	idle := time.Duration(float64(l.burst)/float64(l.r)*float64(time.Second)) + time.Second
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, b := range l.m {
		if now.Sub(b.last) > idle {
			delete(l.m, k)
			n++
		}
	}
	return n
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

func acctKey(a store.AccountID) string { return string(a[:]) }

func (s *Server) rateErr(kind string, r float64, burst int) *Error {
	return &Error{Code: CodeExhausted, Msg: fmt.Sprintf("rate limit exceeded for this %s (%g requests/s, burst %d); retry later", kind, r, burst)}
}
