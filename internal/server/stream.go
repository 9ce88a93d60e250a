package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// Delivery stream tuning.
const (
	// streamWindow bounds the entries pushed to a stream and not yet
	// acknowledged (counted as a distance in sequence numbers).
	streamWindow = 1024
	// fetchBatch is how many entries one store read fetches.
	fetchBatch = 128
	// maxPendingBytes bounds the entries a stream holds in memory after a
	// send on this node handed them over (see stream.offer); beyond it the
	// stream reads the queue instead.
	maxPendingBytes = 256 << 10
	// defaultPingPeriod is how often the server pings every stream; it
	// also re-checks each stream's queue then, repairing lost bus
	// wake-ups.
	defaultPingPeriod = 30 * time.Second
	// defaultPongWait is how long a stream may stay silent (no frame, no
	// pong) before the server closes it.
	defaultPongWait = 75 * time.Second
	// writeWait bounds one frame write.
	writeWait = 10 * time.Second
	// maxClientFrame bounds a frame from the client (an Ack is a few bytes).
	maxClientFrame = 512
)

// Stream error codes, sent in an Error frame just before the server closes
// the stream (docs/API.md, "Stream").
const (
	streamErrProtocol = "invalid_argument"
	streamErrReplaced = "replaced"
	streamErrRemoved  = "device_removed"
	streamErrShutdown = "unavailable"
)

// streams is the registry of the open delivery streams of this node.
type streams struct {
	mu     sync.RWMutex
	byAddr map[store.Address]*stream
	closed bool
	wg     sync.WaitGroup // reader goroutines and the pinger
	stop   chan struct{}

	pingPeriod, pongWait time.Duration // fixed by New
}

// stream is one device's open WebSocket. An idle stream owns one goroutine
// (the reader, started fresh after the upgrade so it has a small stack) and
// no write buffer: writes borrow a pooled buffer, and pushing new entries
// runs on a short-lived goroutine started by a wake-up.
type stream struct {
	s     *Server
	ws    *websocket.Conn
	addr  store.Address
	token uint64

	wmu        sync.Mutex    // serialises writes to ws
	sent       atomic.Uint64 // highest seq written to the stream
	acked      atomic.Uint64 // highest seq acknowledged
	scheduled  atomic.Bool   // a flusher is running or about to
	dirty      atomic.Bool   // a wake-up arrived since the flusher last looked
	lowNotice  atomic.Bool   // a PrekeysLow frame is due
	needFetch  atomic.Bool   // the queue may hold entries not in pending
	gapSince   atomic.Int64  // when pending was first seen not to continue the queue (unix ns), 0: no gap
	pmu        sync.Mutex    // guards pending
	pending    []handed      // committed entries handed over by Send, by seq
	pendBytes  int
	imu        sync.Mutex    // guards inflight
	inflight   int64         // this stream's share of the unacked gauge
	ackWant    atomic.Uint64 // highest seq the client acknowledged
	ackRunning atomic.Bool   // an ack deletion is being committed
	closed     atomic.Bool
	unsub      func()
}

var writeBufferPool sync.Pool

func (s *Server) initStreams(tm timing) {
	s.streams.byAddr = make(map[store.Address]*stream)
	s.streams.stop = make(chan struct{})
	s.streams.pingPeriod, s.streams.pongWait = tm.pingPeriod, tm.pongWait
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  256,
		WriteBufferSize: 1024,
		WriteBufferPool: &writeBufferPool,
		CheckOrigin:     func(*http.Request) bool { return true }, // token auth, no cookies
	}
	s.streams.wg.Add(1)
	go s.pinger()
}

func (s *Server) closeStreams() {
	s.streams.mu.Lock()
	if s.streams.closed {
		s.streams.mu.Unlock()
		return
	}
	s.streams.closed = true
	close(s.streams.stop)
	all := make([]*stream, 0, len(s.streams.byAddr))
	for _, st := range s.streams.byAddr {
		all = append(all, st)
	}
	s.streams.mu.Unlock()
	for _, st := range all {
		st.close(streamErrShutdown, "server is shutting down; reconnect later")
	}
	s.streams.wg.Wait()
}

