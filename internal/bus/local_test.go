package bus

import (
	"testing"

	"github.com/wardchat/ward/internal/store"
)

func TestLocalForgetsEmptyAddresses(t *testing.T) {
	b := NewLocal()
	a := store.Address{Device: 1}
	c := b.Subscribe(a, func(Event) {})
	if b.Subscribers(a) != 1 {
		t.Fatal("subscription not counted")
	}
	c()
	if n := len(b.subs); n != 0 {
		t.Fatalf("%d addresses left after the last cancel", n)
	}
}
