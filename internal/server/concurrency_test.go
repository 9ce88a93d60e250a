package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// TestConcurrentSendsOrdered: many concurrent sends to a few connected
// devices (served by the direct hand-over, with out-of-order completions
// and gaps) arrive complete, once each, in strictly increasing sequence
// order.
func TestConcurrentSendsOrdered(t *testing.T) {
	e := newEnv(t, nil)
	const senders, perSender, receivers = 8, 150, 3
	var rx [receivers]*client
	var ws [receivers]*wsConn
	for i := range rx {
		rx[i] = e.newClient(fmt.Sprintf("rx%d", i)).register()
		ws[i] = rx[i].stream()
	}
	tx := make([]*client, senders)
	for i := range tx {
		tx[i] = e.newClient(fmt.Sprintf("tx%d", i)).register()
	}
	want := [receivers]map[uint64]bool{}
	for i := range want {
		want[i] = map[uint64]bool{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for k := range perSender {
				n := uint64(s*perSender + k)
				r := int(n*7919) % receivers
				env := make([]byte, 8)
				binary.BigEndian.PutUint64(env, n)
				var cm [16]byte
				binary.BigEndian.PutUint64(cm[:], n)
				_, err := e.srv.Send(context.Background(), tx[s].addr(), &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: rx[r].aid[:], Commitment: make([]byte, 32),
					Copies: []*wardv1.Copy{{AccountId: rx[r].aid[:], DeviceId: 1, Envelope: env}}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[r][n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for r := range receivers {
		got := map[uint64]bool{}
		var last uint64
		for len(got) < len(want[r]) {
			d := ws[r].delivery()
			if d.Seq <= last {
				t.Fatalf("receiver %d: seq %d after %d", r, d.Seq, last)
			}
			last = d.Seq
			n := binary.BigEndian.Uint64(d.Envelope)
			if got[n] || !want[r][n] {
				t.Fatalf("receiver %d: unexpected or repeated message %d", r, n)
			}
			got[n] = true
			if len(got)%100 == 0 {
				ws[r].ack(d.Seq)
			}
		}
		if !ws[r].quiet(100e6) {
			t.Fatalf("receiver %d got more than was sent", r)
		}
	}
}

// fetchCounter counts Store.Fetch calls.
type fetchCounter struct {
	store.Store
	n atomic.Int64
}

func (f *fetchCounter) Fetch(ctx context.Context, addr store.Address, afterSeq uint64, limit int) ([]store.Entry, error) {
	f.n.Add(1)
	return f.Store.Fetch(ctx, addr, afterSeq, limit)
}

// TestHandOverWithoutFetch: once its stream has drained the (empty)
// queue, a connected device gets a burst of entries, interleaved with
// other devices' (so its sequence numbers have gaps with SQLite's
// store-wide counter), straight from the sends that committed them,
// without reading the queue; and under concurrent senders it still gets
// every entry once, in order.
func TestHandOverWithoutFetch(t *testing.T) {
	fc := &fetchCounter{}
	testWrapStore = func(st store.Store) store.Store { fc.Store = st; return fc }
	e := newEnv(t, nil)
	testWrapStore = nil
	const receivers = 3
	var rx [receivers]*client
	var ws [receivers]*wsConn
	for i := range rx {
		rx[i] = e.newClient(fmt.Sprintf("rx%d", i)).register()
		ws[i] = rx[i].stream()
	}
	tx := e.newClient("sender").register()
	for deadline := time.Now().Add(10 * time.Second); fc.n.Load() < receivers; {
		if time.Now().After(deadline) {
			t.Fatalf("%d initial fetches, want %d", fc.n.Load(), receivers)
		}
		time.Sleep(time.Millisecond)
	}
	drained := fc.n.Load()

	var n uint64
	send := func(from *client, r int) uint64 {
		t.Helper()
		id := atomic.AddUint64(&n, 1)
		env := make([]byte, 8)
		binary.BigEndian.PutUint64(env, id)
		var cm [16]byte
		binary.BigEndian.PutUint64(cm[:], id)
		_, err := e.srv.Send(context.Background(), from.addr(), &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: rx[r].aid[:], Commitment: make([]byte, 32),
			Copies: []*wardv1.Copy{{AccountId: rx[r].aid[:], DeviceId: 1, Envelope: env}}})
		if err != nil {
			t.Error(err)
		}
		return id
	}
	receive := func(want [receivers][]uint64) {
		t.Helper()
		for r := range receivers {
			var last uint64
			got := map[uint64]bool{}
			for range want[r] {
				d := ws[r].delivery()
				if d.Seq <= last {
					t.Fatalf("receiver %d: seq %d after %d", r, d.Seq, last)
				}
				last = d.Seq
				got[binary.BigEndian.Uint64(d.Envelope)] = true
			}
			for _, id := range want[r] {
				if !got[id] {
					t.Fatalf("receiver %d: message %d missing", r, id)
				}
			}
			ws[r].ack(last)
		}
	}

	// A burst from one sender, round robin over the receivers.
	var want [receivers][]uint64
	for k := range 300 {
		want[k%receivers] = append(want[k%receivers], send(tx, k%receivers))
	}
	receive(want)
	if got := fc.n.Load() - drained; got != 0 {
		t.Errorf("a burst to connected devices made %d Fetch calls, want 0", got)
	}

	// Concurrent senders: sends of one batch offer their entries in any
	// order. Fetch may be needed when an offer is late; nothing may be
	// lost or reordered.
	const senders, perSender = 8, 150
	before := fc.n.Load()
	want = [receivers][]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := range senders {
		from := e.newClient(fmt.Sprintf("tx%d", s)).register()
		wg.Go(func() {
			for k := range perSender {
				r := (s + k) % receivers
				id := send(from, r)
				mu.Lock()
				want[r] = append(want[r], id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	receive(want)
	for r := range receivers {
		if !ws[r].quiet(100 * time.Millisecond) {
			t.Fatalf("receiver %d got more than was sent", r)
		}
	}
	t.Logf("concurrent senders: %d Fetch calls for %d deliveries", fc.n.Load()-before, senders*perSender)
}
