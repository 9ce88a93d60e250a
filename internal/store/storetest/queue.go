package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

func testQueueOrder(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1)
	b := mustAccount(t, s, "sender", 1)
	to, from := addr(a, 1), addr(b, 1)

	var sent []store.Send
	var lastSeq uint64
	for i := range 5 {
		sd := send(from, to)
		sd.Timestamp = t0.Add(time.Duration(i) * time.Millisecond)
		r := mustEnqueue(t, s, sd)
		if r.Duplicate || r.MessageID != sd.MessageID || !r.Timestamp.Equal(sd.Timestamp) || len(r.Seqs) != 1 {
			t.Fatalf("result = %+v", r)
		}
		if r.Seqs[0] <= lastSeq {
			t.Fatalf("seq %d after %d", r.Seqs[0], lastSeq)
		}
		lastSeq = r.Seqs[0]
		sent = append(sent, sd)
	}
	es := fetchAll(t, s, to)
	if len(es) != 5 || !sortedUnique(seqsOf(es)) {
		t.Fatalf("fetched seqs %v", seqsOf(es))
	}
	for i, e := range es {
		sd := sent[i]
		if e.MessageID != sd.MessageID || e.Sender != from || !e.Timestamp.Equal(sd.Timestamp) || !e.ExpiresAt.Equal(sd.ExpiresAt) {
			t.Fatalf("entry %d = %+v", i, e)
		}
		equalBytes(t, "envelope", e.Envelope, sd.Copies[0].Envelope)
		equalBytes(t, "franking tag", e.FrankingTag, sd.Copies[0].FrankingTag)
	}

	// Paging by afterSeq and limit.
	page, err := s.Fetch(ctx, to, es[1].Seq, 2)
	noErr(t, "Fetch(page)", err)
	if !slices.Equal(seqsOf(page), seqsOf(es[2:4])) {
		t.Fatalf("page = %v, want %v", seqsOf(page), seqsOf(es[2:4]))
	}
	if page, err := s.Fetch(ctx, to, 0, 0); err != nil || len(page) != 0 {
		t.Fatalf("Fetch(limit 0) = %d entries, %v", len(page), err)
	}
	if page, _ := s.Fetch(ctx, to, es[4].Seq, 10); len(page) != 0 {
		t.Fatalf("fetch past the end returned %d", len(page))
	}
	if page, _ := s.Fetch(ctx, addr(a, 9), 0, 10); len(page) != 0 {
		t.Fatalf("fetch of unknown device returned %d", len(page))
	}
	if n := depth(t, s, addr(a, 9)); n != 0 {
		t.Fatalf("depth of unknown device = %d", n)
	}

	// Sequence numbers never go back, even once the queue is emptied.
	n, err := s.Ack(ctx, to, lastSeq)
	noErr(t, "Ack", err)
	if n != 5 {
		t.Fatalf("Ack deleted %d, want 5", n)
	}
	r := mustEnqueue(t, s, send(from, to))
	if r.Seqs[0] <= lastSeq {
		t.Fatalf("seq %d reused after emptying the queue (last %d)", r.Seqs[0], lastSeq)
	}

	// A send may carry two copies for the same device (e.g. a re-send):
	// each gets its own seq.
	r = mustEnqueue(t, s, send(from, to, to))
	if len(r.Seqs) != 2 || r.Seqs[0] == r.Seqs[1] {
		t.Fatalf("seqs = %v", r.Seqs)
	}
}

func testQueueFanOut(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "rcpt", 1, 2, 3)
	b := mustAccount(t, s, "sender", 1, 2)
	sd := send(addr(b, 1), addr(a, 1), addr(a, 2), addr(a, 3), addr(b, 2))
	r := mustEnqueue(t, s, sd)
	if len(r.Seqs) != 4 {
		t.Fatalf("seqs = %v", r.Seqs)
	}
	for i, c := range sd.Copies {
		es := fetchAll(t, s, c.To)
		if len(es) != 1 || es[0].MessageID != sd.MessageID || es[0].Seq != r.Seqs[i] {
			t.Fatalf("queue of %s = %+v", c.To, es)
		}
		// Each device gets its own ciphertext.
		equalBytes(t, "envelope", es[0].Envelope, c.Envelope)
	}
	// The sender device itself got nothing.
	checkDepth(t, s, addr(b, 1), 0)
}

