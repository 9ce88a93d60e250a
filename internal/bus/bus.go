// Package bus carries wake-ups between the parts of wardd that accept
// messages and the parts that hold devices' delivery streams.
//
// # Contract
//
// The bus is a doorbell, not a mailbox. The durable per-device queue in the
// store is the only source of truth for what a device must receive; an
// [Event] only says "look at the queue of this device now" (or "this device
// is low on prekeys"). Consequently:
//
//   - Delivery of events is best-effort. An event may be lost (no
//     subscriber, a node restarting, a full buffer in a networked
//     implementation); a subscriber must still find every queued entry the
//     next time it reads the queue: on connect, on the next event, or on
//     its periodic re-check.
//   - Events may be duplicated and coalesced; handling one must be
//     idempotent (read the queue after the last sequence number sent).
//   - There is no ordering guarantee between events, even for one address.
//     Order of messages comes from the queue's sequence numbers.
//   - Publish never blocks on a slow subscriber for longer than it takes to
//     hand the event over; a subscriber's callback must return quickly (it
//     may start a goroutine, it must not do I/O inline).
//
// # Implementations
//
// [Local] is the in-process bus of a single-node server. A NATS
// implementation, routing events to the node that holds a device's
// connection, comes with multi-node deployments; the same contract test
// (the tests of this package, run against any Bus) applies to both.
package bus

import (
	"context"
	"errors"
	"sync"

	"github.com/wardchat/ward/internal/store"
)

// Kind says what happened to a device.
type Kind uint8

// Event kinds.
const (
	// Messages: new entries were committed to the device's queue.
	Messages Kind = iota + 1
	// PrekeysLow: the device's one-time prekeys dropped below the
	// server's refill threshold.
	PrekeysLow
	// Replaced: the device opened another stream, possibly on another
	// node; older streams of the device close.
	Replaced
	// Removed: the device was removed from its account's device list; its
	// streams close.
	Removed
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Messages:
		return "messages"
	case PrekeysLow:
		return "prekeys_low"
	case Replaced:
		return "replaced"
	case Removed:
		return "removed"
	}
	return "unknown"
}

// Event is a wake-up for one device.
type Event struct {
	To   store.Address
	Kind Kind
	// Token distinguishes the publisher of a Replaced event, so that the
	// stream that announced itself does not close itself. Zero otherwise.
	Token uint64
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("bus: closed")

// Bus delivers best-effort wake-ups to the subscribers of a device address.
// Implementations are safe for concurrent use.
type Bus interface {
	// Subscribe registers fn for events addressed to addr and returns a
	// function that cancels the subscription (idempotent). fn runs on the
	// publisher's goroutine or a bus goroutine; it must not block. After
	// cancel returns, fn is not called again.
	Subscribe(addr store.Address, fn func(Event)) (cancel func())

	// Publish hands the events to the current subscribers of their
	// addresses. An event without subscribers is dropped (see the package
	// contract: the queue is the source of truth). It returns ErrClosed
	// after Close, or a transport error for networked implementations.
	Publish(ctx context.Context, events ...Event) error

	// Close releases the bus; later Publish calls fail, Subscribe returns
	// a no-op cancel.
	Close() error
}

// Local is the in-process [Bus]: a map from address to callbacks. The zero
// value is not usable; call [NewLocal].
type Local struct {
	mu     sync.RWMutex
	subs   map[store.Address][]*sub
	closed bool
}

type sub struct {
	fn func(Event)
	// mu is held while fn runs and when cancelling, so that cancel
	// returning means fn is not running and will not run again.
	mu   sync.Mutex
	dead bool
}

var _ Bus = (*Local)(nil)

// NewLocal returns an empty in-process bus.
func NewLocal() *Local {
	return &Local{subs: make(map[store.Address][]*sub)}
}

// Subscribe implements [Bus].
func (b *Local) Subscribe(addr store.Address, fn func(Event)) func() {
	s := &sub{fn: fn}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return func() {}
	}
	b.subs[addr] = append(b.subs[addr], s)
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.dead = true
			s.mu.Unlock()
			b.mu.Lock()
			list := b.subs[addr]
			for i, x := range list {
				if x == s {
					list = append(list[:i:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(b.subs, addr)
			} else {
				b.subs[addr] = list
			}
			b.mu.Unlock()
		})
	}
}

// Publish implements [Bus]. It calls the subscribers synchronously.
func (b *Local) Publish(_ context.Context, events ...Event) error {
	var targets []*sub
	for _, ev := range events {
		b.mu.RLock()
		if b.closed {
			b.mu.RUnlock()
			return ErrClosed
		}
		targets = append(targets[:0], b.subs[ev.To]...)
		b.mu.RUnlock()
		for _, s := range targets {
			s.mu.Lock()
			if !s.dead {
				s.fn(ev)
			}
			s.mu.Unlock()
		}
	}
	return nil
}

// Close implements [Bus].
func (b *Local) Close() error {
	b.mu.Lock()
	b.closed = true
	b.subs = make(map[store.Address][]*sub)
	b.mu.Unlock()
	return nil
}

// Subscribers reports how many subscriptions addr has (for tests and
// metrics).
func (b *Local) Subscribers(addr store.Address) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[addr])
}
