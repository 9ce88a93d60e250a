package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wardchat/ward/client/internal/db"
)

// TestDrain checks that Drain returns, in order, every event not received
// from Events (including the one the pump holds), and closes Events.
func TestDrain(t *testing.T) {
	q := newEventQueue()
	var evs []Event
	for i := range 5 {
		evs = append(evs, &MessageRefusedEvent{Reason: string(rune('a' + i))})
	}
	q.push(evs...)
	if got := <-q.out; got != evs[0] {
		t.Fatalf("first event = %v", got)
	}
	// Let the pump take the next event and wait on the channel with it.
	time.Sleep(10 * time.Millisecond)
	rest := q.drain()
	if len(rest) != len(evs)-1 {
		t.Fatalf("Drain returned %d events, want %d", len(rest), len(evs)-1)
	}
	for i, ev := range rest {
		if ev != evs[i+1] {
			t.Fatalf("Drain()[%d] = %v, want %v", i, ev, evs[i+1])
		}
	}
	if _, ok := <-q.out; ok {
		t.Fatal("Events still open after Drain")
	}
	q.push(&MessageRefusedEvent{})
	if again := q.drain(); len(again) != 0 {
		t.Fatalf("second Drain = %v", again)
	}
}

func unsent(t *testing.T, d *device) int {
	t.Helper()
	var n int
	if err := d.db.View(context.Background(), func(tx *db.Tx) error {
		var err error
		n, err = tx.Unsent()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFlush checks that Flush sends owed delivery receipts without Run,
// and gives up with ctx when the server is unreachable, keeping them.
func TestFlush(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	alice := register(t, ts.URL, "alice")
	bob := register(t, ts.URL, "bob")
	alice.start()
	bob.start()
	sent, err := alice.Send(ctx, "bob", "hello")
	if err != nil {
		t.Fatal(err)
	}
	bob.waitFor("hello", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "hello") == 1 })
	bob.stop()
	receipts := func(evs []Event) int {
		n := 0
		for _, ev := range evs {
			if r, ok := ev.(*DeliveryReceiptEvent); ok {
				for _, id := range r.MessageIDs {
					if id == sent.ID {
						n++
					}
				}
			}
		}
		return n
	}
	// Run may have sent the receipt already: owe it once more, so that
	// only Flush can send the second one.
	aid := alice.AccountID()
	if err := bob.db.Update(ctx, func(tx *db.Tx) error { return tx.AddReceipt(aid[:], sent.ID[:]) }); err != nil {
		t.Fatal(err)
	}
	if n := unsent(t, bob); n == 0 {
		t.Fatal("no receipt owed before Flush")
	}
	fctx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	if err := bob.Flush(fctx); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if n := unsent(t, bob); n != 0 {
		t.Fatalf("%d left unsent after Flush", n)
	}
	alice.waitFor("the flushed receipt", waitLong, func(evs []Event) bool { return receipts(evs) == 2 })

	// Server gone: Flush returns when ctx ends and the receipt stays owed.
	alice.stop()
	ts.HTTP.CloseClientConnections()
	ts.HTTP.Close()
	if err := bob.db.Update(ctx, func(tx *db.Tx) error { return tx.AddReceipt(aid[:], sent.ID[:]) }); err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if err := bob.Flush(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the server down = %v, want DeadlineExceeded", err)
	}
	if n := unsent(t, bob); n == 0 {
		t.Fatal("the receipt was lost when the server was down")
	}
}