// pinger pings every stream and re-checks its queue every pingPeriod. The
// round is spread over half the period, with a bounded number of pings in
// flight, so that neither a stuck connection nor 19,000 queue reads at
// once hold the others up.
func (s *Server) pinger() {
	defer s.streams.wg.Done()
	t := time.NewTicker(s.streams.pingPeriod)
	defer t.Stop()
	sem := make(chan struct{}, 64)
	for {
		select {
		case <-s.streams.stop:
			return
		case <-t.C:
		}
		s.streams.mu.RLock()
		all := make([]*stream, 0, len(s.streams.byAddr))
		for _, st := range s.streams.byAddr {
			all = append(all, st)
		}
		s.streams.mu.RUnlock()
		var spread time.Duration
		if len(all) > 0 {
			spread = s.streams.pingPeriod / 2 / time.Duration(len(all))
		}
		for _, st := range all {
			select {
			case <-s.streams.stop:
				return
			case sem <- struct{}{}:
			}
			go func() {
				defer func() { <-sem }()
				if err := st.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
					st.close("", "")
					return
				}
				st.needFetch.Store(true)
				st.wake()
			}()
			if spread > time.Millisecond {
				select {
				case <-s.streams.stop:
					return
				case <-time.After(spread):
				}
			}
		}
	}
}

// serveStream is GET /v1/stream. The token comes from the Authorization
// header ("Ward <token>") or, for browsers that cannot set headers on a
// WebSocket, the "token" query parameter.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	tok := tokenFromHeader(r.Header.Get("Authorization"))
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	addr, err := s.authorize(r.Context(), tok)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	if s.closing.Load() {
		writeHTTPError(w, errorf(CodeUnavailable, "server is shutting down"))
		return
	}
	s.streams.mu.Lock()
	full := len(s.streams.byAddr) >= s.cfg.MaxStreams
	s.streams.mu.Unlock()
	if full {
		writeHTTPError(w, errorf(CodeUnavailable, "this server has reached its limit of %d open streams; retry later", s.cfg.MaxStreams))
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with a 4xx
	}
	// The token tells this stream's own Replaced announcement apart from
	// other streams' on any node, so it is random rather than a counter.
	var tok8 [8]byte
	rand.Read(tok8[:])
	st := &stream{s: s, ws: ws, addr: addr, token: binary.BigEndian.Uint64(tok8[:])}
	ws.SetReadLimit(maxClientFrame)
	// Subscribe before the stream can be found and closed, so close always
	// has a subscription to cancel.
	s.metrics.connections.Inc() // close decrements it
	s.metrics.streamsOpened.Inc()
	st.unsub = s.bus.Subscribe(addr, st.onEvent)

	s.streams.mu.Lock()
	if s.streams.closed {
		s.streams.mu.Unlock()
		st.close(streamErrShutdown, "server is shutting down; reconnect later")
		return
	}
	if st.closed.Load() { // replaced from another node already
		s.streams.mu.Unlock()
		return
	}
	old := s.streams.byAddr[addr]
	s.streams.byAddr[addr] = st
	s.streams.wg.Add(1)
	s.streams.mu.Unlock()
	if old != nil {
		old.close(streamErrReplaced, "this device opened another stream")
	}
	// Other nodes close their streams of this device.
	s.bus.Publish(context.WithoutCancel(r.Context()), bus.Event{To: addr, Kind: bus.Replaced, Token: st.token})

	if depth, err := s.st.QueueDepth(r.Context(), addr); err == nil {
		s.metrics.backlog.Observe(float64(depth))
	}
	if c, err := s.st.PrekeyCounts(r.Context(), addr); err == nil && s.prekeysLow(c) {
		st.lowNotice.Store(true)
	}
	st.needFetch.Store(true)
	st.wake() // drain the backlog
	// The reader runs on a fresh goroutine so that the HTTP server's
	// connection goroutine, with its larger stack, can exit.
	go st.readLoop()
}

func (st *stream) onEvent(ev bus.Event) {
	switch ev.Kind {
	case bus.Messages:
		st.needFetch.Store(true)
		st.wake()
	case bus.PrekeysLow:
		st.lowNotice.Store(true)
		st.wake()
	case bus.Replaced:
		if ev.Token != st.token {
			go st.close(streamErrReplaced, "this device opened another stream")
		}
	case bus.Removed:
		go st.close(streamErrRemoved, "this device was removed from its account's device list")
	}
}

