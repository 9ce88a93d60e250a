package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// envelopeHeader is the prefix of every load envelope: the message index
// (uint64, big endian) and the send time in nanoseconds since the start of
// the run (int64, big endian). The rest of the envelope is random bytes.
const envelopeHeader = 16

// result is the JSON line of one run.
type result struct {
	Mode              string           `json:"mode"`
	Started           string           `json:"started"`
	Server            string           `json:"server"`
	Spawned           bool             `json:"spawned"`
	ServerFlags       string           `json:"server_flags,omitempty"`
	ServerFileLimit   string           `json:"server_file_limit,omitempty"`
	ClientFileLimit   uint64           `json:"client_file_limit"`
	Accounts          int              `json:"n"`
	Devices           int              `json:"devices_per_account"`
	Concurrency       int              `json:"c"`
	Messages          int              `json:"m"`
	Rate              float64          `json:"rate,omitempty"`
	Size              int              `json:"size"`
	DurationS         float64          `json:"duration_s"`
	Sent              int64            `json:"sent"`
	Delivered         int64            `json:"delivered"`
	CopiesDelivered   int64            `json:"copies_delivered"`
	Duplicates        int64            `json:"duplicates"`
	Missing           int64            `json:"missing"`
	Acked             int64            `json:"acked"`
	DeliveredPerS     float64          `json:"delivered_per_s"`
	Latency           *percentiles     `json:"latency_ms,omitempty"`
	SendLatency       *percentiles     `json:"send_latency_ms,omitempty"`
	MaxDispatchLagMs  float64          `json:"max_dispatch_lag_ms,omitempty"`
	OfferedPerS       float64          `json:"offered_per_s,omitempty"`
	ServerCPUPerMsgUs float64          `json:"server_cpu_us_per_msg,omitempty"`
	ClientCPUPerMsgUs float64          `json:"client_cpu_us_per_msg,omitempty"`
	Connections       int64            `json:"connections,omitempty"`
	Before            memory           `json:"server_before"`
	After             memory           `json:"server_after"`
	BytesPerConnRSS   float64          `json:"bytes_per_conn_rss,omitempty"`
	BytesPerConnHeap  float64          `json:"bytes_per_conn_heap_stack,omitempty"`
	Errors            map[string]int64 `json:"errors"`
	LoadAverage       string           `json:"load_avg"`
	LoadAverageAfter  string           `json:"load_avg_after"`
	MeasuresNoteShort string           `json:"note"`
}

