package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// fakeQueue records the batches it is given. Each send's result echoes its
// MessageID; a send whose first copy goes to device 13 fails.
type fakeQueue struct {
	mu      sync.Mutex
	batches []int
	acks    []int
	gate    chan struct{} // if set, EnqueueBatch waits on it
	ackErr  error
	inBatch atomic.Int32
	maxPar  atomic.Int32
}

var errDevice13 = errors.New("device 13")

func (f *fakeQueue) EnqueueBatch(ctx context.Context, sends []store.Send) []store.Result {
	n := f.inBatch.Add(1)
	defer f.inBatch.Add(-1)
	for {
		m := f.maxPar.Load()
		if n <= m || f.maxPar.CompareAndSwap(m, n) {
			break
		}
	}
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	f.batches = append(f.batches, len(sends))
	f.mu.Unlock()
	rs := make([]store.Result, len(sends))
	for i, s := range sends {
		rs[i] = store.Result{MessageID: s.MessageID}
		if s.Copies[0].To.Device == 13 {
			rs[i] = store.Result{Err: errDevice13}
		}
	}
	return rs
}

func (f *fakeQueue) AckBatch(ctx context.Context, acks []store.AckRequest) ([]int, error) {
	f.mu.Lock()
	f.acks = append(f.acks, len(acks))
	f.mu.Unlock()
	if f.ackErr != nil {
		return nil, f.ackErr
	}
	ns := make([]int, len(acks))
	for i, a := range acks {
		ns[i] = int(a.UpTo)
	}
	return ns, nil
}

func sendTo(dev store.DeviceID, id byte) store.Send {
	return store.Send{MessageID: store.MessageID{id}, Copies: []store.Copy{{To: store.Address{Device: dev}}}}
}

// TestBatcherGroups: while one batch is committing, concurrent callers pile
// up and are committed together; each gets its own result.
func TestBatcherGroups(t *testing.T) {
	f := &fakeQueue{gate: make(chan struct{})}
	b := store.NewBatcher(f, store.BatcherConfig{MaxBatch: 100, MaxDelay: time.Millisecond, Flushers: 1})
	defer b.Close()
	ctx := context.Background()

	var wg sync.WaitGroup
	results := make([]store.Result, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := store.DeviceID(1)
			if i == 7 {
				dev = 13
			}
			results[i], errs[i] = b.Enqueue(ctx, sendTo(dev, byte(i)))
		}()
		if i == 0 {
			time.Sleep(10 * time.Millisecond) // the first batch is now blocked on the gate
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	for i := range 50 {
		if i == 7 {
			if !errors.Is(errs[i], errDevice13) || !errors.Is(results[i].Err, errDevice13) {
				t.Errorf("send 7: %v / %v, want its own error", errs[i], results[i].Err)
			}
			continue
		}
		if errs[i] != nil || results[i].MessageID != (store.MessageID{byte(i)}) {
			t.Errorf("send %d: result %+v, err %v", i, results[i], errs[i])
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	total := 0
	for _, n := range f.batches {
		total += n
	}
	if total != 50 {
		t.Fatalf("batches %v hold %d sends, want 50", f.batches, total)
	}
	if len(f.batches) > 3 {
		t.Fatalf("50 concurrent sends took %d batches %v; want them grouped", len(f.batches), f.batches)
	}
}

func TestBatcherMaxBatch(t *testing.T) {
	f := &fakeQueue{gate: make(chan struct{})}
	b := store.NewBatcher(f, store.BatcherConfig{MaxBatch: 4, Flushers: 1})
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Enqueue(context.Background(), sendTo(1, byte(i))); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	for _, n := range f.batches {
		if n > 4 {
			t.Fatalf("batch of %d exceeds MaxBatch 4: %v", n, f.batches)
		}
	}
}

func TestBatcherFlushersParallel(t *testing.T) {
	f := &fakeQueue{gate: make(chan struct{})}
	b := store.NewBatcher(f, store.BatcherConfig{MaxBatch: 1, Flushers: 3})
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Enqueue(context.Background(), sendTo(1, byte(i)))
		}()
	}
	time.Sleep(30 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	if got := f.maxPar.Load(); got != 3 {
		t.Fatalf("%d batches in flight at once, want Flushers = 3", got)
	}
}

func TestBatcherContext(t *testing.T) {
	f := &fakeQueue{gate: make(chan struct{})}
	b := store.NewBatcher(f, store.BatcherConfig{Flushers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Enqueue(ctx, sendTo(1, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue with expired context = %v", err)
	}
	close(f.gate) // the abandoned send still commits; Close waits for it
	b.Close()
	if len(f.batches) != 1 {
		t.Fatalf("batches = %v, want the abandoned send committed", f.batches)
	}
	if _, err := b.Enqueue(context.Background(), sendTo(1, 2)); !errors.Is(err, store.ErrBatcherClosed) {
		t.Fatalf("Enqueue after Close = %v", err)
	}
	b.Close() // idempotent
}

func TestBatcherAck(t *testing.T) {
	f := &fakeQueue{}
	b := store.NewBatcher(f, store.BatcherConfig{})
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := b.Ack(context.Background(), store.AckRequest{UpTo: uint64(i)})
			if err != nil || n != i {
				t.Errorf("Ack(%d) = %d, %v", i, n, err)
			}
		}()
	}
	wg.Wait()

	f.ackErr = errors.New("disk on fire")
	if _, err := b.Ack(context.Background(), store.AckRequest{UpTo: 1}); !errors.Is(err, f.ackErr) {
		t.Fatalf("Ack error = %v", err)
	}
}

func BenchmarkBatcherOverhead(b *testing.B) {
	f := &fakeQueue{}
	bt := store.NewBatcher(f, store.BatcherConfig{})
	defer bt.Close()
	s := sendTo(1, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bt.Enqueue(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
