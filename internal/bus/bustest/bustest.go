// Package bustest is the contract test suite for implementations of
// bus.Bus: the in-process bus and, later, NATS run the same tests.
package bustest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/store"
)

func addr(b byte, d uint32) store.Address {
	var a store.Address
	a.Account[0] = b
	a.Device = store.DeviceID(d)
	return a
}

// Run runs the contract suite against the implementation newBus returns
// (a fresh bus per call).
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	ctx := context.Background()
	t.Run("routing", func(t *testing.T) {
		b := newBus(t)
		var got1, got2 []bus.Event
		c1 := b.Subscribe(addr(1, 1), func(e bus.Event) { got1 = append(got1, e) })
		defer c1()
		c2 := b.Subscribe(addr(1, 2), func(e bus.Event) { got2 = append(got2, e) })
		defer c2()
		if err := b.Publish(ctx, bus.Event{To: addr(1, 1), Kind: bus.Messages}, bus.Event{To: addr(9, 9), Kind: bus.Messages}); err != nil {
			t.Fatal(err)
		}
		if len(got1) != 1 || got1[0].Kind != bus.Messages || got1[0].To != addr(1, 1) {
			t.Fatalf("subscriber 1 got %v", got1)
		}
		if len(got2) != 0 {
			t.Fatalf("subscriber 2 got %v, want nothing", got2)
		}
	})
	t.Run("fan-out and cancel", func(t *testing.T) {
		b := newBus(t)
		var n1, n2 atomic.Int32
		c1 := b.Subscribe(addr(2, 1), func(bus.Event) { n1.Add(1) })
		c2 := b.Subscribe(addr(2, 1), func(bus.Event) { n2.Add(1) })
		b.Publish(ctx, bus.Event{To: addr(2, 1), Kind: bus.Messages})
		c1()
		c1() // idempotent
		b.Publish(ctx, bus.Event{To: addr(2, 1), Kind: bus.PrekeysLow})
		c2()
		b.Publish(ctx, bus.Event{To: addr(2, 1), Kind: bus.Messages})
		if n1.Load() != 1 || n2.Load() != 2 {
			t.Fatalf("deliveries = %d, %d; want 1, 2", n1.Load(), n2.Load())
		}
	})
	t.Run("no callback after cancel returns", func(t *testing.T) {
		b := newBus(t)
		var cancelled atomic.Bool
		var bad atomic.Int32
		cancel := b.Subscribe(addr(3, 1), func(bus.Event) {
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
						b.Publish(ctx, bus.Event{To: addr(3, 1), Kind: bus.Messages})
					}
				}
			})
		}
		cancel()
		cancelled.Store(true)
		for range 1000 {
			b.Publish(ctx, bus.Event{To: addr(3, 1), Kind: bus.Messages})
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
		if err := b.Publish(ctx, bus.Event{To: addr(4, 1), Kind: bus.Messages}); !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
		b.Subscribe(addr(4, 1), func(bus.Event) {})()
	})
}