func testQueueIdempotent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1, 2)
	sd := send(addr(b, 1), addr(a, 1), addr(a, 2))
	first := mustEnqueue(t, s, sd)

	// A retry carries a fresh server message id and timestamp; the store
	// must answer with the original ones and enqueue nothing.
	retry := sd
	retry.MessageID = store.MessageID(randBytes(16))
	retry.Timestamp = t0.Add(time.Second)
	for range 3 {
		r := mustEnqueue(t, s, retry)
		if !r.Duplicate || r.MessageID != sd.MessageID || !r.Timestamp.Equal(sd.Timestamp) || r.Seqs != nil {
			t.Fatalf("retry result = %+v, want duplicate of %x", r, sd.MessageID)
		}
	}
	checkDepth(t, s, addr(a, 1), 1)
	checkDepth(t, s, addr(a, 2), 1)

	// Still recognised after the copies were acknowledged.
	_, err := s.Ack(ctx, addr(a, 1), first.Seqs[0])
	noErr(t, "Ack", err)
	if r := mustEnqueue(t, s, retry); !r.Duplicate {
		t.Fatalf("retry after ack enqueued again: %+v", r)
	}
	checkDepth(t, s, addr(a, 1), 0)

	// The key is (sender account, sender device, client id): the same
	// client id from another device is a different send.
	other := send(addr(b, 2), addr(a, 1))
	other.ClientMessageID = sd.ClientMessageID
	if r := mustEnqueue(t, s, other); r.Duplicate {
		t.Fatalf("send from another device treated as duplicate")
	}

	// Within one batch: the second copy of the same send is a duplicate.
	twin := send(addr(b, 1), addr(a, 2))
	rs := s.EnqueueBatch(ctx, []store.Send{twin, twin})
	if rs[0].Err != nil || rs[0].Duplicate || rs[1].Err != nil || !rs[1].Duplicate || rs[1].MessageID != twin.MessageID {
		t.Fatalf("in-batch retry results = %+v", rs)
	}
	checkDepth(t, s, addr(a, 2), 2)

	// A send that failed leaves no idempotency record: its retry can
	// succeed once the cause is gone.
	fail := send(addr(b, 1), addr(a, 1), store.Address{Account: a.ID, Device: 77})
	wantErr(t, "send to unknown device", enqueue(t, s, fail).Err, store.ErrNotFound)
	fail.Copies = fail.Copies[:1]
	if r := mustEnqueue(t, s, fail); r.Duplicate {
		t.Fatalf("retry of a failed send reported duplicate")
	}
}

func testQueueCapAllOrNone(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2, 3)
	b := mustAccount(t, s, "sender", 1)
	from := addr(b, 1)
	full := addr(a, 2)
	// Fill device 2 to the cap.
	for range MaxQueueDepth {
		mustEnqueue(t, s, send(from, full))
	}
	checkDepth(t, s, full, MaxQueueDepth)

	// A send to 1, 2 and 3 fails as a whole, naming device 2.
	sd := send(from, addr(a, 1), full, addr(a, 3))
	r := enqueue(t, s, sd)
	wantErr(t, "send over cap", r.Err, store.ErrQueueFull)
	var de *store.DeviceError
	if !errors.As(r.Err, &de) || de.Device != full || !strings.Contains(r.Err.Error(), full.String()) {
		t.Fatalf("error %v does not name device %s", r.Err, full)
	}
	checkDepth(t, s, addr(a, 1), 0)
	checkDepth(t, s, addr(a, 3), 0)
	checkDepth(t, s, full, MaxQueueDepth)

	// Two copies to a device with room for one also fail.
	for range MaxQueueDepth - 1 {
		mustEnqueue(t, s, send(from, addr(a, 3)))
	}
	wantErr(t, "two copies, room for one", enqueue(t, s, send(from, addr(a, 3), addr(a, 3))).Err, store.ErrQueueFull)
	checkDepth(t, s, addr(a, 3), MaxQueueDepth-1)

	// Acking makes room; the retry of the refused send then succeeds.
	_, err := s.Ack(ctx, full, ^uint64(0))
	noErr(t, "Ack", err)
	r = mustEnqueue(t, s, sd)
	if r.Duplicate {
		t.Fatal("refused send recorded as committed")
	}
	checkDepth(t, s, addr(a, 1), 1)
	checkDepth(t, s, full, 1)
	checkDepth(t, s, addr(a, 3), MaxQueueDepth)
}

