package client

import (
	"context"
	"errors"

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
