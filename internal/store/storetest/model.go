package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/wardchat/ward/internal/store"
)

// testQueueModel runs random sequences of batches, retries, acks and
// expiry against the store and against a plain in-memory model of the
// Queue contract, and compares every result and the queues after each step.
func testQueueModel(t *testing.T, s store.Store) {
	iter := 0
	rapid.Check(t, func(rt *rapid.T) {
		iter++
		ctx := ctxT(t)
		// Each check starts at an earlier time than the previous one, so
		// that its ExpireBefore calls never reach the (later) entries left
		// by earlier checks and the counts it sees are its own.
		now := t0.Add(time.Duration(1_000_000-iter) * time.Hour)
		rcpt := newAccount(fmt.Sprintf("model-%d-%x", iter, randBytes(4)), 1, 2, 3)
		rcpt.CreatedAt = now
		if err := s.CreateAccount(ctx, rcpt); err != nil {
			rt.Fatalf("CreateAccount: %v", err)
		}
		sender := store.Address{Account: newID(), Device: 1}
		devs := []store.Address{addr(rcpt, 1), addr(rcpt, 2), addr(rcpt, 3)}
		unknown := addr(rcpt, 4)

		type entry struct {
			seq uint64
			id  store.MessageID
			exp time.Time
		}
		type orig struct {
			id  store.MessageID
			ts  time.Time
			exp time.Time
		}
		queues := map[store.Address][]entry{}
		last := map[store.Address]uint64{}
		keys := map[store.ClientMessageID]orig{}
		var history []store.Send

		checkQueues := func(step string) {
			for _, d := range devs {
				es, err := s.Fetch(ctx, d, 0, 1000)
				if err != nil {
					rt.Fatalf("%s: Fetch: %v", step, err)
				}
				want := queues[d]
				if len(es) != len(want) {
					rt.Fatalf("%s: device %d holds %d entries, model %d", step, d.Device, len(es), len(want))
				}
				for i, e := range es {
					if e.Seq != want[i].seq || e.MessageID != want[i].id {
						rt.Fatalf("%s: device %d entry %d = seq %d id %x, model seq %d id %x",
							step, d.Device, i, e.Seq, e.MessageID[:2], want[i].seq, want[i].id[:2])
					}
				}
				if n, err := s.QueueDepth(ctx, d); err != nil || n != len(want) {
					rt.Fatalf("%s: QueueDepth(%d) = %d, %v; model %d", step, d.Device, n, err, len(want))
				}
			}
		}

		steps := rapid.IntRange(1, 10).Draw(rt, "steps")
		for step := range steps {
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0, 1: // a batch of sends, some of them retries
				var batch []store.Send
				for range rapid.IntRange(1, 4).Draw(rt, "batch") {
					if len(history) > 0 && rapid.Bool().Draw(rt, "retry") {
						sd := history[rapid.IntRange(0, len(history)-1).Draw(rt, "which")]
						// A retry gets a fresh server id, timestamp and expiry.
						sd.MessageID = store.MessageID(randBytes(16))
						sd.Timestamp = now
						sd.ExpiresAt = now.Add(time.Duration(rapid.IntRange(1, 5).Draw(rt, "ttl")) * time.Minute)
						batch = append(batch, sd)
						continue
					}
					var to []store.Address
					for range rapid.IntRange(1, 3).Draw(rt, "copies") {
						if rapid.IntRange(0, 9).Draw(rt, "unknown") == 0 {
							to = append(to, unknown)
						} else {
							to = append(to, devs[rapid.IntRange(0, 2).Draw(rt, "to")])
						}
					}
					sd := send(sender, to...)
					sd.Timestamp = now
					sd.ExpiresAt = now.Add(time.Duration(rapid.IntRange(1, 5).Draw(rt, "ttl")) * time.Minute)
					batch = append(batch, sd)
					history = append(history, sd)
				}
				rs := s.EnqueueBatch(ctx, batch)
				for i, sd := range batch {
					r := rs[i]
					if o, ok := keys[sd.ClientMessageID]; ok {
						if r.Err != nil || !r.Duplicate || r.MessageID != o.id || !r.Timestamp.Equal(o.ts) {
							rt.Fatalf("step %d send %d: %+v, model: duplicate of %x", step, i, r, o.id[:2])
						}
						continue
					}
					var wantErr error
					extra := map[store.Address]int{}
					for _, c := range sd.Copies {
						if c.To == unknown {
							wantErr = store.ErrNotFound
							break
						}
						extra[c.To]++
						if len(queues[c.To])+extra[c.To] > MaxQueueDepth {
							wantErr = store.ErrQueueFull
							break
						}
					}
					if wantErr != nil {
						if !errors.Is(r.Err, wantErr) {
							rt.Fatalf("step %d send %d: err %v, model %v", step, i, r.Err, wantErr)
						}
						continue
					}
					if r.Err != nil || r.Duplicate || r.MessageID != sd.MessageID || len(r.Seqs) != len(sd.Copies) {
						rt.Fatalf("step %d send %d: %+v, model: committed", step, i, r)
					}
					for j, c := range sd.Copies {
						if r.Seqs[j] <= last[c.To] {
							rt.Fatalf("step %d: device %d seq %d after %d", step, c.To.Device, r.Seqs[j], last[c.To])
						}
						last[c.To] = r.Seqs[j]
						queues[c.To] = append(queues[c.To], entry{r.Seqs[j], sd.MessageID, sd.ExpiresAt})
					}
					keys[sd.ClientMessageID] = orig{sd.MessageID, sd.Timestamp, sd.ExpiresAt}
				}
			case 2: // ack up to a seq, or a list of seqs
				d := devs[rapid.IntRange(0, 2).Draw(rt, "dev")]
				q := queues[d]
				var got int
				var err error
				want := 0
				if rapid.Bool().Draw(rt, "upto") {
					upto := rapid.Uint64Range(0, last[d]+1).Draw(rt, "seq")
					got, err = s.Ack(ctx, d, upto)
					q = slices.DeleteFunc(q, func(e entry) bool {
						if e.seq <= upto {
							want++
							return true
						}
						return false
					})
				} else {
					var seqs []uint64
					for range rapid.IntRange(0, 4).Draw(rt, "n") {
						seqs = append(seqs, rapid.Uint64Range(0, last[d]+1).Draw(rt, "seq"))
					}
					got, err = s.AckSeqs(ctx, d, seqs)
					q = slices.DeleteFunc(q, func(e entry) bool {
						if slices.Contains(seqs, e.seq) {
							want++
							return true
						}
						return false
					})
				}
				if err != nil || got != want {
					rt.Fatalf("step %d: ack deleted %d, %v; model %d", step, got, err, want)
				}
				queues[d] = q
			case 3: // time passes; expire
				now = now.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, "minutes")) * time.Minute)
				got, err := s.ExpireBefore(ctx, now)
				want := 0
				for _, d := range devs {
					queues[d] = slices.DeleteFunc(queues[d], func(e entry) bool {
						if !e.exp.After(now) {
							want++
							return true
						}
						return false
					})
				}
				for k, o := range keys {
					if !o.exp.After(now) {
						delete(keys, k)
					}
				}
				if err != nil || got != want {
					rt.Fatalf("step %d: ExpireBefore deleted %d, %v; model %d", step, got, err, want)
				}
			}
			checkQueues(fmt.Sprintf("step %d", step))
		}
	})
}
