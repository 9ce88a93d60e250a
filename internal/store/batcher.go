package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBatcherClosed is returned by [Batcher.Enqueue] after [Batcher.Close].
var ErrBatcherClosed = errors.New("store: batcher closed")

// BatchEnqueuer is the part of [Queue] a [Batcher] needs.
type BatchEnqueuer interface {
	EnqueueBatch(ctx context.Context, sends []Send) []Result
}

// BatcherConfig tunes a [Batcher]. The zero value is usable.
type BatcherConfig struct {
	// MaxBatch is the most sends committed in one transaction.
	// Default 512.
	MaxBatch int

	// MaxDelay is how long a flusher waits for more sends after the first
	// one of a batch arrives, when fewer than MaxBatch are waiting. Under
	// load batches fill while the previous one commits and nobody waits.
	// Default 1ms.
	MaxDelay time.Duration

	// Flushers is the number of batches that may commit concurrently.
	// One is right for SQLite (one writer); more helps PostgreSQL, whose
	// commits run in parallel. Default 2: one batch gathers while the
	// other commits.
	Flushers int

	// Timeout bounds one EnqueueBatch call. Default 30s.
	Timeout time.Duration
}

// Batcher is group commit for sends: it gathers concurrent [Batcher.Enqueue]
// calls into batches and commits each batch with one EnqueueBatch call, so
// that one durable commit (one fsync) serves many sends. Every caller gets
// its own [Result]; each send stays all-or-nothing and independent of the
// others in its batch.
//
// Enqueue returns only after the transaction holding the send has committed
// (or failed). If ctx ends first Enqueue returns ctx.Err() and the outcome
// is unknown: the send may still commit. Retrying with the same
// ClientMessageID is safe; the store's idempotency returns the original
// result.
//
// A Batcher is safe for concurrent use. Close it to stop its goroutines.
type Batcher struct {
	q   BatchEnqueuer
	cfg BatcherConfig
	in  chan *call

	mu     sync.RWMutex // guards closed against sends on in
	closed bool
	wg     sync.WaitGroup
}

type call struct {
	send Send
	res  Result
	done chan struct{}
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// NewBatcher starts a batcher committing through q.
func NewBatcher(q BatchEnqueuer, cfg BatcherConfig) *Batcher {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Millisecond
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	b := &Batcher{q: q, cfg: cfg, in: make(chan *call, cfg.MaxBatch*cfg.Flushers)}
	b.wg.Add(cfg.Flushers)
	for range cfg.Flushers {
		go b.flusher()
	}
	return b
}

// Enqueue commits one send as part of a batch and returns its result. The
// returned error is Result.Err, or ctx.Err(), or ErrBatcherClosed.
func (b *Batcher) Enqueue(ctx context.Context, s Send) (Result, error) {
	c := callPool.Get().(*call)
	c.send = s
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		callPool.Put(c)
		return Result{}, ErrBatcherClosed
	}
	select {
	case b.in <- c:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		callPool.Put(c)
		return Result{}, ctx.Err()
	}
	select {
	case <-c.done:
		r := c.res
		*c = call{done: c.done}
		callPool.Put(c)
		return r, r.Err
	case <-ctx.Done():
		// The flusher still owns c and will signal done; c is not reused.
		return Result{}, ctx.Err()
	}
}

// Close stops accepting sends, commits those already accepted and waits for
// the flushers to exit.
func (b *Batcher) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.in)
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

func (b *Batcher) flusher() {
	defer b.wg.Done()
	calls := make([]*call, 0, b.cfg.MaxBatch)
	sends := make([]Send, 0, b.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-b.in
		if !ok {
			return
		}
		calls = append(calls[:0], first)
		b.gather(&calls, timer)
		sends = sends[:0]
		for _, c := range calls {
			sends = append(sends, c.send)
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
		res := b.q.EnqueueBatch(ctx, sends)
		cancel()
		for i, c := range calls {
			c.res = res[i]
			c.done <- struct{}{}
		}
		clear(sends)
		clear(calls)
	}
}

// gather adds waiting calls to *calls: first whatever is queued, then, if
// the batch is not full, whatever arrives within MaxDelay. It returns false
// if the input channel was closed (the flusher then commits what it has and
// exits on its next receive).
func (b *Batcher) gather(calls *[]*call, timer *time.Timer) bool {
drain:
	for len(*calls) < b.cfg.MaxBatch {
		select {
		case c, ok := <-b.in:
			if !ok {
				return false
			}
			*calls = append(*calls, c)
		default:
			break drain
		}
	}
	if len(*calls) >= b.cfg.MaxBatch {
		return true
	}
	timer.Reset(b.cfg.MaxDelay)
	defer timer.Stop()
	for len(*calls) < b.cfg.MaxBatch {
		select {
		case c, ok := <-b.in:
			if !ok {
				return false
			}
			*calls = append(*calls, c)
		case <-timer.C:
			return true
		}
	}
	return true
}