func testQueueBatchIndependent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	from := addr(b, 1)
	full := addr(a, 2)
	for range MaxQueueDepth {
		mustEnqueue(t, s, send(from, full))
	}
	committed := send(from, addr(a, 1))
	mustEnqueue(t, s, committed)

	ok1 := send(from, addr(a, 1))
	overCap := send(from, addr(a, 1), full)
	ok2 := send(from, addr(a, 1))
	unknown := send(from, addr(a, 1), store.Address{Account: newID(), Device: 1})
	invalid := send(from, addr(a, 1))
	invalid.ExpiresAt = invalid.Timestamp
	noCopies := send(from)
	retry := committed
	retry.MessageID = store.MessageID(randBytes(16))
	ok3 := send(from, addr(a, 1))

	batch := []store.Send{ok1, overCap, ok2, unknown, invalid, noCopies, retry, ok3}
	rs := s.EnqueueBatch(ctx, batch)
	if len(rs) != len(batch) {
		t.Fatalf("%d results for %d sends", len(rs), len(batch))
	}
	for _, i := range []int{0, 2, 7} {
		if rs[i].Err != nil || rs[i].Duplicate || rs[i].MessageID != batch[i].MessageID || len(rs[i].Seqs) != 1 {
			t.Fatalf("result %d = %+v, want committed", i, rs[i])
		}
	}
	wantErr(t, "over cap in batch", rs[1].Err, store.ErrQueueFull)
	wantErr(t, "unknown device in batch", rs[3].Err, store.ErrNotFound)
	wantErr(t, "invalid in batch", rs[4].Err, store.ErrInvalid)
	wantErr(t, "no copies in batch", rs[5].Err, store.ErrInvalid)
	if rs[6].Err != nil || !rs[6].Duplicate || rs[6].MessageID != committed.MessageID {
		t.Fatalf("retry in batch = %+v", rs[6])
	}
	es := fetchAll(t, s, addr(a, 1))
	var got []store.MessageID
	for _, e := range es {
		got = append(got, e.MessageID)
	}
	want := []store.MessageID{committed.MessageID, ok1.MessageID, ok2.MessageID, ok3.MessageID}
	if !slices.Equal(got, want) {
		t.Fatalf("queue holds %d messages in order %x, want %x", len(got), got, want)
	}
	if !(rs[0].Seqs[0] < rs[2].Seqs[0] && rs[2].Seqs[0] < rs[7].Seqs[0]) {
		t.Fatalf("batch seqs out of order: %v %v %v", rs[0].Seqs, rs[2].Seqs, rs[7].Seqs)
	}
	checkDepth(t, s, full, MaxQueueDepth)

	if rs := s.EnqueueBatch(ctx, nil); len(rs) != 0 {
		t.Fatalf("empty batch returned %d results", len(rs))
	}
}

