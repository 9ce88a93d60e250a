package bus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wardchat/ward/internal/store"
)

func addr(b byte, d uint32) store.Address {
	var a store.Address
	a.Account[0] = b
	a.Device = store.DeviceID(d)
	return a
}

// testBus is the contract suite every Bus implementation must pass.
func testBus(t *testing.T, newBus func(t *testing.T) Bus) {
	ctx := context.Background()
	t.Run("routing", func(t *testing.T) {
		b := newBus(t)
		var got1, got2 []Event
		c1 := b.Subscribe(addr(1, 1), func(e Event) { got1 = append(got1, e) })
		defer c1()
		c2 := b.Subscribe(addr(1, 2), func(e Event) { got2 = append(got2, e) })
		defer c2()
		if err := b.Publish(ctx, Event{To: addr(1, 1), Kind: Messages}, Event{To: addr(9, 9), Kind: Messages}); err != nil {
			t.Fatal(err)
		}
		if len(got1) != 1 || got1[0].Kind != Messages || got1[0].To != addr(1, 1) {
			t.Fatalf("subscriber 1 got %v", got1)
		}
		if len(got2) != 0 {
			t.Fatalf("subscriber 2 got %v, want nothing", got2)
		}
	})
	t.Run("fan-out and cancel", func(t *testing.T) {
		b := newBus(t)
		var n1, n2 atomic.Int32
		c1 := b.Subscribe(addr(2, 1), func(Event) { n1.Add(1) })
		c2 := b.Subscribe(addr(2, 1), func(Event) { n2.Add(1) })
		b.Publish(ctx, Event{To: addr(2, 1), Kind: Messages})
		c1()
		c1() // idempotent
		b.Publish(ctx, Event{To: addr(2, 1), Kind: PrekeysLow})
		c2()
		b.Publish(ctx, Event{To: addr(2, 1), Kind: Messages})
		if n1.Load() != 1 || n2.Load() != 2 {
			t.Fatalf("deliveries = %d, %d; want 1, 2", n1.Load(), n2.Load())
		}
	})
	t.Run("no callback after cancel returns", func(t *testing.T) {
		b := newBus(t)
		var cancelled atomic.Bool
		var bad atomic.Int32
		cancel := b.Subscribe(addr(3, 1), func(Event) {
			if cancelled.Load() {
				bad.Add(1)
			}
		})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						b.Publish(ctx, Event{To: addr(3, 1), Kind: Messages})
					}
				}
			})
		}
		cancel()
		cancelled.Store(true)
		for range 1000 {
			b.Publish(ctx, Event{To: addr(3, 1), Kind: Messages})
		}
		close(stop)
		wg.Wait()
		if bad.Load() != 0 {
			t.Fatalf("%d callbacks ran after cancel returned", bad.Load())
		}
	})
	t.Run("closed", func(t *testing.T) {
		b := newBus(t)
		b.Close()
		if err := b.Publish(ctx, Event{To: addr(4, 1), Kind: Messages}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
		b.Subscribe(addr(4, 1), func(Event) {})()
	})
}

func TestLocal(t *testing.T) {
	testBus(t, func(t *testing.T) Bus {
		b := NewLocal()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestLocalForgetsEmptyAddresses(t *testing.T) {
	b := NewLocal()
	c := b.Subscribe(addr(5, 1), func(Event) {})
	if b.Subscribers(addr(5, 1)) != 1 {
		t.Fatal("subscription not counted")
	}
	c()
	if n := len(b.subs); n != 0 {
		t.Fatalf("%d addresses left after the last cancel", n)
	}
}

func BenchmarkLocalPublish(b *testing.B) {
	bus := NewLocal()
	defer bus.Close()
	var n atomic.Int64
	for i := range 1000 {
		bus.Subscribe(addr(byte(i), uint32(i)), func(Event) { n.Add(1) })
	}
	ev := Event{To: addr(7, 7), Kind: Messages}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(context.Background(), ev)
	}
}
