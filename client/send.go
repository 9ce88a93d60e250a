package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/client/internal/transport"
	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/session"
)

// QueuedError is the error of a send that could not reach the server yet
// (errors.Is(err, ErrQueued) holds). The message waits in the outbox; Run
// delivers it later and then emits an OutboxSentEvent (or, if the server
// refuses it for good, an OutboxFailedEvent) with the same
// ClientMessageID.
type QueuedError struct {
	ClientMessageID [16]byte
	Err             error // the failure that left the message queued
}

func (e *QueuedError) Error() string {
	return fmt.Sprintf("client: message queued for retry: %v", e.Err)
}

// Unwrap returns the failure that left the message queued.
func (e *QueuedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrQueued) true.
func (e *QueuedError) Is(target error) bool { return target == ErrQueued }

// SentMessage is the server's receipt for a send.
type SentMessage struct {
	ID        [16]byte  // server-assigned message id
	Timestamp time.Time // server acceptance time
}

// sendAttempts bounds the immediate retries of a send on temporary
// failures before it is left in the outbox for Run.
const sendAttempts = 4

// Send sends a text message to the account with the given handle.
//
// On success the message is durably queued on the server for every device
// of the recipient and every other device of this account. On ErrQueued
// the message waits in the local outbox and Run retries it with the same
// client message id.
func (c *Client) Send(ctx context.Context, handle, text string) (*SentMessage, error) {
	return c.sendContent(ctx, handle, &Content{Kind: KindText, Text: text})
}

