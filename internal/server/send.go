package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// Send accepts one message: one encrypted copy per destination device,
// enqueued all or none, and wakes the destination devices' streams.
//
// The copies MUST be addressed to exactly the current devices of the
// recipient account (the conversation) and every other current device of
// the sender's account (DESIGN.md section 2: "A message to an account is
// encrypted once per device of the recipient and of the sender's other
// devices"). A send that omits a device, names an unknown one, or names
// one twice is refused with CodeFailedPrecondition and a message giving
// both device list versions so the client can refresh and re-encrypt.
//
// Each copy gets the franking tag t = Tag(K_epoch, c, sender,
// conversation, timestamp, message id) (package franking); the context does
// not name the recipient device, so the copies of one send carry the same
// tag. A retry with the same client_message_id returns the original
// message id and timestamp and enqueues nothing.
//
// Only direct (1:1) conversations exist so far: conversation is the
// recipient account id. Group conversations arrive with MLS.
func (s *Server) Send(ctx context.Context, who store.Address, req *wardv1.SendRequest) (*wardv1.SendResponse, error) {
	start := time.Now()
	resp, err := s.send(ctx, who, req)
	result := "ok"
	switch {
	case err != nil:
		result = asError(err).Code.wireName()
	case resp.dup:
		result = "duplicate"
	}
	s.metrics.sends.WithLabelValues(result).Inc()
	if err != nil {
		return nil, err
	}
	s.metrics.sendLatency.Observe(time.Since(start).Seconds())
	return resp.SendResponse, nil
}

type sendResult struct {
	*wardv1.SendResponse
	dup bool
}

func (s *Server) send(ctx context.Context, who store.Address, req *wardv1.SendRequest) (sendResult, error) {
	if !s.sendLimit.allow(acctKey(who.Account)) {
		s.metrics.rateLimited.WithLabelValues("account").Inc()
		return sendResult{}, s.rateErr("account", s.cfg.SendRate, s.cfg.SendBurst)
	}
	if len(req.GetClientMessageId()) != store.ClientMessageIDSize {
		return sendResult{}, errorf(CodeInvalid, "client_message_id must be %d bytes", store.ClientMessageIDSize)
	}
	conv, err := accountID(req.GetConversation(), "conversation (the recipient account id)")
	if err != nil {
		return sendResult{}, err
	}
	if len(req.GetCommitment()) != franking.CommitmentSize {
		return sendResult{}, errorf(CodeInvalid, "commitment must be %d bytes", franking.CommitmentSize)
	}
	copies := req.GetCopies()
	if len(copies) == 0 {
		return sendResult{}, errorf(CodeInvalid, "a send needs at least one copy")
	}
	if len(copies) > s.cfg.MaxRecipientsPerSend {
		return sendResult{}, errorf(CodeExhausted, "%d copies exceed the limit of %d device copies per send", len(copies), s.cfg.MaxRecipientsPerSend)
	}
	for i, c := range copies {
		switch n := len(c.GetEnvelope()); {
		case n == 0:
			return sendResult{}, errorf(CodeInvalid, "copies[%d].envelope is empty", i)
		case n > s.cfg.MaxEnvelopeBytes:
			return sendResult{}, errorf(CodeExhausted, "copies[%d].envelope is %d bytes; the limit is %d", i, n, s.cfg.MaxEnvelopeBytes)
		}
	}

	// The devices the send must cover.
	recipient, rdevs, err := s.accounts.get(ctx, s.st, conv)
	if err != nil {
		return sendResult{}, storeErr(err, "recipient account")
	}
	if recipient.Status == store.StatusBanned || recipient.Status == store.StatusSuspended {
		return sendResult{}, errorf(CodePermission, "recipient account is not accepting messages")
	}
	if len(rdevs) == 0 {
		return sendResult{}, errorf(CodeNotFound, "recipient account has no devices")
	}
	sdevs, senderVersion := rdevs, recipient.DeviceListVersion
	if conv != who.Account {
		sender, devs, err := s.accounts.get(ctx, s.st, who.Account)
		if err != nil {
			return sendResult{}, storeErr(err, "sender account")
		}
		if sender.Status == store.StatusBanned || sender.Status == store.StatusSuspended {
			return sendResult{}, errorf(CodePermission, "account is %s", sender.Status)
		}
		sdevs, senderVersion = devs, sender.DeviceListVersion
	}
	want := make([]store.Address, 0, len(rdevs)+len(sdevs))
	senderListed := false
	for _, d := range rdevs {
		want = append(want, store.Address{Account: conv, Device: d.ID})
	}
	if conv != who.Account {
		for _, d := range sdevs {
			want = append(want, store.Address{Account: who.Account, Device: d.ID})
		}
	}
	want = slices.DeleteFunc(want, func(a store.Address) bool {
		if a == who {
			senderListed = true
			return true
		}
		return false
	})
	if !senderListed {
		return sendResult{}, errorf(CodePermission, "device is no longer in its account's device list")
	}
	got := make([]store.Address, len(copies))
	for i, c := range copies {
		a, err := accountID(c.GetAccountId(), fmt.Sprintf("copies[%d].account_id", i))
		if err != nil {
			return sendResult{}, err
		}
		got[i] = store.Address{Account: a, Device: store.DeviceID(c.GetDeviceId())}
	}
	if msg := coverage(want, got, conv, who.Account, recipient.DeviceListVersion, senderVersion); msg != "" {
		return sendResult{}, errorf(CodeFailedPrecondition, "%s", msg)
	}
	if len(want) == 0 {
		return sendResult{}, errorf(CodeInvalid, "there is no other device to send to")
	}

	now := s.now()
	var mid store.MessageID
	if _, err := io.ReadFull(s.rand, mid[:]); err != nil {
		return sendResult{}, storeErr(err, "message id")
	}
	fctx := franking.Context{
		Kind:          franking.Direct,
		SenderAccount: who.Account,
		SenderDevice:  uint32(who.Device),
		Conversation:  conv[:],
		Timestamp:     uint64(now.UnixMilli()),
		MessageID:     mid,
	}
	copy(fctx.Commitment[:], req.GetCommitment())
	tag, err := s.keyring.Load().kr.Tag(fctx)
	if err != nil {
		return sendResult{}, &Error{Code: CodeInvalid, Msg: "cannot tag this message", Err: err}
	}
	send := store.Send{
		Sender:    who,
		MessageID: mid,
		Timestamp: now,
		ExpiresAt: now.Add(s.cfg.QueueTTL),
		Copies:    make([]store.Copy, len(copies)),
	}
	copy(send.ClientMessageID[:], req.GetClientMessageId())
	for i, c := range copies {
		env, err := (&queued{kind: franking.Direct, conversation: conv[:], commitment: req.GetCommitment(), envelope: c.GetEnvelope()}).marshal()
		if err != nil {
			return sendResult{}, errorf(CodeInvalid, "copies[%d].envelope cannot be queued", i)
		}
		send.Copies[i] = store.Copy{To: got[i], Envelope: env, FrankingTag: tag[:]}
	}
	res, err := s.batch.Enqueue(ctx, send)
	if err != nil {
		return sendResult{}, storeErr(err, "recipient")
	}
	if !res.Duplicate {
		s.metrics.copies.Add(float64(len(copies)))
		// Devices with a stream on this node get their entries handed
		// over directly (no store read); the others are woken through the
		// bus. Best effort (package bus): a lost wake-up is repaired when
		// the device reconnects or by its stream's periodic re-check.
		var evs []bus.Event
		for i, a := range got {
			if st := s.localStream(a); st != nil && len(res.Seqs) == len(got) && st.offer(store.Entry{
				Seq: res.Seqs[i], MessageID: mid, Sender: who, Timestamp: res.Timestamp,
				Envelope: send.Copies[i].Envelope, FrankingTag: send.Copies[i].FrankingTag, ExpiresAt: send.ExpiresAt,
			}, prevSeq(res, i)) {
				continue
			}
			evs = append(evs, bus.Event{To: a, Kind: bus.Messages})
		}
		if len(evs) > 0 {
			if err := s.bus.Publish(context.WithoutCancel(ctx), evs...); err != nil {
				s.log.Warn("bus publish", "err", err)
			}
		}
	}
	return sendResult{SendResponse: &wardv1.SendResponse{MessageId: res.MessageID[:], TimestampMs: res.Timestamp.UnixMilli()}, dup: res.Duplicate}, nil
}

