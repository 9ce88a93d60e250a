package session

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRandomSchedules runs thousands of random two-device schedules: sends
// in both directions, deliveries in any order, drops, duplicates,
// re-initiations, simultaneous initiation, persistence round trips and
// tampering. Every delivered message must decrypt exactly once, every
// duplicate and tampered message must be rejected without changing state,
// and at the end both devices must agree on one session and its keys.
// The schedule comes from a seeded PCG; keys come from ChaCha8 streams.
func TestRandomSchedules(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	var total scheduleStats
	for seed := range uint64(n) {
		st := runSchedule(t, seed)
		if t.Failed() {
			return
		}
		total.add(st)
	}
	t.Logf("%d schedules: %+v", n, total)
	if total.Simultaneous < n/5 || total.Replays == 0 || total.Drops == 0 || total.Tampered == 0 || total.Persisted == 0 {
		t.Fatalf("schedules did not cover every event kind: %+v", total)
	}
}

type scheduleStats struct {
	Simultaneous, Messages, Delivered, Drops, Replays, Tampered, Persisted, Reinitiations int
}

func (s *scheduleStats) add(o scheduleStats) {
	s.Simultaneous += o.Simultaneous
	s.Messages += o.Messages
	s.Delivered += o.Delivered
	s.Drops += o.Drops
	s.Replays += o.Replays
	s.Tampered += o.Tampered
	s.Persisted += o.Persisted
	s.Reinitiations += o.Reinitiations
}

type flight struct {
	from      int
	msg       []byte
	pt        string
	delivered bool
}

func runSchedule(t *testing.T, seed uint64) (st scheduleStats) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s", seed, fmt.Sprintf(format, args...))
	}
	rng := rand.New(rand.NewPCG(seed, 0x5c4ed))
	devs := [2]*device{newDevice(t, 2*seed+1000), newDevice(t, 2*seed+1001)}
	peers := [2]*Peer{newPeer(t, devs[1]), newPeer(t, devs[0])}
	var inflight, delivered []*flight
	initiations := [2]int{}
	count := 0

	initiate := func(i int) {
		b := devs[1-i].bundle(t, rng.IntN(4) != 0, rng.IntN(2) == 0)
		if err := peers[i].Initiate(devs[i].r, devs[i].id, b); err != nil {
			fail("initiate: %v", err)
		}
		initiations[i]++
		if initiations[i] > 1 {
			st.Reinitiations++
		}
	}
	send := func(i int) {
		if peers[i].Active() == nil {
			return
		}
		count++
		pt := fmt.Sprintf("%d/%d/%d", seed, i, count)
		m, err := peers[i].Encrypt(devs[i].r, []byte(pt))
		if err != nil {
			fail("encrypt: %v", err)
		}
		inflight = append(inflight, &flight{from: i, msg: m, pt: pt})
		st.Messages++
	}
	tamper := func(f *flight) {
		to := 1 - f.from
		before := marshalPeer(t, peers[to])
		positions := []int{rng.IntN(len(f.msg)), rng.IntN(len(f.msg)), rng.IntN(len(f.msg)), rng.IntN(len(f.msg))}
		if seed%20 == 0 && f.msg[1] == TypeRatchet {
			// A sample of plain messages gets every byte flipped.
			positions = positions[:0]
			for i := range f.msg {
				positions = append(positions, i)
			}
		}
		for _, i := range positions {
			if _, _, err := peers[to].Decrypt(devs[to].id, devs[to].store, flipped(f.msg, i, byte(1+rng.IntN(255)))); err == nil {
				fail("tampered byte %d accepted", i)
			}
		}
		if !bytes.Equal(before, marshalPeer(t, peers[to])) {
			fail("tampered message changed state")
		}
		st.Tampered++
	}
	deliver := func(k int) {
		f := inflight[k]
		inflight = append(inflight[:k], inflight[k+1:]...)
		if rng.IntN(8) == 0 {
			tamper(f)
		}
		to := 1 - f.from
		pt, c, err := peers[to].Decrypt(devs[to].id, devs[to].store, f.msg)
		if err != nil {
			fail("delivery of %q: %v", f.pt, err)
		}
		if string(pt) != f.pt {
			fail("got %q want %q", pt, f.pt)
		}
		devs[to].store.consume(t, c)
		f.delivered = true
		delivered = append(delivered, f)
		st.Delivered++
	}
	replay := func(f *flight) {
		to := 1 - f.from
		before := marshalPeer(t, peers[to])
		if _, _, err := peers[to].Decrypt(devs[to].id, devs[to].store, f.msg); !errors.Is(err, ErrDuplicate) {
			fail("replay of %q: err = %v, want ErrDuplicate", f.pt, err)
		}
		if !bytes.Equal(before, marshalPeer(t, peers[to])) {
			fail("replay changed state")
		}
		st.Replays++
	}
	persist := func(i int) {
		enc := marshalPeer(t, peers[i])
		p, err := UnmarshalPeer(enc)
		if err != nil {
			fail("restore: %v", err)
		}
		if !bytes.Equal(enc, marshalPeer(t, p)) {
			fail("peer round trip mismatch")
		}
		peers[i] = p
		st.Persisted++
	}

	switch rng.IntN(3) {
	case 0:
		initiate(0)
	case 1:
		initiate(1)
	default: // simultaneous initiation
		initiate(0)
		initiate(1)
		st.Simultaneous++
	}
	steps := 6 + rng.IntN(24)
	for range steps {
		switch x := rng.IntN(40); {
		case x < 12:
			send(0)
		case x < 24:
			send(1)
		case x < 33:
			if len(inflight) > 0 {
				deliver(rng.IntN(len(inflight)))
			}
		case x < 35:
			if len(inflight) > 0 { // drop
				k := rng.IntN(len(inflight))
				inflight = append(inflight[:k], inflight[k+1:]...)
				st.Drops++
			}
		case x < 37:
			if len(delivered) > 0 {
				replay(delivered[rng.IntN(len(delivered))])
			}
		case x < 38:
			persist(rng.IntN(2))
		default:
			if i := rng.IntN(2); initiations[i] < 2 {
				initiate(i)
			}
		}
	}
	// Deliver everything still in flight, in random order.
	for len(inflight) > 0 {
		deliver(rng.IntN(len(inflight)))
	}
	// Convergence: one round trip puts both sides on one session.
	x := 0
	if peers[0].Active() == nil {
		x = 1
	}
	y := 1 - x
	send(x)
	deliver(0)
	checkChains(t, peers[x], peers[y], false, fmt.Sprintf("seed %d: after settle x->y", seed))
	send(y)
	deliver(0)
	checkAgreement(t, peers[y], peers[x], fmt.Sprintf("seed %d: after settle y->x", seed))
	if peers[0].Active().ID() != peers[1].Active().ID() {
		fail("no common session")
	}
	// Every duplicate is still refused after the run.
	if len(delivered) > 0 {
		replay(delivered[rng.IntN(len(delivered))])
	}
	return st
}
