package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBatcherClosed is returned by [Batcher] methods after [Batcher.Close].
var ErrBatcherClosed = errors.New("store: batcher closed")

// BatchQueue is the part of [Queue] a [Batcher] needs.
type BatchQueue interface {
	EnqueueBatch(ctx context.Context, sends []Send) []Result
	AckBatch(ctx context.Context, acks []AckRequest) ([]int, error)
}

// BatcherConfig tunes a [Batcher]. The zero value is usable.
type BatcherConfig struct {
	// MaxBatch is the most sends (or acks) committed in one transaction.
	// Default 1000.
	MaxBatch int

	// MaxDelay bounds how long a flusher lingers for more work after
	// taking what is queued. It lingers only while the batch is smaller
	// than the previous one: a lone caller is committed at once (no added
	// latency at low load), while under load, when many callers resubmit
	// right after each commit, the batch waits for them to come back
	// instead of committing a handful. Default 1ms; negative disables
	// lingering.
	MaxDelay time.Duration

	// Flushers is the number of send batches that may be in flight at once.
	// Default 1, right for SQLite's single writer: a second flusher would
	// only freeze a small batch while it waits for the writer. PostgreSQL,
	// whose commits run in parallel, can use more. Acks always use one
	// flusher of their own.
	Flushers int

	// Timeout bounds one EnqueueBatch or AckBatch call. Default 30s.
	Timeout time.Duration
}

// Batcher is group commit for the delivery queue: it gathers concurrent
// [Batcher.Enqueue] calls into batches and commits each batch with one
// EnqueueBatch call (and [Batcher.Ack] calls with one AckBatch call), so
// that one durable commit (one fsync on SQLite) serves many callers. Every
// caller gets its own result; each send stays all-or-nothing and
// independent of the others in its batch.
//
// Enqueue and Ack return only after the transaction holding their work has
// committed (or failed). If ctx ends first they return ctx.Err() and the
// outcome is unknown: the work may still commit. Retrying is safe: a send
// retried with the same ClientMessageID is recognised as a duplicate, and
// an ack is idempotent.
//
// A Batcher is safe for concurrent use. Close it to stop its goroutines.
type Batcher struct {
	sends *coalescer[Send, Result]
	acks  *coalescer[AckRequest, ackResult]
}

type ackResult struct {
	n   int
	err error
}

// NewBatcher starts a batcher committing through q.
func NewBatcher(q BatchQueue, cfg BatcherConfig) *Batcher {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	switch {
	case cfg.MaxDelay == 0:
		cfg.MaxDelay = time.Millisecond
	case cfg.MaxDelay < 0:
		cfg.MaxDelay = 0
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Batcher{
		sends: newCoalescer(cfg, cfg.Flushers, q.EnqueueBatch),
		acks: newCoalescer(cfg, 1, func(ctx context.Context, acks []AckRequest) []ackResult {
			ns, err := q.AckBatch(ctx, acks)
			out := make([]ackResult, len(acks))
			for i := range out {
				if err != nil {
					out[i].err = err
				} else {
					out[i].n = ns[i]
				}
			}
			return out
		}),
	}
}

// Enqueue commits one send as part of a batch and returns its result. The
// returned error is Result.Err, or ctx.Err(), or ErrBatcherClosed.
func (b *Batcher) Enqueue(ctx context.Context, s Send) (Result, error) {
	r, err := b.sends.do(ctx, s)
	if err != nil {
		return Result{}, err
	}
	return r, r.Err
}

// Ack applies one acknowledgement as part of a batch and returns the number
// of entries it deleted.
func (b *Batcher) Ack(ctx context.Context, a AckRequest) (int, error) {
	r, err := b.acks.do(ctx, a)
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

// Close stops accepting work, commits what was already accepted and waits
// for the flushers to exit.
func (b *Batcher) Close() error {
	b.sends.close()
	b.acks.close()
	return nil
}

// coalescer gathers calls of one kind into batches for run.
type coalescer[In, Out any] struct {
	cfg BatcherConfig
	run func(context.Context, []In) []Out
	in  chan *call[In, Out]

	mu     sync.RWMutex // guards closed against sends on in
	closed bool
	wg     sync.WaitGroup
	pool   sync.Pool
}

type call[In, Out any] struct {
	in   In
	out  Out
	done chan struct{}
}

func newCoalescer[In, Out any](cfg BatcherConfig, flushers int, run func(context.Context, []In) []Out) *coalescer[In, Out] {
	c := &coalescer[In, Out]{cfg: cfg, run: run, in: make(chan *call[In, Out], cfg.MaxBatch*flushers)}
	c.pool.New = func() any { return &call[In, Out]{done: make(chan struct{}, 1)} }
	c.wg.Add(flushers)
	for range flushers {
		go c.flusher()
	}
	return c
}

func (c *coalescer[In, Out]) do(ctx context.Context, in In) (Out, error) {
	var zero Out
	cl := c.pool.Get().(*call[In, Out])
	cl.in = in
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		c.pool.Put(cl)
		return zero, ErrBatcherClosed
	}
	select {
	case c.in <- cl:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		c.pool.Put(cl)
		return zero, ctx.Err()
	}
	select {
	case <-cl.done:
		out := cl.out
		cl.in, cl.out = *new(In), zero
		c.pool.Put(cl)
		return out, nil
	case <-ctx.Done():
		// The flusher still owns cl and will signal done (buffered);
		// cl is not reused.
		return zero, ctx.Err()
	}
}

func (c *coalescer[In, Out]) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *coalescer[In, Out]) flusher() {
	defer c.wg.Done()
	calls := make([]*call[In, Out], 0, c.cfg.MaxBatch)
	ins := make([]In, 0, c.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last := 1 // size of the previous batch
	for {
		first, ok := <-c.in
		if !ok {
			return
		}
		calls = append(calls[:0], first)
		c.gather(&calls, timer, min(last, c.cfg.MaxBatch))
		last = len(calls)
		ins = ins[:0]
		for _, cl := range calls {
			ins = append(ins, cl.in)
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		outs := c.run(ctx, ins)
		cancel()
		for i, cl := range calls {
			cl.out = outs[i]
			cl.done <- struct{}{}
		}
		clear(ins)
		clear(calls)
	}
}

// gather adds waiting calls to *calls: first whatever is queued, then, if
// the batch is smaller than target, whatever arrives within MaxDelay until
// it reaches target. It stops early when the input channel is closed (the
// flusher commits what it has and exits on its next receive).
func (c *coalescer[In, Out]) gather(calls *[]*call[In, Out], timer *time.Timer, target int) {
drain:
	for len(*calls) < c.cfg.MaxBatch {
		select {
		case cl, ok := <-c.in:
			if !ok {
				return
			}
			*calls = append(*calls, cl)
		default:
			break drain
		}
	}
	if len(*calls) >= target || c.cfg.MaxDelay == 0 {
		return
	}
	timer.Reset(c.cfg.MaxDelay)
	defer timer.Stop()
	for len(*calls) < target {
		select {
		case cl, ok := <-c.in:
			if !ok {
				return
			}
			*calls = append(*calls, cl)
		case <-timer.C:
			return
		}
	}
}
