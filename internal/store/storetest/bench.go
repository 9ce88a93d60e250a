package storetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// Bench runs the store benchmarks against stores made by open, which must
// return a new, empty store with the given per-device queue cap:
//
//   - EnqueueBatch/size=N: sends of 4 device copies with 100-byte envelopes,
//     committed N per EnqueueBatch call (one transaction); reports sends/s.
//   - Batcher/C=N: N goroutines each calling Batcher.Enqueue in a loop;
//     reports sends/s and the p50/p99 latency of one Enqueue.
//   - FetchAck: a receiving device fetches pages of 100 and acks each page;
//     reports messages/s.
func Bench(b *testing.B, open func(b *testing.B, maxDepth int) store.Store) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("EnqueueBatch/size=%d", n), func(b *testing.B) { benchEnqueueBatch(b, open(b, 1<<30), n) })
	}
	for _, c := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("Batcher/C=%d", c), func(b *testing.B) { benchBatcher(b, open(b, 1<<30), c) })
	}
	b.Run("FetchAck", func(b *testing.B) { benchFetchAck(b, open(b, 1<<30)) })
}

// benchFixture is a sender and a set of recipient devices.
type benchFixture struct {
	from  store.Address
	to    []store.Address
	env   []byte
	tag   []byte
	count atomic.Uint64
}

const benchDevices = 256

func newFixture(b *testing.B, s store.Store) *benchFixture {
	b.Helper()
	ctx := context.Background()
	f := &benchFixture{env: make([]byte, 100), tag: make([]byte, 32)}
	sender := newAccount(fmt.Sprintf("bench-sender-%x", randBytes(4)), 1)
	if err := s.CreateAccount(ctx, sender); err != nil {
		b.Fatal(err)
	}
	f.from = addr(sender, 1)
	// 256 recipient devices over 32 accounts of 8 devices.
	for i := range benchDevices / 8 {
		a := newAccount(fmt.Sprintf("bench-rcpt-%d-%x", i, randBytes(4)), 1, 2, 3, 4, 5, 6, 7, 8)
		if err := s.CreateAccount(ctx, a); err != nil {
			b.Fatal(err)
		}
		for d := store.DeviceID(1); d <= 8; d++ {
			f.to = append(f.to, addr(a, d))
		}
	}
	return f
}

// next builds a send with 4 copies to 4 distinct devices.
func (f *benchFixture) next() store.Send {
	n := f.count.Add(1)
	var cid store.ClientMessageID
	binary.BigEndian.PutUint64(cid[:], n)
	var mid store.MessageID
	binary.BigEndian.PutUint64(mid[8:], n)
	s := store.Send{
		Sender:          f.from,
		ClientMessageID: cid,
		MessageID:       mid,
		Timestamp:       t0,
		ExpiresAt:       t0.Add(30 * 24 * time.Hour),
		Copies:          make([]store.Copy, 4),
	}
	base := int(n*4) % benchDevices
	for i := range s.Copies {
		s.Copies[i] = store.Copy{To: f.to[(base+i)%benchDevices], Envelope: f.env, FrankingTag: f.tag}
	}
	return s
}

func benchEnqueueBatch(b *testing.B, s store.Store, size int) {
	ctx := context.Background()
	f := newFixture(b, s)
	batch := make([]store.Send, 0, size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += size {
		batch = batch[:0]
		for range min(size, b.N-i) {
			batch = append(batch, f.next())
		}
		for _, r := range s.EnqueueBatch(ctx, batch) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

func benchBatcher(b *testing.B, s store.Store, callers int) {
	ctx := context.Background()
	f := newFixture(b, s)
	bt := store.NewBatcher(s, store.BatcherConfig{})
	defer bt.Close()
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				sd := f.next()
				t := time.Now()
				if _, err := bt.Enqueue(ctx, sd); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "sends/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

func benchFetchAck(b *testing.B, s store.Store) {
	ctx := context.Background()
	f := newFixture(b, s)
	// Fill: b.N sends of 4 copies = 4*b.N entries over 256 devices.
	b.StopTimer()
	batch := make([]store.Send, 0, 1000)
	for i := 0; i < b.N; i += 1000 {
		batch = batch[:0]
		for range min(1000, b.N-i) {
			batch = append(batch, f.next())
		}
		for _, r := range s.EnqueueBatch(ctx, batch) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportAllocs()
	b.StartTimer()
	start := time.Now()
	total := 0
	for _, d := range f.to {
		var after uint64
		for {
			es, err := s.Fetch(ctx, d, after, 100)
			if err != nil {
				b.Fatal(err)
			}
			if len(es) == 0 {
				break
			}
			after = es[len(es)-1].Seq
			n, err := s.Ack(ctx, d, after)
			if err != nil || n != len(es) {
				b.Fatalf("Ack = %d, %v; want %d", n, err, len(es))
			}
			total += n
		}
	}
	el := time.Since(start)
	if total != 4*b.N {
		b.Fatalf("delivered %d, want %d", total, 4*b.N)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "msgs/s")
}