func (r *result) write(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// percentiles of a latency sample, in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// summarize sorts ns (nanoseconds) in place and returns its percentiles
// (nearest rank), or nil for an empty sample.
func summarize(ns []int64) *percentiles {
	if len(ns) == 0 {
		return nil
	}
	slices.Sort(ns)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ns)))) - 1
		i = max(0, min(i, len(ns)-1))
		return math.Round(float64(ns[i])/1e3) / 1e3
	}
	return &percentiles{N: len(ns), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// tracker is the receivers' bookkeeping: copies per message, latencies.
type tracker struct {
	base     time.Time
	expect   uint32          // copies per message
	perMsg   []atomic.Uint32 // copies received per message index
	lat      []int64         // delivery latencies, ns
	latN     atomic.Int64
	copies   atomic.Int64
	complete atomic.Int64 // messages whose every copy arrived
	dups     atomic.Int64
	bogus    atomic.Int64
	lastAt   atomic.Int64 // ns since base of the latest completion
}

func newTracker(base time.Time, messages int, expect int) *tracker {
	return &tracker{
		base:   base,
		expect: uint32(expect),
		perMsg: make([]atomic.Uint32, messages),
		lat:    make([]int64, messages*expect),
	}
}

func (t *tracker) deliver(env []byte, now time.Time) {
	if len(env) < envelopeHeader {
		t.bogus.Add(1)
		return
	}
	idx := binary.BigEndian.Uint64(env[0:8])
	sent := int64(binary.BigEndian.Uint64(env[8:16]))
	if idx >= uint64(len(t.perMsg)) {
		t.bogus.Add(1)
		return
	}
	c := t.perMsg[idx].Add(1)
	if c > t.expect {
		t.dups.Add(1)
		return
	}
	el := now.Sub(t.base).Nanoseconds()
	if i := t.latN.Add(1) - 1; i < int64(len(t.lat)) {
		t.lat[i] = el - sent
	}
	t.copies.Add(1)
	if c == t.expect {
		t.complete.Add(1)
		for {
			old := t.lastAt.Load()
			if el <= old || t.lastAt.CompareAndSwap(old, el) {
				break
			}
		}
	}
}

// receiver is one device's open delivery stream.
type receiver struct {
	ws       *websocket.Conn
	wmu      sync.Mutex
	acked    uint64 // guarded by wmu
	last     atomic.Uint64
	sinceAck atomic.Int32
}

// readLoop reads frames until the connection ends; deliveries go to tr and
// are acknowledged every ackEvery (the flusher acknowledges the rest).
func (r *receiver) readLoop(tr *tracker, ackEvery int, errs *errorCounts, closing *atomic.Bool) {
	for {
		typ, data, err := r.ws.ReadMessage()
		now := time.Now()
		if err != nil {
			if !closing.Load() {
				errs.add("stream_closed")
			}
			return
		}
		if typ != websocket.BinaryMessage {
			errs.add("stream_text_frame")
			continue
		}
		var f wardv1.StreamFrame
		if err := proto.Unmarshal(data, &f); err != nil {
			errs.add("stream_bad_frame")
			continue
		}
		switch {
		case f.GetDelivery() != nil:
			d := f.GetDelivery()
			if tr != nil {
				tr.deliver(d.GetEnvelope(), now)
			}
			r.last.Store(d.GetSeq())
			if int(r.sinceAck.Add(1)) >= ackEvery {
				if err := r.flush(); err != nil && !closing.Load() {
					errs.add("ack_write")
				}
			}
		case f.GetError() != nil:
			if !closing.Load() {
				errs.add("stream_error_" + f.GetError().GetCode())
			}
			return
		}
	}
}

// flush acknowledges everything received so far (Ack up_to_seq).
func (r *receiver) flush() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	last := r.last.Load()
	if last <= r.acked {
		return nil
	}
	r.sinceAck.Store(0)
	b, err := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Ack{Ack: &wardv1.Ack{UpToSeq: last}}})
	if err != nil {
		return err
	}
	r.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := r.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return err
	}
	r.acked = last
	return nil
}

// processCPU returns this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// execute runs one load as o describes.
func execute(ctx context.Context, o *options, stderr io.Writer) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res := &result{
		Mode: o.mode, Started: time.Now().UTC().Format(time.RFC3339),
		Accounts: o.accounts, Devices: o.devices, Concurrency: o.concurrency,
		Size: o.size, LoadAverage: loadAverage(), ClientFileLimit: fileLimit(),
		MeasuresNoteShort: "envelopes are random bytes: this measures the server, not client cryptography",
	}
	t := &target{url: trimURL(o.server)}
	if o.spawn {
		var err error
		if t, err = spawn(ctx, o.wardd, stderr); err != nil {
			return nil, err
		}
		defer func() {
			if err := t.stop(); err != nil {
				fmt.Fprintln(stderr, "wardload: wardd:", err)
			}
		}()
		res.Spawned, res.ServerFlags, res.ServerFileLimit = true, t.flags, procFileLimit(t.pid)
	}
	res.Server = t.url
	tr := &http.Transport{
		MaxIdleConns:        o.concurrency + 16,
		MaxIdleConnsPerHost: o.concurrency + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	a := newAPI(t.url, hc)
	errs := &errorCounts{}
	var err error
	switch o.mode {
	case "throughput", "rate":
		err = runLoad(ctx, o, a, t, res, errs, stderr)
	case "idle":
		err = runIdle(ctx, o, a, t, res, errs, stderr)
	}
	res.Errors = errs.snapshot()
	res.LoadAverageAfter = loadAverage()
	return res, err
}