// wake makes sure a flusher will look at the queue after this call.
func (st *stream) wake() {
	st.dirty.Store(true)
	if !st.closed.Load() && st.scheduled.CompareAndSwap(false, true) {
		go st.flushLoop()
	}
}

func (st *stream) flushLoop() {
	for {
		st.dirty.Store(false)
		more, err := st.flushOnce()
		if err != nil {
			st.scheduled.Store(false)
			st.s.log.Debug("stream write failed", "err", err)
			st.close("", "")
			return
		}
		if more && !st.closed.Load() {
			continue
		}
		st.scheduled.Store(false)
		// A wake-up that saw scheduled==true before the Store above set
		// dirty first: look again unless another flusher has taken over.
		if st.closed.Load() || !st.dirty.Load() || !st.scheduled.CompareAndSwap(false, true) {
			return
		}
	}
}

// flushOnce pushes a PrekeysLow notice if one is due and the next batch of
// entries the window allows. It reports whether more may be waiting.
func (st *stream) flushOnce() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeWait)
	defer cancel()
	s := st.s
	if st.lowNotice.Swap(false) {
		c, err := s.st.PrekeyCounts(ctx, st.addr)
		if err == nil {
			if err := st.writeFrame(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_PrekeysLow{PrekeysLow: &wardv1.PrekeysLow{Counts: protoCounts(c)}}}); err != nil {
				return false, err
			}
		}
	}
	sent := st.sent.Load()
	room := streamWindow - int(sent-st.acked.Load())
	if room <= 0 {
		return false, nil
	}
	// Entries handed over by sends on this node go out without a store
	// read when they continue the sequence; a gap (an entry this stream
	// was not handed) makes it read the queue.
	entries, gap, morePending := st.takePending(sent, min(room, fetchBatch))
	if gap && st.gapDue() {
		st.needFetch.Store(true)
	} else if !gap {
		st.gapSince.Store(0)
	}
	more := morePending
	if len(entries) == 0 && st.needFetch.Swap(false) {
		limit := min(room, fetchBatch)
		var err error
		entries, err = s.st.Fetch(ctx, st.addr, sent, limit)
		if err != nil {
			// The store is unavailable; the next wake-up or ping retries.
			st.needFetch.Store(true)
			s.log.Warn("stream fetch", "device", st.addr.String(), "err", err)
			return false, nil
		}
		if len(entries) == limit {
			st.needFetch.Store(true)
			more = true
		}
	}
	more = more || len(entries) > 0 && st.needFetch.Load()
	now := time.Now()
	for i := range entries {
		e := &entries[i]
		q, err := parseQueued(e.Envelope)
		if err != nil {
			s.log.Error("unreadable queue entry", "device", st.addr.String(), "seq", e.Seq, "err", err)
			q = &queued{envelope: e.Envelope}
		}
		d := &wardv1.Delivery{
			Seq:             e.Seq,
			MessageId:       e.MessageID[:],
			SenderAccountId: e.Sender.Account[:],
			SenderDeviceId:  uint32(e.Sender.Device),
			TimestampMs:     e.Timestamp.UnixMilli(),
			Conversation:    q.conversation,
			Envelope:        q.envelope,
			FrankingTag:     e.FrankingTag,
			Commitment:      q.commitment,
		}
		// sent moves before the write: the client may ack the entry
		// before WriteMessage returns. A failed write closes the stream.
		st.sent.Store(e.Seq)
		if err := st.writeFrame(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Delivery{Delivery: d}}); err != nil {
			return false, err
		}
		s.metrics.deliveries.Inc()
		st.unacked(1)
		s.metrics.deliveryLatency.Observe(now.Sub(e.Timestamp).Seconds())
	}
	return more, nil
}

// gapWait is how long a gap in the handed-over entries may last before
// the stream reads the queue. The sends of one batch commit together but
// their handlers offer their entries in any order, so a gap usually closes
// within microseconds; a gap that does not (an entry committed on another
// node, or not handed over) is read from the store after gapWait.
const gapWait = 2 * time.Millisecond