func testQueueAck(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	to, other := addr(a, 1), addr(a, 2)
	var seqs []uint64
	for range 7 {
		r := mustEnqueue(t, s, send(addr(b, 1), to, other))
		seqs = append(seqs, r.Seqs[0])
	}
	n, err := s.Ack(ctx, to, seqs[1])
	noErr(t, "Ack", err)
	if n != 2 {
		t.Fatalf("Ack(upto %d) deleted %d, want 2", seqs[1], n)
	}
	if got := seqsOf(fetchAll(t, s, to)); !slices.Equal(got, seqs[2:]) {
		t.Fatalf("after Ack: %v, want %v", got, seqs[2:])
	}
	n, err = s.AckSeqs(ctx, to, []uint64{seqs[3], seqs[5], seqs[0], 1 << 40, 0, seqs[3]})
	noErr(t, "AckSeqs", err)
	if n != 2 {
		t.Fatalf("AckSeqs deleted %d, want 2", n)
	}
	want := []uint64{seqs[2], seqs[4], seqs[6]}
	if got := seqsOf(fetchAll(t, s, to)); !slices.Equal(got, want) {
		t.Fatalf("after AckSeqs: %v, want %v", got, want)
	}
	checkDepth(t, s, to, 3)
	// Acks never touch other devices.
	checkDepth(t, s, other, 7)
	// Acking again is harmless.
	n, err = s.Ack(ctx, to, seqs[1])
	noErr(t, "Ack(again)", err)
	if n != 0 {
		t.Fatalf("repeated Ack deleted %d", n)
	}
	if n, err := s.Ack(ctx, addr(a, 9), 100); err != nil || n != 0 {
		t.Fatalf("Ack(unknown device) = %d, %v", n, err)
	}
	n, err = s.Ack(ctx, to, ^uint64(0))
	noErr(t, "Ack(all)", err)
	if n != 3 {
		t.Fatalf("Ack(all) deleted %d, want 3", n)
	}
	checkDepth(t, s, to, 0)

	// AckBatch: several devices and both forms in one transaction.
	third := addr(a, 3)
	noErr(t, "PublishDeviceList", s.PublishDeviceList(ctx, a.ID, store.DeviceListUpdate{
		Version: 2, Signed: []byte("v2"), Devices: append(slices.Clone(a.DeviceList.Devices), keysFor(3)...), At: t0}))
	var tseqs []uint64
	for range 4 {
		tseqs = append(tseqs, mustEnqueue(t, s, send(addr(b, 1), third)).Seqs[0])
	}
	oseqs := seqsOf(fetchAll(t, s, other))
	ns, err := s.AckBatch(ctx, []store.AckRequest{
		{Device: other, UpTo: oseqs[2], Seqs: []uint64{oseqs[5]}},
		{Device: third, Seqs: []uint64{tseqs[1], tseqs[3]}},
		{Device: addr(a, 9), UpTo: 5},
		{Device: other, UpTo: oseqs[3]},
		{Device: third},
	})
	noErr(t, "AckBatch", err)
	if want := []int{4, 2, 0, 1, 0}; !slices.Equal(ns, want) {
		t.Fatalf("AckBatch counts = %v, want %v", ns, want)
	}
	if got, want := seqsOf(fetchAll(t, s, other)), []uint64{oseqs[4], oseqs[6]}; !slices.Equal(got, want) {
		t.Fatalf("after AckBatch: %v, want %v", got, want)
	}
	if got, want := seqsOf(fetchAll(t, s, third)), []uint64{tseqs[0], tseqs[2]}; !slices.Equal(got, want) {
		t.Fatalf("after AckBatch: %v, want %v", got, want)
	}
	checkDepth(t, s, other, 2)
	checkDepth(t, s, third, 2)
	if ns, err := s.AckBatch(ctx, nil); err != nil || len(ns) != 0 {
		t.Fatalf("AckBatch(nil) = %v, %v", ns, err)
	}
}

