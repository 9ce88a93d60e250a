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

// runStream runs one connection of the delivery stream.
func (c *Client) runStream(ctx context.Context) (connected bool, err error) {
	st, err := c.conn.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer st.Close()
	c.kickOutbox()
	for {
		f, err := st.Read(ctx)
		if err != nil {
			return true, err
		}
		switch f := f.Frame.(type) {
		case *wardv1.StreamFrame_Delivery:
			if err := c.handleDelivery(ctx, f.Delivery); err != nil {
				// A local failure (database, or the server unreachable
				// while verifying the sender): do not acknowledge; the
				// entry comes again on the next connection.
				return true, err
			}
			if err := st.Ack(ctx, f.Delivery.GetSeq()); err != nil {
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
			if f.Error.GetCode() == "device_removed" {
				return true, ErrDeviceRemoved
			}
			return true, fmt.Errorf("client: stream closed by the server: %s: %s", f.Error.GetCode(), f.Error.GetMessage())
		}
	}
}

// errRefused carries the reason a delivery is dropped.
type errRefused struct{ reason string }

func (e *errRefused) Error() string { return "client: refused: " + e.reason }

// handleDelivery processes one delivery. It returns an error only when the
// delivery must not be acknowledged (a local or temporary failure); a
// delivery that is a duplicate, blocked or refused is recorded as seen and
// acknowledged.
func (c *Client) handleDelivery(ctx context.Context, d *wardv1.Delivery) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.self
	var mid [16]byte
	var from identity.AccountID
	if len(d.GetMessageId()) != len(mid) || len(d.GetSenderAccountId()) != len(from) {
		c.log.Warn("malformed delivery dropped", "seq", d.GetSeq())
		return nil
	}
	copy(mid[:], d.GetMessageId())
	copy(from[:], d.GetSenderAccountId())
	dev := identity.DeviceID(d.GetSenderDeviceId())
	var seen bool
	if err := c.db.View(ctx, func(tx *db.Tx) error {
		var err error
		seen, err = tx.Seen(mid[:])
		return err
	}); err != nil {
		return err
	}
	if seen {
		return nil
	}
	refuse := func(reason string) error {
		c.log.Warn("delivery refused", "reason", reason, "from", from.String(), "device", dev)
		if err := c.db.Update(ctx, func(tx *db.Tx) error { return tx.MarkSeen(mid[:]) }); err != nil {
			return err
		}
		c.ev.push(&MessageRefusedEvent{From: from, FromDevice: dev, MessageID: mid, Reason: reason})
		return nil
	}
	if from == s.aid && dev == s.device {
		return refuse("a delivery claims to come from this device")
	}

	// The sending device must be in the sender's verified device list.
	ct, err := c.storedContact(ctx, from)
	if err != nil {
		return err
	}
	entry, ok := identity.DeviceEntry{}, false
	if ct != nil {
		entry, ok = ct.list.Device(dev)
	}
	if !ok {
		ct2, err := c.refreshContact(ctx, "", &from)
		switch {
		case err == nil:
			ct = ct2
			entry, ok = ct.list.Device(dev)
		case transport.Temporary(err):
			return err
		default:
			return refuse(err.Error())
		}
		if !ok {
			return refuse(fmt.Sprintf("device %d is not in the sender's signed device list", dev))
		}
	}
	if ct.rec.Blocked {
		return c.db.Update(ctx, func(tx *db.Tx) error { return tx.MarkSeen(mid[:]) })
	}
	var ev Event
	ts := time.UnixMilli(d.GetTimestampMs())
	err = c.db.Update(ctx, func(tx *db.Tx) error {
		p, err := loadPeer(tx, target{from, entry})
		if err != nil {
			return err
		}
		pt, consumed, err := p.Decrypt(s.pair(), prekeyStore{tx}, d.GetEnvelope())
		if errors.Is(err, session.ErrDuplicate) {
			return &errRefused{"duplicate"}
		}
		if err != nil {
			return &errRefused{"does not decrypt"}
		}
		// DESIGN.md section 2: "The receiver rejects any message whose
		// commitment does not open." The commitment the server tagged is
		// not part of the Delivery frame yet (see docs/SDK.md), so the
		// commitment is recomputed from the opening; Open still checks
		// the encoding and the opening.
		fp, err := franking.ParsePlaintext(pt)
		if err != nil {
			return &errRefused{"malformed franked plaintext"}
		}
		cm := fp.Commitment()
		if _, err := franking.Open(pt, cm); err != nil {
			return &errRefused{"franking commitment does not open"}
		}
		content, err := ParseContent(fp.Content)
		if err != nil {
			return &errRefused{"malformed content"}
		}
		conv := d.GetConversation()
		if string(conv) != string(content.To[:]) || from != s.aid && content.To != s.aid {
			return &errRefused{"content addressed to another conversation"}
		}
		st, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		if err := tx.PutPeer(from[:], uint32(dev), st); err != nil {
			return err
		}
		if consumed.OneTimePrekey {
			if err := tx.DeletePrekey(db.OneTimePrekey, consumed.OneTimePrekeyID); err != nil {
				return err
			}
		}
		if consumed.OneTimeKEMPrekey {
			if err := tx.DeletePrekey(db.KEMPrekey, consumed.KEMPrekeyID); err != nil {
				return err
			}
		}
		if err := tx.PutMessage(&db.Message{ID: mid[:], Outgoing: from == s.aid, SenderAccount: from[:], SenderDevice: uint32(dev),
			Conversation: conv, TimestampMs: d.GetTimestampMs(), Plaintext: pt, Commitment: cm[:], Tag: d.GetFrankingTag()}); err != nil {
			return err
		}
		if from == s.aid {
			// Sent from another device of this account.
			if content.Kind == KindReceipt {
				return nil
			}
			var to *contact
			if content.To == s.aid {
				to = ct
			} else if to, err = c.storedContactTx(tx, content.To); err != nil {
				return err
			}
			h := ""
			if to != nil {
				h = to.rec.Handle
			}
			ev = &SentSyncEvent{ToHandle: h, To: content.To, FromDevice: dev, MessageID: mid, Timestamp: ts, Text: content.Text, Attachments: content.Attachments}
			return nil
		}
		// The transcript chain: this message is now the last one seen.
		prev, _, err := tx.Chain(from[:])
		if err != nil {
			return err
		}
		if err := tx.PutChain(from[:], prev, cm[:]); err != nil {
			return err
		}
		if content.Kind == KindReceipt {
			ev = &DeliveryReceiptEvent{FromHandle: ct.rec.Handle, From: from, FromDevice: dev, MessageIDs: content.Receipts, Timestamp: ts}
			return nil
		}
		// A delivery receipt is owed, recorded in this same transaction so
		// it is sent even after a crash; the outbox flusher sends the
		// receipts owed to one account together.
		if err := tx.AddReceipt(from[:], mid[:]); err != nil {
			return err
		}
		ev = &MessageEvent{FromHandle: ct.rec.Handle, From: from, FromDevice: dev, MessageID: mid, Timestamp: ts,
			Text: content.Text, Attachments: content.Attachments, FrankingVerified: true}
		return nil
	})
	var ref *errRefused
	if errors.As(err, &ref) {
		if ref.reason == "duplicate" {
			return c.db.Update(ctx, func(tx *db.Tx) error { return tx.MarkSeen(mid[:]) })
		}
		return refuse(ref.reason)
	}
	if err != nil {
		return err
	}
	if ev != nil {
		c.ev.push(ev)
	}
	if _, ok := ev.(*MessageEvent); ok {
		c.kickOutbox()
	}
	return nil
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