// gapDue reports whether a gap in pending has lasted gapWait; until then
// it makes sure a flusher looks again when it will have.
func (st *stream) gapDue() bool {
	now := time.Now().UnixNano()
	since := st.gapSince.Load()
	if since == 0 {
		st.gapSince.CompareAndSwap(0, now)
		since = now
	}
	if left := time.Duration(since + int64(gapWait) - now); left > 0 {
		time.AfterFunc(left, st.wake)
		return false
	}
	st.gapSince.Store(0)
	return true
}

// unacked moves this stream's share of ward_stream_unacked_entries; after
// close the share is zero and stays so.
func (st *stream) unacked(delta int64) {
	st.imu.Lock()
	defer st.imu.Unlock()
	if st.closed.Load() {
		return
	}
	delta = max(delta, -st.inflight)
	st.inflight += delta
	st.s.metrics.inflight.Add(float64(delta))
}

// handed is an entry handed over by Send, with prev from
// [store.Result.PrevSeqs]: the device's queue held no entry between prev
// and e.Seq when e was committed.
type handed struct {
	e    store.Entry
	prev uint64
}

// offer hands the stream an entry just committed for its device, with the
// store's PrevSeqs value for it (Seq-1 when the store gave none). It
// returns false (and the caller wakes the device through the bus instead)
// when the stream is closed or holds too much already.
func (st *stream) offer(e store.Entry, prev uint64) bool {
	if st.closed.Load() {
		return false
	}
	st.pmu.Lock()
	if st.pendBytes+len(e.Envelope) > maxPendingBytes {
		st.pmu.Unlock()
		return false
	}
	// Sends finish concurrently, so entries can arrive slightly out of
	// order: insert by seq.
	i := len(st.pending)
	for i > 0 && st.pending[i-1].e.Seq > e.Seq {
		i--
	}
	st.pending = append(st.pending, handed{})
	copy(st.pending[i+1:], st.pending[i:])
	st.pending[i] = handed{e: e, prev: prev}
	st.pendBytes += len(e.Envelope)
	st.pmu.Unlock()
	st.wake()
	return true
}

// takePending removes pending entries at or below sent and returns the
// run of at most limit entries that continues the queue after sent: each
// entry's prev is at most the seq written before it, so the queue can hold
// nothing between them that this stream has not written. (Sequence
// numbers need not be contiguous: the SQLite store's are store-wide.)
// gap reports pending entries that do not continue it; more reports
// entries left after the returned run.
func (st *stream) takePending(sent uint64, limit int) (run []store.Entry, gap, more bool) {
	st.pmu.Lock()
	defer st.pmu.Unlock()
	drop := 0
	for drop < len(st.pending) && st.pending[drop].e.Seq <= sent {
		st.pendBytes -= len(st.pending[drop].e.Envelope)
		drop++
	}
	n, last := 0, sent
	for n < len(st.pending)-drop && n < limit && st.pending[drop+n].prev <= last {
		last = st.pending[drop+n].e.Seq
		n++
	}
	run = make([]store.Entry, n)
	for i := range run {
		run[i] = st.pending[drop+i].e
		st.pendBytes -= len(run[i].Envelope)
	}
	rest := len(st.pending) - drop - n
	copy(st.pending, st.pending[drop+n:])
	clear(st.pending[rest:])
	st.pending = st.pending[:rest]
	if rest > 0 {
		if n == limit {
			more = true
		} else {
			gap = true
		}
	}
	return run, gap, more
}

// localStream returns this node's open stream of addr, or nil.
func (s *Server) localStream(addr store.Address) *stream {
	s.streams.mu.RLock()
	st := s.streams.byAddr[addr]
	s.streams.mu.RUnlock()
	return st
}

