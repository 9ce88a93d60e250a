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
//   - EnqueueBatch/size=N: sends of 4 device copies with 100-byte envelopes
//     to 256 devices, committed N per EnqueueBatch call (one transaction);
//     reports sends/s. ",devices=4096" spreads the copies over 4,096
//     devices, so that every copy of a batch goes to a different device.
//   - Batcher/C=N: N goroutines each calling Batcher.Enqueue in a loop;
//     reports sends/s and the p50/p99 latency of one Enqueue.
//   - FetchAck: a receiving device fetches pages of 100 and acks each page;
//     reports messages/s.
//   - Deliver/C=256: the whole delivery path at once: 256 goroutines send
//     through a Batcher while one goroutine per recipient device (256)
//     fetches and acks what arrives (acks through the Batcher too);
//     reports sends/s and delivered messages (device copies) per second.
//   - Paced/rate=R: sends arrive at a fixed R per second through a
//     Batcher, each from its own goroutine; reports the p50/p99 latency of
//     Enqueue (arrival to commit).
//
// cfg configures every Batcher the benchmarks start (e.g. more Flushers for
// PostgreSQL).
func Bench(b *testing.B, cfg store.BatcherConfig, open func(b *testing.B, maxDepth int) store.Store) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("EnqueueBatch/size=%d", n), func(b *testing.B) { benchEnqueueBatch(b, open(b, 1<<30), n, benchDevices) })
	}
	// Wide fan-out: a batch's 4,000 copies go to ~4,000 distinct devices.
	b.Run("EnqueueBatch/size=1000,devices=4096", func(b *testing.B) { benchEnqueueBatch(b, open(b, 1<<30), 1000, 4096) })
	for _, c := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("Batcher/C=%d", c), func(b *testing.B) { benchBatcher(b, open(b, 1<<30), cfg, c) })
	}
	b.Run("FetchAck", func(b *testing.B) { benchFetchAck(b, open(b, 1<<30)) })
	b.Run("Deliver/C=256", func(b *testing.B) { benchDeliver(b, open(b, 1<<30), cfg, 256) })
	for _, rate := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("Paced/rate=%d", rate), func(b *testing.B) { benchPaced(b, open(b, 1<<30), cfg, rate) })
	}
}

// benchFixture is a sender and a set of recipient devices.
type benchFixture struct {
	n     int // recipient devices
	from  store.Address
	to    []store.Address
	env   []byte
	tag   []byte
	count atomic.Uint64
}

const benchDevices = 256

// cpuMeter reports process CPU time per unit of work as "cpu-µs/<unit>".
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B, n int, unit string) {
	if used := cpuTime() - m.start; used > 0 && n > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(n), "cpu-µs/"+unit)
	}
}

func newFixture(b *testing.B, s store.Store) *benchFixture { return newFixtureN(b, s, benchDevices) }

func newFixtureN(b *testing.B, s store.Store, devices int) *benchFixture {
	b.Helper()
	ctx := context.Background()
	f := &benchFixture{n: devices, env: make([]byte, 100), tag: make([]byte, 32)}
	sender := newAccount(fmt.Sprintf("bench-sender-%x", randBytes(4)), 1)
	if err := s.CreateAccount(ctx, sender); err != nil {
		b.Fatal(err)
	}
	f.from = addr(sender, 1)
	// Recipient devices: accounts of 8 devices each.
	for i := range devices / 8 {
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
	base := int(n*4) % f.n
	for i := range s.Copies {
		s.Copies[i] = store.Copy{To: f.to[(base+i)%f.n], Envelope: f.env, FrankingTag: f.tag}
	}
	return s
}

func benchEnqueueBatch(b *testing.B, s store.Store, size, devices int) {
	ctx := context.Background()
	f := newFixtureN(b, s, devices)
	batch := make([]store.Send, 0, size)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
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
	cpu.report(b, b.N, "send")
}

func benchBatcher(b *testing.B, s store.Store, cfg store.BatcherConfig, callers int) {
	ctx := context.Background()
	f := newFixture(b, s)
	bt := store.NewBatcher(s, cfg)
	defer bt.Close()
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
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
	cpu.report(b, b.N, "send")
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
	// Fill: b.N sends, each with a copy for each of 4 devices, so every
	// device holds b.N entries to fetch in pages of 100.
	devs := f.to[:4]
	b.StopTimer()
	batch := make([]store.Send, 0, 1000)
	for i := 0; i < b.N; i += 1000 {
		batch = batch[:0]
		for range min(1000, b.N-i) {
			sd := f.next()
			for j := range sd.Copies {
				sd.Copies[j].To = devs[j]
			}
			batch = append(batch, sd)
		}
		for _, r := range s.EnqueueBatch(ctx, batch) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportAllocs()
	b.StartTimer()
	start, cpu := time.Now(), startCPU()
	total := 0
	for _, d := range devs {
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
	cpu.report(b, total, "msg")
}

func benchDeliver(b *testing.B, s store.Store, cfg store.BatcherConfig, senders int) {
	ctx := context.Background()
	f := newFixture(b, s)
	bt := store.NewBatcher(s, cfg)
	defer bt.Close()
	// One wake-up channel per device stands in for the server's event
	// bus: a sender signals every recipient after its send commits.
	wake := make(map[store.Address]chan struct{}, len(f.to))
	for _, d := range f.to {
		wake[d] = make(chan struct{}, 1)
	}
	var (
		next      atomic.Int64
		delivered atomic.Int64
		want      = int64(4 * b.N)
		wg        sync.WaitGroup
		done      = make(chan struct{})
	)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
	for _, d := range f.to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var after uint64
			for {
				select {
				case <-done:
					return
				case <-wake[d]:
				}
				for {
					es, err := s.Fetch(ctx, d, after, 100)
					if err != nil {
						b.Error(err)
						return
					}
					if len(es) == 0 {
						break
					}
					after = es[len(es)-1].Seq
					n, err := bt.Ack(ctx, store.AckRequest{Device: d, UpTo: after})
					if err != nil {
						b.Error(err)
						return
					}
					if delivered.Add(int64(n)) == want {
						close(done)
					}
					if len(es) < 100 {
						break // drained; a later send wakes us again
					}
				}
			}
		}()
	}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				sd := f.next()
				if _, err := bt.Enqueue(ctx, sd); err != nil {
					b.Error(err)
					return
				}
				for _, c := range sd.Copies {
					select {
					case wake[c.To] <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "sends/s")
	b.ReportMetric(float64(delivered.Load())/el.Seconds(), "delivered/s")
	cpu.report(b, int(delivered.Load()), "delivered")
}

func benchPaced(b *testing.B, s store.Store, cfg store.BatcherConfig, rate int) {
	ctx := context.Background()
	f := newFixture(b, s)
	bt := store.NewBatcher(s, cfg)
	defer bt.Close()
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
	for i := range b.N {
		// Arrival i is due at start + i*interval; sleep in coarse steps
		// and release every arrival that is due.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if _, err := bt.Enqueue(ctx, f.next()); err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(t)
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu.report(b, b.N, "send")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}
