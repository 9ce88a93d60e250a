package bus_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/bus/bustest"
	"github.com/wardchat/ward/internal/store"
)

func TestLocal(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b := bus.NewLocal()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func addr(b byte, d uint32) store.Address {
	var a store.Address
	a.Account[0] = b
	a.Device = store.DeviceID(d)
	return a
}

func BenchmarkLocalPublish(b *testing.B) {
	l := bus.NewLocal()
	defer l.Close()
	var n atomic.Int64
	for i := range 1000 {
		l.Subscribe(addr(byte(i), uint32(i)), func(bus.Event) { n.Add(1) })
	}
	ev := bus.Event{To: addr(7, 7), Kind: bus.Messages}
	b.ReportAllocs()
	for b.Loop() {
		l.Publish(context.Background(), ev)
	}
}