func (st *stream) writeFrame(f *wardv1.StreamFrame) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return err
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.closed.Load() {
		return errors.New("stream closed")
	}
	st.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return st.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (st *stream) readLoop() {
	defer st.s.streams.wg.Done()
	defer st.close("", "")
	ws := st.ws
	pongWait := st.s.streams.pongWait
	ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				st.close(streamErrProtocol, "frame too large")
			}
			return
		}
		ws.SetReadDeadline(time.Now().Add(pongWait))
		if typ != websocket.BinaryMessage {
			st.close(streamErrProtocol, "frames must be binary protobuf StreamFrame messages")
			return
		}
		var f wardv1.StreamFrame
		if err := proto.Unmarshal(data, &f); err != nil {
			st.close(streamErrProtocol, "frame is not a valid StreamFrame")
			return
		}
		ack := f.GetAck()
		if ack == nil {
			st.close(streamErrProtocol, "clients may only send Ack frames")
			return
		}
		if err := st.handleAck(ack.GetUpToSeq()); err != nil {
			st.close(streamErrProtocol, err.Error())
			return
		}
	}
}

// handleAck records an acknowledgement of the entries up to seq. Only
// entries this stream has delivered may be acknowledged: an Ack beyond the
// last delivered sequence number is a protocol error (it could delete
// undelivered messages). Acks are coalesced: while one deletion is being
// committed, later acks only raise the target, so a client acking every
// message costs a transaction per commit time, not per message.
func (st *stream) handleAck(seq uint64) error {
	if seq == 0 || seq > st.sent.Load() {
		return errors.New("ack beyond the last delivered sequence number")
	}
	for {
		cur := st.ackWant.Load()
		if seq <= cur || st.ackWant.CompareAndSwap(cur, seq) {
			break
		}
	}
	if st.ackRunning.CompareAndSwap(false, true) {
		go st.ackLoop()
	}
	return nil
}

func (st *stream) ackLoop() {
	for {
		want := st.ackWant.Load()
		if prev := st.acked.Load(); want > prev {
			ctx, cancel := context.WithTimeout(context.Background(), writeWait)
			n, err := st.s.st.Ack(ctx, st.addr, want)
			cancel()
			if err != nil {
				// The entries stay queued and are delivered again on the
				// next connection (at-least-once).
				st.s.log.Warn("ack", "device", st.addr.String(), "err", err)
			} else {
				st.acked.Store(want)
				st.s.metrics.acks.Add(float64(n))
				st.unacked(-int64(n))
				if int(st.sent.Load()-prev) >= streamWindow/2 {
					// The window had been (nearly) full: offers may have
					// been refused meanwhile.
					st.needFetch.Store(true)
					st.wake()
				}
			}
		}
		st.ackRunning.Store(false)
		if st.ackWant.Load() == want || !st.ackRunning.CompareAndSwap(false, true) {
			return
		}
	}
}

// close ends the stream, sending an Error frame first when code is set.
func (st *stream) close(code, msg string) {
	if st.closed.Swap(true) {
		return
	}
	if st.unsub != nil {
		st.unsub()
	}
	s := st.s
	s.streams.mu.Lock()
	if s.streams.byAddr[st.addr] == st {
		delete(s.streams.byAddr, st.addr)
	}
	s.streams.mu.Unlock()
	s.metrics.connections.Dec()
	st.imu.Lock()
	s.metrics.inflight.Sub(float64(st.inflight))
	st.inflight = 0
	st.imu.Unlock()
	st.closeConn(code, msg)
}

func (st *stream) closeConn(code, msg string) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	deadline := time.Now().Add(time.Second)
	if code != "" {
		if b, err := proto.Marshal(&wardv1.StreamFrame{Frame: &wardv1.StreamFrame_Error{Error: &wardv1.Error{Code: code, Message: msg}}}); err == nil {
			st.ws.SetWriteDeadline(deadline)
			st.ws.WriteMessage(websocket.BinaryMessage, b)
		}
		closeCode := websocket.ClosePolicyViolation
		if code == streamErrShutdown {
			closeCode = websocket.CloseGoingAway
		} else if code == streamErrReplaced || code == streamErrRemoved {
			closeCode = websocket.CloseNormalClosure
		}
		st.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code), deadline)
	}
	st.ws.Close()
}

// streamCount returns the number of open streams on this node.
func (s *Server) streamCount() int {
	s.streams.mu.RLock()
	defer s.streams.mu.RUnlock()
	return len(s.streams.byAddr)
}
