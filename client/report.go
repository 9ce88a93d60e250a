package client

import (
	"context"
	"errors"
	"time"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/identity"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/franking"
)

// ReportMessages returns the franking openings of the messages received
// from handle (oldest first) as report items: the franked plaintext with
// its franking key, the commitment, the server's tag and the delivery
// context the tag was made for. The server verifies them with
// franking.VerifyReport (DESIGN.md section 2, "Message franking"). The
// list reveals the plaintexts: submit it only when the user reports.
// Submitting reports to the server comes with the reporting API (issue 4).
func (c *Client) ReportMessages(ctx context.Context, handle string) ([]franking.ReportedMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	ct, err := c.storedContactByHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	if ct == nil {
		return nil, errors.New("client: unknown contact")
	}
	var out []franking.ReportedMessage
	err = c.db.View(ctx, func(tx *db.Tx) error {
		msgs, err := tx.Messages(s.aid[:], ct.aid[:])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Outgoing || len(m.Tag) == 0 {
				continue // the sender never sees the server's tag
			}
			rm := franking.ReportedMessage{Plaintext: m.Plaintext, Tag: m.Tag, Context: franking.Context{
				Kind:         franking.Direct,
				SenderDevice: m.SenderDevice,
				Conversation: m.Conversation,
				Timestamp:    uint64(m.TimestampMs),
			}}
			copy(rm.Commitment[:], m.Commitment)
			rm.Context.Commitment = rm.Commitment
			copy(rm.Context.SenderAccount[:], m.SenderAccount)
			copy(rm.Context.MessageID[:], m.ID)
			out = append(out, rm)
		}
		return nil
	})
	return out, err
}

// HistoryMessage is one stored message of a conversation.
type HistoryMessage struct {
	MessageID   [16]byte
	Outgoing    bool // sent by this account (from any of its devices)
	FromDevice  identity.DeviceID
	Timestamp   time.Time
	Text        string
	Attachments []*attachment.Pointer
}

// History returns the text and attachment messages exchanged with handle
// that this device stored (received, sent, and sent from this account's
// other devices while this one was linked), oldest first. Receipts are not
// included. It reads only local state.
func (c *Client) History(ctx context.Context, handle string) ([]HistoryMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.requireSelf()
	if err != nil {
		return nil, err
	}
	ct, err := c.storedContactByHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	if ct == nil {
		return nil, nil
	}
	var out []HistoryMessage
	err = c.db.View(ctx, func(tx *db.Tx) error {
		msgs, err := tx.Messages(s.aid[:], ct.aid[:])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			fp, err := franking.ParsePlaintext(m.Plaintext)
			if err != nil {
				continue
			}
			content, err := ParseContent(fp.Content)
			if err != nil || content.Kind == KindReceipt {
				continue
			}
			h := HistoryMessage{Outgoing: m.Outgoing, FromDevice: identity.DeviceID(m.SenderDevice),
				Timestamp: time.UnixMilli(m.TimestampMs), Text: content.Text, Attachments: content.Attachments}
			copy(h.MessageID[:], m.ID)
			out = append(out, h)
		}
		return nil
	})
	return out, err
}