func (c *Client) sendContent(ctx context.Context, handle string, content *Content) (*SentMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	ct, err := c.contactFor(ctx, handle)
	if transport.Temporary(err) {
		// The server is unreachable: a contact verified before is good
		// enough to queue the message; the server refuses the copies if the
		// device lists moved on, and deliver then refreshes them.
		if known, kerr := c.storedContactByHandle(ctx, handle); kerr == nil && known != nil && known.rec.PendingAIK == nil {
			ct, err = known, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if ct.rec.Blocked {
		return nil, ErrBlocked
	}
	content.To = ct.aid
	res, og, err := c.deliver(ctx, s, nil, content, ct)
	if err != nil {
		if transport.Temporary(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			if og == nil {
				// Not queued yet (the failure came before encryption).
				if qerr := c.db.Update(context.WithoutCancel(ctx), func(tx *db.Tx) error {
					var err error
					og, err = c.queue(tx, content)
					return err
				}); qerr != nil {
					return nil, qerr
				}
			}
			c.kickOutbox()
			qe := &QueuedError{Err: err}
			copy(qe.ClientMessageID[:], og.ClientID)
			return nil, qe
		}
		// A permanent failure: the message cannot be delivered as is.
		if og != nil {
			c.dropOutgoing(og)
		}
		return nil, err
	}
	return res, nil
}

// queue franks content (package franking) with this device's chain state
// for the conversation and puts it in the outbox with a fresh client
// message id. The chain moves forward in the same transaction, so a retry
// of this send reuses the same franked plaintext and commitment.
func (c *Client) queue(tx *db.Tx, content *Content) (*db.Outgoing, error) {
	enc, err := content.Marshal()
	if err != nil {
		return nil, err
	}
	prevb, seenb, err := tx.Chain(content.To[:])
	if err != nil {
		return nil, err
	}
	var prev, seen franking.Commitment
	copy(prev[:], prevb)
	copy(seen[:], seenb)
	pt, cm, err := franking.Frank(c.rand, enc, prev, seen)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if err := tx.PutChain(content.To[:], cm[:], seenb); err != nil {
		return nil, err
	}
	og := &db.Outgoing{ClientID: make([]byte, 16), Peer: content.To[:], Plaintext: pt, Commitment: cm[:]}
	if _, err := io.ReadFull(c.rand, og.ClientID); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if og.Seq, err = tx.PutOutgoing(og); err != nil {
		return nil, err
	}
	return og, nil
}

// dropOutgoing removes a message that cannot be delivered from the outbox.
// If it is still the head of this device's franking chain, the chain steps
// back to its predecessor, so the next message does not point at a
// message nobody received.
func (c *Client) dropOutgoing(og *db.Outgoing) {
	err := c.db.Update(context.Background(), func(tx *db.Tx) error {
		prev, seen, err := tx.Chain(og.Peer)
		if err != nil {
			return err
		}
		if p, err := franking.ParsePlaintext(og.Plaintext); err == nil && bytes.Equal(prev, og.Commitment) {
			if err := tx.PutChain(og.Peer, p.Prev[:], seen); err != nil {
				return err
			}
		}
		return tx.DeleteOutgoing(og.Seq)
	})
	if err != nil {
		c.log.Warn("dropping an outgoing message", "err", err)
	}
}

// target is one destination device of a send.
type target struct {
	account identity.AccountID
	entry   identity.DeviceEntry
}

// deliver encrypts an outgoing message for every current device and sends
// it, retrying temporary failures a few times and refreshing the device
// lists once when the server says they are stale. ct is the recipient's
// verified contact (nil: look it up).
//
// With og nil, content is a new message: it is franked and put in the
// outbox in the same transaction that stores the sessions after the first
// encryption (one fsync fewer per send), and the queued entry is returned
// (nil if the failure came before that point).
func (c *Client) deliver(ctx context.Context, s *self, og *db.Outgoing, content *Content, ct *contact) (*SentMessage, *db.Outgoing, error) {
	var peer identity.AccountID
	if og != nil {
		copy(peer[:], og.Peer)
	} else {
		peer = content.To
	}
	var err error
	if ct == nil {
		if ct, err = c.refreshContact(ctx, "", &peer); err != nil {
			return nil, og, err
		}
	}
	own := ct
	if peer != s.aid {
		if own, err = c.ownContact(ctx, s, false); err != nil {
			return nil, og, err
		}
	}
	refreshed := false
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var res *connect.Response[wardv1.SendResponse]
		req, err := c.encryptCopies(ctx, s, &og, content, ct, own)
		if err == nil {
			res, err = c.conn.Messages.Send(ctx, connect.NewRequest(req))
		}
		if err == nil {
			sm := &SentMessage{Timestamp: time.UnixMilli(res.Msg.GetTimestampMs())}
			copy(sm.ID[:], res.Msg.GetMessageId())
			// The server has the message: record it even if ctx ends now.
			err = c.db.Update(context.WithoutCancel(ctx), func(tx *db.Tx) error {
				if err := tx.DeleteOutgoing(og.Seq); err != nil {
					return err
				}
				return tx.PutMessage(&db.Message{ID: sm.ID[:], Outgoing: true, SenderAccount: s.aid[:], SenderDevice: uint32(s.device),
					Conversation: peer[:], TimestampMs: res.Msg.GetTimestampMs(), Plaintext: og.Plaintext, Commitment: og.Commitment})
			})
			if err != nil {
				return nil, og, err
			}
			return sm, og, nil
		}
		switch {
		case connect.CodeOf(err) == connect.CodeFailedPrecondition && !refreshed:
			// "copies do not match the current devices": refresh both
			// lists (verifying them) and encrypt again, once.
			refreshed = true
			if ct, err = c.refreshContact(ctx, "", &peer); err != nil {
				return nil, og, err
			}
			own = ct
			if peer != s.aid {
				if own, err = c.ownContact(ctx, s, true); err != nil {
					return nil, og, err
				}
			}
			continue
		case transport.Temporary(err) && attempt < sendAttempts:
			select {
			case <-ctx.Done():
				return nil, og, ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
			continue
		}
		return nil, og, err
	}
}

// ownContact returns this account's own verified device list, refreshed
// from the server when refresh is set.
func (c *Client) ownContact(ctx context.Context, s *self, refresh bool) (*contact, error) {
	if refresh {
		return c.refreshContact(ctx, "", &s.aid)
	}
	ct, err := c.storedContact(ctx, s.aid)
	if err != nil {
		return nil, err
	}
	if ct == nil {
		return c.refreshContact(ctx, "", &s.aid)
	}
	return ct, nil
}

// encryptCopies encrypts *ogp (queueing content first when *ogp is nil)
// once per device of the recipient and once per
// other device of this account, every device taken from a verified list.
// New sessions start from bundles fetched only for devices without one;
// a bundle whose keys differ from the verified list is refused. Every
// session is persisted before the request is returned, so no message key
// is ever used twice even if the process dies during the send.
func (c *Client) encryptCopies(ctx context.Context, s *self, ogp **db.Outgoing, content *Content, ct, own *contact) (*wardv1.SendRequest, error) {
	var targets []target
	for _, d := range ct.list.Devices {
		if ct.aid == s.aid && d.ID == s.device {
			continue
		}
		targets = append(targets, target{ct.aid, d})
	}
	if own != ct {
		for _, d := range own.list.Devices {
			if d.ID != s.device {
				targets = append(targets, target{s.aid, d})
			}
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("client: there is no device to send to")
	}
	peers := make([]*session.Peer, len(targets))
	need := map[identity.AccountID][]int{}
	err := c.db.View(ctx, func(tx *db.Tx) error {
		for i, t := range targets {
			p, err := loadPeer(tx, t)
			if err != nil {
				return err
			}
			peers[i] = p
			if p.Active() == nil {
				need[t.account] = append(need[t.account], i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for acct, idx := range need {
		ids := make([]uint32, len(idx))
		for j, i := range idx {
			ids[j] = uint32(targets[i].entry.ID)
		}
		res, err := c.conn.Keys.FetchBundles(ctx, connect.NewRequest(&wardv1.FetchBundlesRequest{AccountId: acct[:], DeviceIds: ids}))
		if err != nil {
			return nil, fmt.Errorf("client: fetch bundles: %w", err)
		}
		got := map[uint32][]byte{}
		for _, b := range res.Msg.GetBundles() {
			got[b.GetDeviceId()] = b.GetBundle()
		}
		for _, i := range idx {
			raw, ok := got[uint32(targets[i].entry.ID)]
			if !ok {
				return nil, fmt.Errorf("client: no prekey bundle for device %d", targets[i].entry.ID)
			}
			b, err := pqxdh.ParseBundle(raw)
			if err != nil {
				return nil, fmt.Errorf("client: bundle of device %d: %w", targets[i].entry.ID, err)
			}
			// The bundle must be the listed device's: a server serving
			// other keys (a ghost or substituted device) is refused.
			if !targets[i].entry.DevicePublicKeys.Equal(identity.DevicePublicKeys{SigningKey: b.SigningKey, IdentityKey: b.IdentityKey}) {
				return nil, fmt.Errorf("%w: bundle keys of device %d differ from the signed list", ErrUntrustedDevice, targets[i].entry.ID)
			}
			if err := peers[i].Initiate(c.rand, s.pair(), b); err != nil {
				return nil, fmt.Errorf("client: session with device %d: %w", targets[i].entry.ID, err)
			}
		}
	}
	var req *wardv1.SendRequest
	err = c.db.Update(ctx, func(tx *db.Tx) error {
		og := *ogp
		if og == nil {
			var err error
			if og, err = c.queue(tx, content); err != nil {
				return err
			}
		}
		req = &wardv1.SendRequest{ClientMessageId: og.ClientID, Conversation: og.Peer, Commitment: og.Commitment}
		for i, t := range targets {
			env, err := peers[i].Encrypt(c.rand, og.Plaintext)
			if err != nil {
				return fmt.Errorf("client: encrypt: %w", err)
			}
			req.Copies = append(req.Copies, &wardv1.Copy{AccountId: t.account[:], DeviceId: uint32(t.entry.ID), Envelope: env})
			st, err := peers[i].MarshalBinary()
			if err != nil {
				return err
			}
			if err := tx.PutPeer(t.account[:], uint32(t.entry.ID), st); err != nil {
				return err
			}
		}
		*ogp = og
		return nil
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// loadPeer returns the stored sessions with a device, or a new Peer for the
// device's listed keys. A stored Peer whose keys differ from the list (the
// device id now names other keys) is replaced.
func loadPeer(tx *db.Tx, t target) (*session.Peer, error) {
	want := session.Identity{SigningKey: t.entry.SigningKey, IdentityKey: t.entry.IdentityKey}
	st, err := tx.Peer(t.account[:], uint32(t.entry.ID))
	if err == nil {
		p, err := session.UnmarshalPeer(st)
		if err != nil {
			return nil, fmt.Errorf("client: stored session: %w", err)
		}
		r := p.Remote()
		if (identity.DevicePublicKeys{SigningKey: r.SigningKey, IdentityKey: r.IdentityKey}).Equal(t.entry.DevicePublicKeys) {
			return p, nil
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	return session.NewPeer(want)
}

// Flush sends the outbox now: messages whose Send returned ErrQueued, and
// the delivery receipts owed for messages Run received. It does not need
// Run, and is the way for a short-lived process to send the receipts of
// what it received before it exits. Temporary failures are retried with
// backoff (100 ms to 5 s); a message refused for good is dropped (with
// OutboxFailedEvent), as in Run. Flush returns nil once nothing is left to
// send, and an error wrapping ctx.Err() if ctx ends first; what was not
// sent stays queued for the next Run or Flush.
func (c *Client) Flush(ctx context.Context) error {
	backoff := minBackoff
	for {
		err := c.flushOutbox(ctx)
		if err == nil {
			var n int
			if err = c.db.View(ctx, func(tx *db.Tx) error {
				var err error
				n, err = tx.Unsent()
				return err
			}); err == nil && n == 0 {
				return nil
			}
			if err == nil {
				continue // queued while this flush ran
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("client: flush: %w (last attempt: %v)", ctx.Err(), err)
		case <-c.closing:
			return errors.New("client: flush: the client is closed")
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// kickOutbox wakes Run's outbox flusher.
func (c *Client) kickOutbox() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// flushOutbox delivers every queued message (retries of failed sends and
// delivery receipts), oldest first. It stops at the first temporary
// failure; a permanent failure drops that message.
func (c *Client) flushOutbox(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil
	}
	// Owed delivery receipts become one receipt message per account.
	var queued []*db.Outgoing
	if err := c.db.Update(ctx, func(tx *db.Tx) error {
		owed, order, err := tx.TakeReceipts(MaxReceiptIDs)
		if err != nil {
			return err
		}
		for _, peer := range order {
			rc := &Content{Kind: KindReceipt}
			copy(rc.To[:], peer)
			for _, id := range owed[peer] {
				var mid [16]byte
				copy(mid[:], id)
				rc.Receipts = append(rc.Receipts, mid)
			}
			if _, err := c.queue(tx, rc); err != nil {
				return err
			}
		}
		queued, err = tx.Outbox()
		return err
	}); err != nil {
		return err
	}
	for _, og := range queued {
		sm, _, err := c.deliver(ctx, s, og, nil, nil)
		if err != nil && (transport.Temporary(err) || ctx.Err() != nil) {
			return err
		}
		if err != nil {
			c.log.Warn("dropping an undeliverable queued message", "err", err)
			c.dropOutgoing(og)
		}
		c.outboxEvent(ctx, og, sm, err)
	}
	return nil
}

// outboxEvent tells the application what became of a queued message (not
// of receipts, which are the SDK's own business).
func (c *Client) outboxEvent(ctx context.Context, og *db.Outgoing, sm *SentMessage, err error) {
	fp, perr := franking.ParsePlaintext(og.Plaintext)
	if perr != nil {
		return
	}
	content, perr := ParseContent(fp.Content)
	if perr != nil || content.Kind == KindReceipt {
		return
	}
	h := ""
	if ct, _ := c.storedContact(ctx, content.To); ct != nil {
		h = ct.rec.Handle
	}
	var id [16]byte
	copy(id[:], og.ClientID)
	if err != nil {
		c.ev.push(&OutboxFailedEvent{ToHandle: h, To: content.To, ClientMessageID: id, Text: content.Text, Attachments: content.Attachments, Reason: err.Error()})
		return
	}
	c.ev.push(&OutboxSentEvent{ToHandle: h, To: content.To, ClientMessageID: id, MessageID: sm.ID, Timestamp: sm.Timestamp, Text: content.Text, Attachments: content.Attachments})
}
