package client

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

const waitLong = 60 * time.Second

// TestTwoAccountsTwoDevices: two accounts with two devices each (the
// second ones linked) talk both ways; every device receives every message
// exactly once, the sender's other device sees its sent messages, and the
// senders get delivery receipts.
func TestTwoAccountsTwoDevices(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	a1 := register(t, ts.URL, "alice")
	b1 := register(t, ts.URL, "bob")
	a2 := link(t, a1, "alice-laptop")
	b2 := link(t, b1, "bob-laptop")
	for _, d := range []*device{a1, a2, b1, b2} {
		d.start()
	}
	devs, err := a2.Devices(ctx)
	if err != nil || len(devs) != 2 || !devs[1].Current || devs[1].Name != "alice-laptop" {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}

	const n = 3
	var fromA, fromB []string
	for i := range n {
		for _, s := range []struct {
			d    *device
			to   string
			list *[]string
		}{{a1, "bob", &fromA}, {a2, "bob", &fromA}, {b1, "alice", &fromB}, {b2, "alice", &fromB}} {
			text := fmt.Sprintf("zq-secret %s to %s #%d", s.d.name, s.to, i)
			sent, err := s.d.Send(ctx, s.to, text)
			if err != nil {
				t.Fatalf("%s Send: %v", s.d.name, err)
			}
			if sent.ID == [16]byte{} || sent.Timestamp.IsZero() {
				t.Fatalf("SentMessage = %+v", sent)
			}
			*s.list = append(*s.list, text)
		}
	}
	ownSent := func(d *device, all []string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return !containsPrefix(s, "zq-secret "+d.name+" ") })
	}
	check := func(d *device, received []string, synced []string) {
		t.Helper()
		evs := d.waitFor("messages", waitLong, func(evs []Event) bool {
			return countAll(msgTexts(evs), received) && countAll(syncTexts(evs), synced)
		})
		// Exactly once, and nothing else.
		time.Sleep(200 * time.Millisecond)
		evs = d.snapshot()
		got, gotSync := msgTexts(evs), syncTexts(evs)
		if len(got) != len(received) || len(gotSync) != len(synced) {
			t.Errorf("%s: %d messages and %d sent-syncs, want %d and %d: %s", d.name, len(got), len(gotSync), len(received), len(synced), describe(evs))
		}
		for _, w := range received {
			if count(got, w) != 1 {
				t.Errorf("%s: %q received %d times", d.name, w, count(got, w))
			}
		}
	}
	// a1's sent-syncs are a2's sends, and the other way round.
	check(a1, fromB, ownSent(a2, fromA))
	check(a2, fromB, ownSent(a1, fromA))
	check(b1, fromA, ownSent(b2, fromB))
	check(b2, fromA, ownSent(b1, fromB))

	// Receipts: each of b's two devices acknowledges each of a's messages.
	a1.waitFor("receipts", waitLong, func(evs []Event) bool {
		n := 0
		for _, ev := range evs {
			if r, ok := ev.(*DeliveryReceiptEvent); ok && r.FromHandle == "bob" {
				n += len(r.MessageIDs)
			}
		}
		return n >= 2*len(fromA)
	})

	// A message carries who sent it.
	for _, ev := range b1.snapshot() {
		if m, ok := ev.(*MessageEvent); ok {
			if m.FromHandle != "alice" || m.From != a1.AccountID() || !m.FrankingVerified || m.Timestamp.IsZero() {
				t.Errorf("MessageEvent %+v", m)
			}
		}
	}
}

func containsPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