func testQueueExpire(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	from := addr(b, 1)
	short := send(from, addr(a, 1), addr(a, 2))
	short.ExpiresAt = t0.Add(time.Hour)
	long := send(from, addr(a, 1))
	long.ExpiresAt = t0.Add(2 * time.Hour)
	mustEnqueue(t, s, short)
	mustEnqueue(t, s, long)

	n, err := s.ExpireBefore(ctx, t0.Add(time.Hour-time.Millisecond))
	noErr(t, "ExpireBefore(early)", err)
	if n != 0 {
		t.Fatalf("ExpireBefore deleted %d too early", n)
	}
	n, err = s.ExpireBefore(ctx, t0.Add(time.Hour))
	noErr(t, "ExpireBefore", err)
	if n != 2 {
		t.Fatalf("ExpireBefore deleted %d, want 2", n)
	}
	es := fetchAll(t, s, addr(a, 1))
	if len(es) != 1 || es[0].MessageID != long.MessageID {
		t.Fatalf("after expiry queue = %+v", es)
	}
	checkDepth(t, s, addr(a, 1), 1)
	checkDepth(t, s, addr(a, 2), 0)

	// The idempotency record of the expired send is gone too: a retry now
	// is a new send. The unexpired one is still recognised.
	if r := mustEnqueue(t, s, short); r.Duplicate {
		t.Fatal("retry after expiry reported duplicate")
	}
	if r := mustEnqueue(t, s, long); !r.Duplicate {
		t.Fatal("retry of unexpired send not recognised")
	}

	// Many entries: chunks are handled.
	c := mustAccount(t, s, "bulk", 1, 2, 3, 4, 5, 6, 7, 8)
	for range MaxQueueDepth {
		var to []store.Address
		for d := store.DeviceID(1); d <= 8; d++ {
			to = append(to, addr(c, d))
		}
		sd := send(from, to...)
		sd.ExpiresAt = t0.Add(time.Minute)
		mustEnqueue(t, s, sd)
	}
	n, err = s.ExpireBefore(ctx, t0.Add(3*time.Hour))
	noErr(t, "ExpireBefore(all)", err)
	if want := 8*MaxQueueDepth + 3; n != want {
		t.Fatalf("ExpireBefore deleted %d, want %d", n, want)
	}
	for d := store.DeviceID(1); d <= 8; d++ {
		checkDepth(t, s, addr(c, d), 0)
	}
}

// testQueueBatcherConcurrent: many goroutines send through a Batcher to a
// few devices; every send is committed once, sequence numbers per device
// are unique, and every entry is where its result says.
func testQueueBatcherConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const senders, each = 8, 25
	// Room for everything: the suite's cap is small, so spread over devices.
	const devices = senders * each * 2 / MaxQueueDepth
	var ids []store.DeviceID
	for d := range devices {
		ids = append(ids, store.DeviceID(d+1))
	}
	a := mustAccount(t, s, "rcpt", ids...)
	b := mustAccount(t, s, "sender", 1)
	bt := store.NewBatcher(s, store.BatcherConfig{MaxBatch: 16, MaxDelay: 2 * time.Millisecond})
	defer bt.Close()

	type sent struct {
		send store.Send
		res  store.Result
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		all []sent
	)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := g*each + i
				// Two copies per send, to devices k%devices and (k+1)%devices.
				sd := send(addr(b, 1), addr(a, ids[k%devices]), addr(a, ids[(k+1)%devices]))
				r, err := bt.Enqueue(ctx, sd)
				if err != nil {
					t.Errorf("Batcher.Enqueue: %v", err)
					return
				}
				// A retry through the batcher is a duplicate.
				if i%10 == 0 {
					r2, err := bt.Enqueue(ctx, sd)
					if err != nil || !r2.Duplicate || r2.MessageID != sd.MessageID {
						t.Errorf("retry through batcher = %+v, %v", r2, err)
					}
				}
				mu.Lock()
				all = append(all, sent{sd, r})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	perDevice := map[store.Address][]uint64{}
	for _, x := range all {
		for j, c := range x.send.Copies {
			perDevice[c.To] = append(perDevice[c.To], x.res.Seqs[j])
		}
	}
	total := 0
	for d, seqs := range perDevice {
		slices.Sort(seqs)
		es := fetchAll(t, s, d)
		if !slices.Equal(seqsOf(es), seqs) {
			t.Fatalf("device %s: queue seqs %v, results say %v", d, seqsOf(es), seqs)
		}
		if !sortedUnique(seqs) {
			t.Fatalf("device %s: seqs repeat: %v", d, seqs)
		}
		total += len(es)
	}
	if total != 2*senders*each {
		t.Fatalf("%d entries stored, want %d", total, 2*senders*each)
	}

	// Every device acks concurrently through the batcher, one entry at a
	// time in order, as a connected client would.
	var acked sync.Map
	for d, seqs := range perDevice {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for _, q := range seqs {
				k, err := bt.Ack(ctx, store.AckRequest{Device: d, UpTo: q})
				if err != nil {
					t.Errorf("Batcher.Ack: %v", err)
					return
				}
				n += k
			}
			acked.Store(d, n)
		}()
	}
	wg.Wait()
	for d, seqs := range perDevice {
		if n, _ := acked.Load(d); n != len(seqs) {
			t.Fatalf("device %s: acks deleted %v entries, want %d", d, n, len(seqs))
		}
		checkDepth(t, s, d, 0)
	}
	bt.Close()
	if _, err := bt.Ack(ctx, store.AckRequest{Device: addr(a, 1), UpTo: 1}); !errors.Is(err, store.ErrBatcherClosed) {
		t.Fatalf("Ack after Close = %v", err)
	}
	if _, err := bt.Enqueue(ctx, send(addr(b, 1), addr(a, 1))); !errors.Is(err, store.ErrBatcherClosed) {
		t.Fatalf("Enqueue after Close = %v", err)
	}
}