// coverage compares the addressed devices with the required ones and
// returns "" when they match exactly, else a message for the client.
func coverage(want, got []store.Address, recipient, sender store.AccountID, rver, sver uint64) string {
	slices.SortFunc(want, store.Address.Compare)
	sorted := slices.Clone(got)
	slices.SortFunc(sorted, store.Address.Compare)
	var problems []string
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			problems = append(problems, fmt.Sprintf("device %d of account %s is addressed twice", sorted[i].Device, sorted[i].Account))
		}
	}
	sorted = slices.Compact(sorted)
	i, j := 0, 0
	for i < len(want) || j < len(sorted) {
		switch {
		case j == len(sorted) || i < len(want) && want[i].Compare(sorted[j]) < 0:
			problems = append(problems, fmt.Sprintf("missing device %d of account %s", want[i].Device, want[i].Account))
			i++
		case i == len(want) || want[i].Compare(sorted[j]) > 0:
			problems = append(problems, fmt.Sprintf("device %d of account %s is not a current device of the conversation", sorted[j].Device, sorted[j].Account))
			j++
		default:
			i++
			j++
		}
	}
	if len(problems) == 0 {
		return ""
	}
	if len(problems) > 8 {
		problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
	}
	ver := fmt.Sprintf("recipient device list version %d", rver)
	if !bytes.Equal(recipient[:], sender[:]) {
		ver += fmt.Sprintf(", sender device list version %d", sver)
	}
	return fmt.Sprintf("copies do not match the current devices (%s): %s; fetch the device lists and resend; nothing was enqueued", ver, strings.Join(problems, "; "))
}

// prevSeq is the store's PrevSeqs value for copy i, or Seqs[i]-1 (the
// entry continues the queue only if it is the next seq) when the store
// gives none.
func prevSeq(res store.Result, i int) uint64 {
	if len(res.PrevSeqs) == len(res.Seqs) {
		return res.PrevSeqs[i]
	}
	return res.Seqs[i] - 1
}
