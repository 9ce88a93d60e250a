package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

func BenchmarkVerifyToken(b *testing.B) {
	s := fuzzServer()
	tok := s.issueToken(store.Address{Device: 1}, time.Now().Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.verifyToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend measures the core Send (validation, device lookups,
// franking tag, group commit to SQLite with synchronous=FULL, bus wake-up)
// from many concurrent senders; each op is one message with three device
// copies.
func BenchmarkSend(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.QueueCap = 1 << 30 })
	a1 := e.newClient("alice").register()
	b1 := e.newClient("bob").register()
	a2 := a1.linkedDevice(2)
	b2 := b1.linkedDevice(2)
	if err := a1.publishWith(a2); err != nil {
		b.Fatal(err)
	}
	if err := b1.publishWith(b2); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var n atomic.Uint64
	env := make([]byte, 200)
	b.ReportAllocs()
	b.SetParallelism(64)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var cm [16]byte
			binary.BigEndian.PutUint64(cm[:], n.Add(1))
			rand.Read(cm[8:])
			req := &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: b1.aid[:], Commitment: make([]byte, 32),
				Copies: []*wardv1.Copy{
					{AccountId: b1.aid[:], DeviceId: 1, Envelope: env},
					{AccountId: b1.aid[:], DeviceId: 2, Envelope: env},
					{AccountId: a1.aid[:], DeviceId: 2, Envelope: env},
				}}
			if _, err := e.srv.Send(ctx, a1.addr(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkDeliverAck measures end-to-end delivery: sends through the core,
// pushed over a real WebSocket, acknowledged by the receiving device.
func BenchmarkDeliverAck(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.QueueCap = 1 << 30 })
	a1 := e.newClient("alice").register()
	b1 := e.newClient("bob").register()
	ws := b1.stream()
	ctx := context.Background()
	env := make([]byte, 200)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for got := 0; got < b.N; {
			f, ok := <-ws.frames
			if !ok {
				return
			}
			if d := f.GetDelivery(); d != nil {
				got++
				if got%64 == 0 || got == b.N {
					ws.ack(d.Seq)
				}
			}
		}
	}()
	var n atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var cm [16]byte
			binary.BigEndian.PutUint64(cm[:], n.Add(1))
			req := &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: b1.aid[:], Commitment: make([]byte, 32),
				Copies: []*wardv1.Copy{{AccountId: b1.aid[:], DeviceId: 1, Envelope: env}}}
			if _, err := e.srv.Send(ctx, a1.addr(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkIdleStreamMemory opens idleConns idle delivery streams (one
// per device) and reports memory per connection. Client and server ends
// live in this one process, so the figure (heap in use plus goroutine
// stacks) is an upper bound for the server's share. Run with
// -benchtime=1x.
func BenchmarkIdleStreamMemory(b *testing.B) {
	const idleConns = 500
	e := newEnv(b, nil)
	clients := make([]*client, idleConns)
	for i := range clients {
		clients[i] = e.newClient(fmt.Sprintf("user%d", i)).register()
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC() // twice: sync.Pool contents survive one GC
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]*wsConn, idleConns)
		for i, c := range clients {
			conns[i] = c.stream()
		}
		time.Sleep(500 * time.Millisecond)
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perConn := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / idleConns
		b.ReportMetric(perConn, "B/conn(both-ends)")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/idleConns, "goroutines/conn(both-ends)")
		for _, c := range conns {
			c.ws.Close()
		}
	}
}

// BenchmarkSendHTTP is BenchmarkSend through the Connect API over HTTP
// (binary protobuf), with token check and interceptor: what a client sees.
func BenchmarkSendHTTP(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.QueueCap = 1 << 30 })
	a1 := e.newClient("alice").register()
	b1 := e.newClient("bob").register()
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 128
	var n atomic.Uint64
	env := make([]byte, 200)
	b.ReportAllocs()
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var cm [16]byte
			binary.BigEndian.PutUint64(cm[:], n.Add(1))
			req := &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: b1.aid[:], Commitment: make([]byte, 32),
				Copies: []*wardv1.Copy{{AccountId: b1.aid[:], DeviceId: 1, Envelope: env}}}
			if _, err := a1.messages.Send(context.Background(), connect.NewRequest(req)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