// testQueueConcurrentBatches: concurrent EnqueueBatch calls whose sends go
// to overlapping device sets in opposite orders (deadlock bait on a
// multi-writer database), with the same retry in several batches.
func testQueueConcurrentBatches(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2, 3, 4)
	b := mustAccount(t, s, "sender", 1)
	from := addr(b, 1)
	shared := send(from, addr(a, 1))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		orig    int
		results []store.Result
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []store.Send
			if w%2 == 0 {
				batch = []store.Send{send(from, addr(a, 2)), send(from, addr(a, 3)), shared}
			} else {
				batch = []store.Send{shared, send(from, addr(a, 3)), send(from, addr(a, 2))}
			}
			rs := s.EnqueueBatch(ctx, batch)
			mu.Lock()
			defer mu.Unlock()
			for i, r := range rs {
				if r.Err != nil {
					t.Errorf("batch %d send %d: %v", w, i, r.Err)
				}
				if batch[i].ClientMessageID == shared.ClientMessageID && !r.Duplicate {
					orig++
				}
				results = append(results, r)
			}
		}()
	}
	wg.Wait()
	if orig != 1 {
		t.Fatalf("shared send committed %d times, want 1", orig)
	}
	checkDepth(t, s, addr(a, 1), 1)
	checkDepth(t, s, addr(a, 2), 4)
	checkDepth(t, s, addr(a, 3), 4)
	for _, r := range results {
		if bytes.Equal(r.MessageID[:], make([]byte, 16)) {
			t.Fatalf("result without message id: %+v", r)
		}
	}
}

