package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/client/internal/transport"
	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/identity"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/session"
)

// Reconnection backoff of Run.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// outboxInterval is how often Run retries queued messages when nothing
	// wakes it earlier.
	outboxInterval = 2 * time.Second
)

// Run keeps the delivery stream open and processes deliveries until ctx is
// done or the client is closed, reconnecting with exponential backoff
// (100 ms to 5 s) after any failure; the server redelivers every entry not
// yet acknowledged, so nothing is lost across reconnects. It also retries
// the outbox and refills prekeys when the server asks. Run returns nil when
// ctx is done, and ErrDeviceRemoved if the server removed this device.
// Only one Run may be active per Client.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	_, err := c.requireSelf()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.running.Add(1)
	defer c.running.Done()
	select {
	case <-c.closing:
		return nil
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.outboxLoop(ctx)
	}()
	defer func() { cancel(); <-done }()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := minBackoff
	for {
		connected, err := c.runStream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrDeviceRemoved) {
			return err
		}
		// The stream may close before the server's device_removed frame
		// reaches us; the next authentication then says the same.
		if errors.Is(err, transport.ErrNotListed) {
			return ErrDeviceRemoved
		}
		if connected {
			backoff = minBackoff
		}
		c.log.Debug("stream ended; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (c *Client) outboxLoop(ctx context.Context) {
	t := time.NewTicker(outboxInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		if err := c.flushOutbox(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("outbox flush", "err", err)
		}
	}
}

// maxBatch bounds the deliveries processed (and committed) together.
const maxBatch = 64

// runStream runs one connection of the delivery stream. A reader goroutine
// receives frames; deliveries that have already arrived are processed as
// one batch in one transaction and acknowledged together.
func (c *Client) runStream(ctx context.Context) (connected bool, err error) {
	st, err := c.conn.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer st.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan *wardv1.StreamFrame, 2*maxBatch)
	errc := make(chan error, 1)
	go func() {
		for {
			f, err := st.Read(rctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- f:
			case <-rctx.Done():
				return
			}
		}
	}()
	c.kickOutbox()
	var next *wardv1.StreamFrame
	for {
		f := next
		next = nil
		if f == nil {
			select {
			case f = <-frames:
			case err := <-errc:
				return true, err
			case <-ctx.Done():
				return true, ctx.Err()
			}
		}
		switch fr := f.Frame.(type) {
		case *wardv1.StreamFrame_Delivery:
			batch := []*wardv1.Delivery{fr.Delivery}
		drain:
			for len(batch) < maxBatch {
				select {
				case g := <-frames:
					if d, ok := g.Frame.(*wardv1.StreamFrame_Delivery); ok {
						batch = append(batch, d.Delivery)
					} else {
						next = g // handled after this batch, in order
						break drain
					}
				default:
					break drain
				}
			}
			if err := c.handleDeliveries(ctx, batch); err != nil {
				// A local failure (database, or the server unreachable
				// while verifying a sender): do not acknowledge; the
				// entries come again on the next connection.
				return true, err
			}
			if err := st.Ack(ctx, batch[len(batch)-1].GetSeq()); err != nil {
				return true, err
			}
		case *wardv1.StreamFrame_PrekeysLow:
			c.mu.Lock()
			err := c.refillPrekeys(ctx, false)
			c.mu.Unlock()
			if err != nil {
				c.log.Warn("prekey refill", "err", err)
			}
		case *wardv1.StreamFrame_Error:
			if fr.Error.GetCode() == "device_removed" {
				return true, ErrDeviceRemoved
			}
			return true, fmt.Errorf("client: stream closed by the server: %s: %s", fr.Error.GetCode(), fr.Error.GetMessage())
		}
	}
}

// inbound is one delivery with its sender resolved against a verified
// device list (phase 1 of handleDeliveries).
type inbound struct {
	d      *wardv1.Delivery
	mid    [16]byte
	from   identity.AccountID
	dev    identity.DeviceID
	ct     *contact
	entry  identity.DeviceEntry
	skip   bool   // malformed metadata: acknowledge and forget
	refuse string // refused before decryption
}

