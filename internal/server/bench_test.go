package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
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

// BenchmarkDeliveryLatency sends at a fixed rate (WARD_BENCH_RATE
// messages/s, default 2000) for two seconds to 20 connected devices, each
// acking every 16 deliveries, and reports the latency from the start of the
// Send call to the moment the receiving client has the frame: p50, p99 and
// max. Run with -benchtime=1x.
func BenchmarkDeliveryLatency(b *testing.B) {
	rate := 2000
	if v, err := strconv.Atoi(os.Getenv("WARD_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	const receivers = 20
	e := newEnv(b, func(c *Config) { c.QueueCap = 1 << 30 })
	sender := e.newClient("sender").register()
	type rx struct {
		c  *client
		ws *wsConn
	}
	rxs := make([]rx, receivers)
	for i := range rxs {
		c := e.newClient(fmt.Sprintf("rx%d", i)).register()
		rxs[i] = rx{c, c.stream()}
	}
	for b.Loop() {
		total := rate * 2
		sentAt := make([]atomic.Int64, total)
		lat := make(chan time.Duration, total)
		for _, r := range rxs {
			go func() {
				n := 0
				for f := range r.ws.frames {
					d := f.GetDelivery()
					if d == nil {
						continue
					}
					i := int(binary.BigEndian.Uint64(d.Envelope))
					lat <- time.Duration(time.Now().UnixNano() - sentAt[i].Load())
					if n++; n%16 == 0 {
						r.ws.ack(d.Seq)
					}
				}
			}()
		}
		tick := time.NewTicker(time.Second / time.Duration(rate))
		sem := make(chan struct{}, 256)
		for i := range total {
			<-tick.C
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				r := rxs[i%receivers].c
				env := make([]byte, 200)
				binary.BigEndian.PutUint64(env, uint64(i))
				var cm [16]byte
				binary.BigEndian.PutUint64(cm[:], uint64(i))
				sentAt[i].Store(time.Now().UnixNano())
				_, err := e.srv.Send(context.Background(), sender.addr(), &wardv1.SendRequest{ClientMessageId: cm[:], Conversation: r.aid[:], Commitment: make([]byte, 32),
					Copies: []*wardv1.Copy{{AccountId: r.aid[:], DeviceId: 1, Envelope: env}}})
				if err != nil {
					b.Error(err)
				}
			}()
		}
		tick.Stop()
		ds := make([]time.Duration, 0, total)
		timeout := time.After(30 * time.Second)
		for len(ds) < total {
			select {
			case d := <-lat:
				ds = append(ds, d)
			case <-timeout:
				b.Fatalf("only %d of %d delivered", len(ds), total)
			}
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(rate), "msgs/s")
	}
}