// testQueueLargeBatch commits one batch larger than any statement chunk a
// backend might use (150 sends, 450 copies, 80 recipient devices, 150
// idempotency keys), with failures and retries spread through it, and
// checks every queue entry by entry.
func testQueueLargeBatch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	b := mustAccount(t, s, "sender", 1)
	from := addr(b, 1)
	var devs []store.Address
	for i := range 10 {
		a := mustAccount(t, s, fmt.Sprintf("rcpt%d", i), 1, 2, 3, 4, 5, 6, 7, 8)
		for d := store.DeviceID(1); d <= 8; d++ {
			devs = append(devs, addr(a, d))
		}
	}
	committed := send(from, devs[0])
	mustEnqueue(t, s, committed)

	var batch []store.Send
	for i := range 150 {
		sd := send(from, devs[(3*i)%80], devs[(3*i+1)%80], devs[(3*i+2)%80])
		switch i % 50 {
		case 17: // unknown device: fails alone
			sd.Copies = append(sd.Copies, store.Copy{To: store.Address{Account: newID(), Device: 1}, Envelope: []byte("x")})
		case 33: // retry of the committed send
			sd = committed
			sd.MessageID = store.MessageID(randBytes(16))
		case 41: // retry of an earlier send of this batch
			sd = batch[i-5]
			sd.MessageID = store.MessageID(randBytes(16))
		}
		batch = append(batch, sd)
	}
	rs := s.EnqueueBatch(ctx, batch)
	want := map[store.Address][]store.MessageID{devs[0]: {committed.MessageID}}
	for i, sd := range batch {
		r := rs[i]
		switch i % 50 {
		case 17:
			wantErr(t, fmt.Sprintf("send %d", i), r.Err, store.ErrNotFound)
			continue
		case 33:
			if r.Err != nil || !r.Duplicate || r.MessageID != committed.MessageID {
				t.Fatalf("send %d = %+v, want duplicate of the committed send", i, r)
			}
			continue
		case 41:
			if r.Err != nil || !r.Duplicate || r.MessageID != batch[i-5].MessageID {
				t.Fatalf("send %d = %+v, want duplicate of send %d", i, r, i-5)
			}
			continue
		}
		if r.Err != nil || r.Duplicate || r.MessageID != sd.MessageID || len(r.Seqs) != 3 {
			t.Fatalf("send %d = %+v", i, r)
		}
		for _, c := range sd.Copies {
			want[c.To] = append(want[c.To], sd.MessageID)
		}
	}
	total := 0
	for _, d := range devs {
		es := fetchAll(t, s, d)
		var got []store.MessageID
		for _, e := range es {
			got = append(got, e.MessageID)
		}
		if !slices.Equal(got, want[d]) {
			t.Fatalf("device %s holds %d messages, want %d in batch order", d, len(got), len(want[d]))
		}
		if !sortedUnique(seqsOf(es)) {
			t.Fatalf("device %s seqs %v", d, seqsOf(es))
		}
		checkDepth(t, s, d, len(want[d]))
		total += len(es)
	}
	if total != 1+3*(150-3*3) {
		t.Fatalf("%d entries stored, want %d", total, 1+3*(150-9))
	}
	// The whole batch is recognised on retry.
	for i, r := range s.EnqueueBatch(ctx, batch) {
		if i%50 == 17 {
			continue
		}
		if r.Err != nil || !r.Duplicate {
			t.Fatalf("retried send %d = %+v, want duplicate", i, r)
		}
	}
	// Ack many devices at once.
	var acks []store.AckRequest
	for _, d := range devs {
		acks = append(acks, store.AckRequest{Device: d, UpTo: 1 << 40})
	}
	ns, err := s.AckBatch(ctx, acks)
	noErr(t, "AckBatch", err)
	for i, d := range devs {
		if ns[i] != len(want[d]) {
			t.Fatalf("AckBatch deleted %d for %s, want %d", ns[i], d, len(want[d]))
		}
		checkDepth(t, s, d, 0)
	}
}

// testQueueDeviceReadded: a device removed from the device list and later
// listed again (same id, same keys) keeps a growing sequence space, so a
// client cursor from before the removal never hides new entries.
func testQueueDeviceReadded(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "readd", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	d2 := addr(a, 2)
	var last uint64
	for range 5 {
		last = mustEnqueue(t, s, send(addr(b, 1), d2)).Seqs[0]
	}
	keep, dev2 := a.DeviceList.Devices[:1], a.DeviceList.Devices[1:]
	noErr(t, "PublishDeviceList(remove 2)", s.PublishDeviceList(ctx, a.ID,
		store.DeviceListUpdate{Version: 2, Signed: []byte("v2"), Devices: keep, At: t0}))
	noErr(t, "PublishDeviceList(re-add 2)", s.PublishDeviceList(ctx, a.ID,
		store.DeviceListUpdate{Version: 3, Signed: []byte("v3"), Devices: append(slices.Clone(keep), dev2...), At: t0}))
	checkDepth(t, s, d2, 0)
	r := mustEnqueue(t, s, send(addr(b, 1), d2))
	if r.Seqs[0] <= last {
		t.Fatalf("seq %d after re-adding the device, want > %d (before removal)", r.Seqs[0], last)
	}
	if es, _ := s.Fetch(ctx, d2, last, 10); len(es) != 1 {
		t.Fatalf("Fetch(after %d) = %d entries, want the new one", last, len(es))
	}
}

