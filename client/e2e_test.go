package client

import (
	"context"
	"errors"
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
		d.waitFor("messages", waitLong, func(evs []Event) bool {
			return countAll(msgTexts(evs), received) && countAll(syncTexts(evs), synced)
		})
		// Exactly once, and nothing else.
		time.Sleep(200 * time.Millisecond)
		evs := d.snapshot()
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

	// History: a2 stored bob's messages, its own sends and a1's sends.
	hist, err := a2.History(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	var out, in int
	for _, h := range hist {
		if h.Outgoing {
			out++
		} else {
			in++
		}
	}
	if in != len(fromB) || out != len(fromA) {
		t.Errorf("a2 history: %d in, %d out; want %d and %d", in, out, len(fromB), len(fromA))
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Timestamp.Before(hist[i-1].Timestamp) {
			t.Errorf("history out of order at %d", i)
		}
	}

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

// TestDeviceChanges: a contact linking and removing a device raises
// DeviceAdded/DeviceRemoved events at the other side once its sends hit
// the new list; the removed device's Run stops with ErrDeviceRemoved and
// it receives nothing more.
func TestDeviceChanges(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	b1 := register(t, ts.URL, "bob")
	alice.start()
	b1.start()
	if _, err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	b2 := link(t, b1, "bob-phone")
	b2.start()
	// alice's cached list is stale: the server refuses the copies, the SDK
	// refreshes, verifies, tells the user and sends again.
	if _, err := alice.Send(ctx, "bob", "two"); err != nil {
		t.Fatal(err)
	}
	b2.waitFor("two", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "two") == 1 })
	if n := count(msgTexts(b2.snapshot()), "one"); n != 0 {
		t.Fatalf("the new device got a message sent before it was linked")
	}
	alice.waitFor("device added", waitLong, func(evs []Event) bool {
		for _, ev := range evs {
			if d, ok := ev.(*DeviceAddedEvent); ok && d.Handle == "bob" && d.Device == b2.DeviceID() {
				return true
			}
		}
		return false
	})
	if err := b2.RemoveDevice(ctx, 1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("RemoveDevice on a secondary = %v", err)
	}
	if err := b1.RemoveDevice(ctx, b2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b2.runErr:
		if !errors.Is(err, ErrDeviceRemoved) {
			t.Fatalf("removed device's Run = %v", err)
		}
		b2.cancel = nil
	case <-time.After(waitLong):
		t.Fatal("removed device's Run did not stop")
	}
	if _, err := alice.Send(ctx, "bob", "three"); err != nil {
		t.Fatal(err)
	}
	b1.waitFor("three", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "three") == 1 })
	alice.waitFor("device removed", waitLong, func(evs []Event) bool {
		for _, ev := range evs {
			if d, ok := ev.(*DeviceRemovedEvent); ok && d.Handle == "bob" && d.Device == b2.DeviceID() {
				return true
			}
		}
		return false
	})
}

// TestConcurrentSends: several goroutines send through one client while it
// receives; every message arrives exactly once, in each sender's order.
func TestConcurrentSends(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	alice.start()
	bob.start()
	const workers, each = 4, 10
	errs := make(chan error, workers*each)
	var want []string
	for w := range workers {
		for i := range each {
			want = append(want, fmt.Sprintf("worker %d message %d", w, i))
		}
	}
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				if _, err := alice.Send(ctx, "bob", fmt.Sprintf("worker %d message %d", w, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	// bob answers at the same time.
	for i := range each {
		if _, err := bob.Send(ctx, "alice", fmt.Sprintf("reply %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := bob.waitFor("all", waitLong, func(evs []Event) bool { return countAll(msgTexts(evs), want) })
	got := msgTexts(evs)
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for w := range workers {
		var order []string
		for _, m := range got {
			if containsPrefix(m, fmt.Sprintf("worker %d ", w)) {
				order = append(order, m)
			}
		}
		for i, m := range order {
			if m != fmt.Sprintf("worker %d message %d", w, i) {
				t.Fatalf("worker %d: out of order: %q", w, order)
			}
		}
	}
	alice.waitFor("replies", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == each })
}

// TestNoteToSelf: a message to one's own handle reaches the account's
// other devices as a sent sync; with no other device it is refused.
func TestNoteToSelf(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	a1 := register(t, ts.URL, "alice")
	if _, err := a1.Send(ctx, "alice", "nobody to read this"); err == nil {
		t.Fatal("a note to self with no other device was accepted")
	}
	a2 := link(t, a1, "alice-2")
	a2.start()
	if _, err := a1.Send(ctx, "Alice", "note to self"); err != nil {
		t.Fatal(err)
	}
	evs := a2.waitFor("note", waitLong, func(evs []Event) bool { return len(syncTexts(evs)) == 1 })
	for _, ev := range evs {
		if s, ok := ev.(*SentSyncEvent); ok && (s.To != a1.AccountID() || s.ToHandle != "alice" || s.Text != "note to self") {
			t.Fatalf("sent sync %+v", s)
		}
	}
	if n := len(msgTexts(evs)); n != 0 {
		t.Fatalf("%d message events for a note to self", n)
	}
}

// TestRemovedWhileOffline: a device removed while its Run was not running
// (so it never got the server's device_removed frame) learns it on its
// next connection: Run ends with ErrDeviceRemoved instead of reconnecting
// forever with a token the server now refuses.
func TestRemovedWhileOffline(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	b1 := register(t, ts.URL, "bob")
	b1.start()
	b2 := link(t, b1, "bob-phone")
	// b2 holds a valid token from linking; remove it while it is offline.
	if err := b1.RemoveDevice(ctx, b2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	b2.start()
	select {
	case err := <-b2.runErr:
		if !errors.Is(err, ErrDeviceRemoved) {
			t.Fatalf("removed device's Run = %v, want ErrDeviceRemoved", err)
		}
		b2.cancel = nil
	case <-time.After(waitLong):
		t.Fatal("Run of a device removed while offline did not stop")
	}
}