// runLoad is the throughput and rate modes.
func runLoad(ctx context.Context, o *options, a *api, t *target, res *result, errs *errorCounts, stderr io.Writer) error {
	accts, err := a.registerAll(ctx, o.accounts, o.devices, o.concurrency, errs, stderr)
	if err != nil {
		return err
	}
	messages := o.messages
	if o.mode == "rate" {
		messages = int(math.Round(o.rate * o.duration.Seconds()))
		res.Rate = o.rate
	}
	res.Messages = messages
	// Copies per message: every device of the recipient and every other
	// device of the sender.
	expect := 2*o.devices - 1
	base := time.Now()
	trk := newTracker(base, messages, expect)

	// One stream per device, each with a reader.
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	var closing atomic.Bool
	var recvs []*receiver
	var readers sync.WaitGroup
	// stopStreams stops the ack flusher, then closes every stream and
	// waits for the readers (so the tracker is no longer written).
	var stopFlusher func()
	stopStreams := sync.OnceFunc(func() {
		if stopFlusher != nil {
			stopFlusher()
		}
		closing.Store(true)
		for _, r := range recvs {
			r.ws.Close()
		}
		readers.Wait()
	})
	defer stopStreams()
	for _, acct := range accts {
		for _, dev := range acct.devs {
			ws, err := dialStream(ctx, dialer, a.base, dev)
			if err != nil {
				errs.add(dialKind(err))
				return fmt.Errorf("wardload: stream of a receiver: %w", err)
			}
			r := &receiver{ws: ws}
			recvs = append(recvs, r)
			readers.Go(func() { r.readLoop(trk, o.ackEvery, errs, &closing) })
		}
	}
	// The flusher acknowledges what the ack-every batches left over.
	flushStop := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-flushStop:
				return
			case <-tk.C:
				for _, r := range recvs {
					if r.last.Load() > 0 {
						if err := r.flush(); err != nil && !closing.Load() {
							errs.add("ack_write")
						}
					}
				}
			}
		}
	})
	stopFlusher = func() { close(flushStop); flusher.Wait() }

	// Measure once the server counts every stream (a stream registers
	// itself just after the upgrade the client has already seen).
	var before memory
	for wait := time.Now().Add(5 * time.Second); ; {
		before, err = readMemory(ctx, a.hc, t)
		if err != nil {
			errs.add("metrics")
			break
		}
		if before.Streams >= int64(len(recvs)) || time.Now().After(wait) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.Before = before
	fmt.Fprintf(stderr, "wardload: %d accounts, %d streams open; sending %d messages (%s)\n", len(accts), len(recvs), messages, o.mode)

	sendLat := make([]int64, messages)
	var sendLatN, sent, attempted atomic.Int64
	var runID [8]byte
	rand.Read(runID[:])
	sendOne := func(buf []byte, commitment []byte, i int) {
		n := len(accts)
		from := accts[i%n]
		to := accts[(i%n+1+(i/n)%(n-1))%n]
		fromDev := from.devs[(i/n)%len(from.devs)]
		copies := make([]*wardv1.Copy, 0, expect)
		binary.BigEndian.PutUint64(buf[0:8], uint64(i))
		for _, d := range to.devs {
			copies = append(copies, &wardv1.Copy{AccountId: to.aid[:], DeviceId: uint32(d.id), Envelope: buf})
		}
		for _, d := range from.devs {
			if d != fromDev {
				copies = append(copies, &wardv1.Copy{AccountId: from.aid[:], DeviceId: uint32(d.id), Envelope: buf})
			}
		}
		var cmid [16]byte
		copy(cmid[:8], runID[:])
		binary.BigEndian.PutUint64(cmid[8:], uint64(i))
		req := connect.NewRequest(&wardv1.SendRequest{ClientMessageId: cmid[:], Conversation: to.aid[:], Commitment: commitment, Copies: copies})
		req.Header().Set("Authorization", "Ward "+fromDev.token)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start := time.Now()
		binary.BigEndian.PutUint64(buf[8:16], uint64(start.Sub(base).Nanoseconds()))
		attempted.Add(1)
		_, err := a.messages.Send(sctx, req)
		if err != nil {
			if ctx.Err() == nil {
				errs.add(kindOf("send", err))
			}
			return
		}
		sendLat[sendLatN.Add(1)-1] = time.Since(start).Nanoseconds()
		sent.Add(1)
	}
	newBuf := func() (buf, commitment []byte) {
		buf = make([]byte, o.size)
		rand.Read(buf)
		commitment = make([]byte, 32)
		rand.Read(commitment)
		return buf, commitment
	}

	stopProgress := progress(stderr, "sent", &sent, int64(messages))
	clientCPU := processCPU()
	start := time.Now()
	var senders sync.WaitGroup
	var maxLag time.Duration
	switch o.mode {
	case "throughput":
		var next atomic.Int64
		for range o.concurrency {
			senders.Go(func() {
				buf, com := newBuf()
				for {
					i := int(next.Add(1) - 1)
					if i >= messages || ctx.Err() != nil {
						return
					}
					sendOne(buf, com, i)
				}
			})
		}
	case "rate":
		// Open loop: message i is due at start + i/rate, whatever the
		// server's speed; a pool of -c workers sends them. When every
		// worker is busy the dispatcher falls behind and the lag says so.
		work := make(chan int, o.concurrency)
		for range o.concurrency {
			senders.Go(func() {
				buf, com := newBuf()
				for i := range work {
					sendOne(buf, com, i)
				}
			})
		}
		period := float64(time.Second) / o.rate
	dispatch:
		for i := range messages {
			due := start.Add(time.Duration(float64(i) * period))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break dispatch
				}
			}
			select {
			case work <- i:
			case <-ctx.Done():
				break dispatch
			}
			maxLag = max(maxLag, time.Since(due))
		}
		close(work)
		if d := time.Since(start); d > 0 {
			res.OfferedPerS = math.Round(float64(messages) / d.Seconds())
		}
	}
	senders.Wait()
	stopProgress()
	res.MaxDispatchLagMs = math.Round(float64(maxLag)/1e3) / 1e3

	// Wait (bounded) for every sent message to arrive.
	want := sent.Load()
	waitDeadline := time.Now().Add(30 * time.Second)
	for trk.complete.Load() < want && time.Now().Before(waitDeadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	end := base.Add(time.Duration(trk.lastAt.Load()))
	elapsed := end.Sub(start)
	if trk.complete.Load() < want {
		fmt.Fprintf(stderr, "wardload: only %d of %d sent messages arrived in full within 30s of the last send\n", trk.complete.Load(), want)
	}

	// Wait (bounded) for the server to have deleted every acknowledged
	// entry: "delivered and acked".
	var after memory
	ackDeadline := time.Now().Add(15 * time.Second)
	for {
		after, err = readMemory(ctx, a.hc, t)
		if err != nil {
			errs.add("metrics")
			break
		}
		if after.Acked-before.Acked >= trk.copies.Load() || time.Now().After(ackDeadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.After = after
	stopStreams()
	if res.Delivered = trk.complete.Load(); res.Delivered > 0 {
		res.ServerCPUPerMsgUs = math.Round((after.CPUSeconds - before.CPUSeconds) * 1e6 / float64(res.Delivered))
		res.ClientCPUPerMsgUs = math.Round((processCPU() - clientCPU).Seconds() * 1e6 / float64(res.Delivered))
	}
	res.Acked = after.Acked - before.Acked
	res.Sent = sent.Load()
	res.Delivered = trk.complete.Load()
	res.CopiesDelivered = trk.copies.Load()
	res.Duplicates = trk.dups.Load()
	res.Missing = res.Sent - res.Delivered
	if b := trk.bogus.Load(); b > 0 {
		errs.add("stream_unknown_envelope")
	}
	res.DurationS = math.Round(elapsed.Seconds()*1000) / 1000
	if elapsed > 0 {
		res.DeliveredPerS = math.Round(float64(res.Delivered) / elapsed.Seconds())
	}
	n := min(trk.latN.Load(), int64(len(trk.lat)))
	res.Latency = summarize(trk.lat[:n])
	res.SendLatency = summarize(sendLat[:sendLatN.Load()])
	if ctx.Err() != nil {
		return fmt.Errorf("wardload: run cut short: %w", ctx.Err())
	}
	return nil
}

// runIdle opens o.idle authenticated streams, holds them and reports the
// server's memory growth per stream.
func runIdle(ctx context.Context, o *options, a *api, t *target, res *result, errs *errorCounts, stderr io.Writer) error {
	nacct := (o.idle + o.devices - 1) / o.devices
	res.Accounts = nacct
	accts, err := a.registerAll(ctx, nacct, o.devices, o.concurrency, errs, stderr)
	if err != nil {
		return err
	}
	var devs []*device
	for _, acct := range accts {
		devs = append(devs, acct.devs...)
	}
	devs = devs[:o.idle]
	// Registration's keep-alive connections would hold server files.
	a.hc.CloseIdleConnections()
	time.Sleep(2 * time.Second)
	before, err := readMemory(ctx, a.hc, t)
	if err != nil {
		return err
	}
	a.hc.CloseIdleConnections()
	res.Before = before

	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 256, WriteBufferSize: 256}
	var closing atomic.Bool
	conns := make([]*receiver, len(devs))
	var opened atomic.Int64
	var readers sync.WaitGroup
	defer func() {
		closing.Store(true)
		for _, r := range conns {
			if r != nil {
				r.ws.Close()
			}
		}
		readers.Wait()
	}()
	stopProgress := progress(stderr, "streams open", &opened, int64(len(devs)))
	var next atomic.Int64
	var dialers sync.WaitGroup
	for range min(o.concurrency, len(devs)) {
		dialers.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || ctx.Err() != nil {
					return
				}
				ws, err := dialStream(ctx, dialer, a.base, devs[i])
				if err != nil {
					errs.add(dialKind(err))
					continue
				}
				r := &receiver{ws: ws}
				conns[i] = r
				opened.Add(1)
				// The reader answers the server's pings and notices a close.
				readers.Go(func() { r.readLoop(nil, 1<<30, errs, &closing) })
			}
		})
	}
	dialers.Wait()
	stopProgress()
	res.Connections = opened.Load()
	fmt.Fprintf(stderr, "wardload: %d idle streams open; holding %v\n", res.Connections, o.hold)
	select {
	case <-time.After(o.hold):
	case <-ctx.Done():
	}
	a.hc.CloseIdleConnections()
	after, err := readMemory(ctx, a.hc, t)
	if err != nil {
		return err
	}
	res.After = after
	if res.Connections > 0 {
		res.BytesPerConnRSS = math.Round(float64(after.RSS-before.RSS) / float64(res.Connections))
		res.BytesPerConnHeap = math.Round(float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / float64(res.Connections))
	}
	if res.Connections < int64(len(devs)) {
		return fmt.Errorf("wardload: opened %d of %d streams (see errors)", res.Connections, len(devs))
	}
	if ctx.Err() != nil {
		return errors.New("wardload: run cut short: " + ctx.Err().Error())
	}
	return nil
}