// testQueueCursor: a receiver that only ever fetches after the highest
// sequence number it has seen, and acks as it goes, receives every entry
// exactly once while concurrent batches keep arriving. It fails if an
// entry with a smaller sequence number becomes visible after a larger one.
func testQueueCursor(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	d := addr(a, 1)
	const writers, each = 4, 30
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				sd := send(addr(b, 1), d, addr(a, 2))
				for {
					r := s.EnqueueBatch(ctx, []store.Send{sd})[0]
					if r.Err == nil {
						break
					}
					if !errors.Is(r.Err, store.ErrQueueFull) {
						t.Errorf("EnqueueBatch: %v", r.Err)
						return
					}
					// Device 2 is never acked: keep it from filling up.
					if _, err := s.Ack(ctx, addr(a, 2), 1<<62); err != nil {
						t.Errorf("Ack: %v", err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	got := map[store.MessageID]int{}
	var after uint64
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < writers*each && time.Now().Before(deadline) && !t.Failed() {
		es, err := s.Fetch(ctx, d, after, 100)
		noErr(t, "Fetch", err)
		for _, e := range es {
			if e.Seq <= after {
				t.Fatalf("Fetch(after %d) returned seq %d", after, e.Seq)
			}
			got[e.MessageID]++
			after = e.Seq
		}
		if len(es) > 0 {
			_, err := s.Ack(ctx, d, after)
			noErr(t, "Ack", err)
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	// Anything still queued was skipped by the cursor.
	if rest, _ := s.Fetch(ctx, d, 0, 1000); len(rest) != 0 {
		t.Fatalf("%d entries left behind the cursor (first seq %d, cursor %d)", len(rest), rest[0].Seq, after)
	}
	if len(got) != writers*each {
		t.Fatalf("received %d messages, want %d", len(got), writers*each)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("message %x received %d times", id[:4], n)
		}
	}
}

// testQueuePrevSeqs: Result.PrevSeqs names, per copy, the device's
// previously assigned seq (0 for a new device), also within one batch and
// for two copies to one device, interleaved with other devices' entries;
// after acknowledgements, no entry lies between PrevSeqs and Seqs.
func testQueuePrevSeqs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "rcpt", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	d1, d2, from := addr(a, 1), addr(a, 2), addr(b, 1)
	last := map[store.Address]uint64{}
	check := func(sends []store.Send) {
		t.Helper()
		for i, r := range s.EnqueueBatch(ctx, sends) {
			noErr(t, "EnqueueBatch", r.Err)
			if len(r.PrevSeqs) != len(r.Seqs) {
				t.Fatalf("send %d: seqs %v, prev seqs %v", i, r.Seqs, r.PrevSeqs)
			}
			for j, c := range sends[i].Copies {
				if r.PrevSeqs[j] != last[c.To] {
					t.Fatalf("send %d copy %d: prev seq %d, want %d (seq %d)", i, j, r.PrevSeqs[j], last[c.To], r.Seqs[j])
				}
				last[c.To] = r.Seqs[j]
			}
		}
	}
	check([]store.Send{send(from, d1)})
	check([]store.Send{send(from, d2), send(from, d1, d2), send(from, d1, d1)})
	check([]store.Send{send(from, d2)})
	check([]store.Send{send(from, d1), send(from, d2, d1)})

	_, err := s.Ack(ctx, d1, last[d1])
	noErr(t, "Ack", err)
	r := mustEnqueue(t, s, send(from, d2, d1))
	for j, a := range []store.Address{d2, d1} {
		es, err := s.Fetch(ctx, a, r.PrevSeqs[j], 1)
		noErr(t, "Fetch", err)
		if len(es) != 1 || es[0].Seq != r.Seqs[j] {
			t.Fatalf("%s: after prev seq %d the queue holds %v, want seq %d first", a, r.PrevSeqs[j], seqsOf(es), r.Seqs[j])
		}
	}
}
