package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

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