// handleDelivery processes one delivery (handleDeliveries with a batch of
// one).
func (c *Client) handleDelivery(ctx context.Context, d *wardv1.Delivery) error {
	return c.handleDeliveries(ctx, []*wardv1.Delivery{d})
}

// handleDeliveries processes deliveries in order. It returns an error only
// when they must not be acknowledged (a local or temporary failure); a
// delivery that is a duplicate, blocked or refused is recorded as seen and
// acknowledged.
//
// Phase 1 resolves each sender device against the sender's verified device
// list, refreshing it from the server if the device is unknown. Phase 2
// decrypts and stores every delivery — sessions, consumed prekeys,
// messages with their franking openings, chain state, owed receipts — in
// one transaction; events are emitted after it commits.
func (c *Client) handleDeliveries(ctx context.Context, ds []*wardv1.Delivery) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.self
	items := make([]*inbound, len(ds))
	for i, d := range ds {
		it, err := c.resolveSender(ctx, s, d)
		if err != nil {
			return err
		}
		items[i] = it
	}
	var evs []Event
	kick := false
	err := c.db.Update(ctx, func(tx *db.Tx) error {
		evs, kick = evs[:0], false
		for _, it := range items {
			ev, err := c.receiveOne(tx, s, it)
			if err != nil {
				return err
			}
			if ev != nil {
				evs = append(evs, ev)
				if _, ok := ev.(*MessageEvent); ok {
					kick = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.ev.push(evs...)
	if kick {
		c.kickOutbox()
	}
	return nil
}

// resolveSender checks a delivery's metadata and finds the sending device
// in the sender's verified device list (DESIGN.md section 2: clients
// "accept only devices in a list signed by the AIK they have verified").
func (c *Client) resolveSender(ctx context.Context, s *self, d *wardv1.Delivery) (*inbound, error) {
	it := &inbound{d: d, dev: identity.DeviceID(d.GetSenderDeviceId())}
	if len(d.GetMessageId()) != len(it.mid) || len(d.GetSenderAccountId()) != len(it.from) {
		c.log.Warn("malformed delivery dropped", "seq", d.GetSeq())
		it.skip = true
		return it, nil
	}
	copy(it.mid[:], d.GetMessageId())
	copy(it.from[:], d.GetSenderAccountId())
	if it.from == s.aid && it.dev == s.device {
		it.refuse = "a delivery claims to come from this device"
		return it, nil
	}
	ct, err := c.storedContact(ctx, it.from)
	if err != nil {
		return nil, err
	}
	ok := false
	if ct != nil {
		it.entry, ok = ct.list.Device(it.dev)
	}
	if !ok {
		var seen bool
		if err := c.db.View(ctx, func(tx *db.Tx) error {
			seen, err = tx.Seen(it.mid[:])
			return err
		}); err != nil {
			return nil, err
		}
		if seen {
			it.skip = true
			return it, nil
		}
		ct2, err := c.refreshContact(ctx, "", &it.from)
		switch {
		case err == nil:
			ct = ct2
			it.entry, ok = ct.list.Device(it.dev)
		case transport.Temporary(err):
			return nil, err
		default:
			it.refuse = err.Error()
			return it, nil
		}
		if !ok {
			it.refuse = fmt.Sprintf("device %d is not in the sender's signed device list", it.dev)
			return it, nil
		}
	}
	it.ct = ct
	return it, nil
}

// receiveOne decrypts and stores one resolved delivery inside the batch's
// transaction and returns the event to emit, if any. Its error is a local
// failure that aborts the batch; refusals return a MessageRefusedEvent and
// leave the sessions untouched.
func (c *Client) receiveOne(tx *db.Tx, s *self, it *inbound) (Event, error) {
	if it.skip {
		return nil, nil
	}
	from, dev, mid, d := it.from, it.dev, it.mid, it.d
	if seen, err := tx.Seen(mid[:]); err != nil || seen {
		return nil, err
	}
	refuse := func(reason string) (Event, error) {
		c.log.Warn("delivery refused", "reason", reason, "from", from.String(), "device", dev)
		return &MessageRefusedEvent{From: from, FromDevice: dev, MessageID: mid, Reason: reason}, tx.MarkSeen(mid[:])
	}
	if it.refuse != "" {
		return refuse(it.refuse)
	}
	ct := it.ct
	if ct.rec.Blocked {
		return nil, tx.MarkSeen(mid[:])
	}
	p, err := loadPeer(tx, target{from, it.entry})
	if err != nil {
		return nil, err
	}
	pt, consumed, err := p.Decrypt(s.pair(), prekeyStore{tx}, d.GetEnvelope())
	if errors.Is(err, session.ErrDuplicate) {
		return nil, tx.MarkSeen(mid[:])
	}
	if err != nil {
		return refuse("does not decrypt")
	}
	// DESIGN.md section 2: "The receiver rejects any message whose
	// commitment does not open." The commitment is the one the sender gave
	// the server and the server's tag binds (Delivery.commitment): the
	// proto says the receiver MUST check that the plaintext opens exactly
	// it, or a report of the message could not be verified.
	if len(d.GetCommitment()) != franking.CommitmentSize {
		return refuse("no franking commitment")
	}
	var cm franking.Commitment
	copy(cm[:], d.GetCommitment())
	fp, err := franking.Open(pt, cm)
	if err != nil {
		return refuse("franking commitment does not open")
	}
	content, err := ParseContent(fp.Content)
	if err != nil {
		return refuse("malformed content")
	}
	conv := d.GetConversation()
	if string(conv) != string(content.To[:]) || from != s.aid && content.To != s.aid {
		return refuse("content addressed to another conversation")
	}
	st, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := tx.PutPeer(from[:], uint32(dev), st); err != nil {
		return nil, err
	}
	// PQXDH section 3.4: one-time prekeys are deleted once the session
	// that used them is stored (this same transaction).
	if consumed.OneTimePrekey {
		if err := tx.DeletePrekey(db.OneTimePrekey, consumed.OneTimePrekeyID); err != nil {
			return nil, err
		}
	}
	if consumed.OneTimeKEMPrekey {
		if err := tx.DeletePrekey(db.KEMPrekey, consumed.KEMPrekeyID); err != nil {
			return nil, err
		}
	}
	if err := tx.PutMessage(&db.Message{ID: mid[:], Outgoing: from == s.aid, SenderAccount: from[:], SenderDevice: uint32(dev),
		Conversation: conv, TimestampMs: d.GetTimestampMs(), Plaintext: pt, Commitment: cm[:], Tag: d.GetFrankingTag()}); err != nil {
		return nil, err
	}
	ts := time.UnixMilli(d.GetTimestampMs())
	if from == s.aid {
		// Sent from another device of this account.
		if content.Kind == KindReceipt {
			return nil, nil
		}
		to := ct
		if content.To != s.aid {
			if to, err = c.storedContactTx(tx, content.To); err != nil {
				return nil, err
			}
		}
		h := ""
		if to != nil {
			h = to.rec.Handle
		}
		return &SentSyncEvent{ToHandle: h, To: content.To, FromDevice: dev, MessageID: mid, Timestamp: ts, Text: content.Text, Attachments: content.Attachments}, nil
	}
	// The transcript chain: this message is now the last one seen.
	prev, _, err := tx.Chain(from[:])
	if err != nil {
		return nil, err
	}
	if err := tx.PutChain(from[:], prev, cm[:]); err != nil {
		return nil, err
	}
	if content.Kind == KindReceipt {
		return &DeliveryReceiptEvent{FromHandle: ct.rec.Handle, From: from, FromDevice: dev, MessageIDs: content.Receipts, Timestamp: ts}, nil
	}
	// A delivery receipt is owed, recorded in this same transaction so it
	// is sent even after a crash; the outbox flusher sends the receipts owed
	// to one account together.
	if err := tx.AddReceipt(from[:], mid[:]); err != nil {
		return nil, err
	}
	return &MessageEvent{FromHandle: ct.rec.Handle, From: from, FromDevice: dev, MessageID: mid, Timestamp: ts,
		Text: content.Text, Attachments: content.Attachments, FrankingVerified: true}, nil
}

func (c *Client) storedContactTx(tx *db.Tx, aid identity.AccountID) (*contact, error) {
	rec, err := tx.Contact(aid[:])
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseContact(rec)
}
