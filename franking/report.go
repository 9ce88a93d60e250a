package franking

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// MaxReportItems bounds the number of messages in one report.
const MaxReportItems = 1000

// ReportedMessage is one message as a reporter reveals it: the franked
// plaintext bytes (including fk), the commitment, the server's tag and the
// delivery context the tag was made for.
type ReportedMessage struct {
	Plaintext  []byte
	Commitment Commitment
	Tag        []byte
	Context    Context
}

// Errors wrapped by the *ItemError that VerifyReport returns. Callers branch
// on them (errors.Is) to count rejected reports by cause; a forged item
// fails with ErrCommitmentMismatch, ErrTagMismatch, ErrUnknownKey or
// ErrMalformed.
var (
	// ErrNotParty means the reporter neither sent nor received the message.
	ErrNotParty = errors.New("franking: reporter is not a party to the conversation")
	// ErrDuplicate means the same message appears twice in the report.
	ErrDuplicate = errors.New("franking: duplicate message in report")
	// ErrConversationMismatch means the report mixes conversations.
	ErrConversationMismatch = errors.New("franking: report mixes conversations")
)

// ItemError rejects a whole report because of one item. Index is the item's
// position in the submitted report.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string {
	return fmt.Sprintf("franking: report item %d: %v", e.Index, strings.TrimPrefix(e.Err.Error(), "franking: "))
}

func (e *ItemError) Unwrap() error { return e.Err }

// Membership reports whether account was a member of group at time at (unix
// ms). The server answers it from its group roster.
type Membership func(group []byte, account [AccountIDSize]byte, at uint64) bool

// Severity grades a Mark.
type Severity uint8

const (
	// Info marks explain a positive or neutral finding.
	Info Severity = iota
	// Gap marks show that a message was left out of the report.
	Gap
	// Inconsistent marks show that the reported order contradicts the
	// hash chains: messages were reordered, or a chain forks.
	Inconsistent
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Gap:
		return "gap"
	case Inconsistent:
		return "inconsistent"
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// MarkCode says which transcript check produced a Mark.
type MarkCode uint8

// Mark codes. Prev* codes come from the sender's own hash chain
// (Plaintext.Prev), Seen* codes from Plaintext.LastSeen.
const (
	// PrevLinked (info): Prev is the commitment of this sender's previous
	// reported message.
	PrevLinked MarkCode = iota + 1
	// PrevChainStart (info): Prev is zero, this is the sender's first
	// message in the conversation.
	PrevChainStart
	// PrevBeforeReport (info): the sender's previous message precedes the
	// reported stretch.
	PrevBeforeReport
	// PrevMissing (gap): Prev names a message that is not in the report
	// although the sender has an earlier reported message: at least one
	// message by this sender between the two was left out.
	PrevMissing
	// PrevLater (inconsistent): Prev names a message ordered after this
	// one, so the two were reordered.
	PrevLater
	// PrevSkips (inconsistent): Prev names an earlier message of the
	// sender that is not its immediately preceding reported message.
	PrevSkips
	// PrevOtherSender (inconsistent): Prev names another sender's message.
	PrevOtherSender
	// PrevRestart (inconsistent): Prev is zero although the sender has an
	// earlier reported message.
	PrevRestart
	// SeenNothing (info): LastSeen is zero, the sender had received nothing.
	SeenNothing
	// SeenLinked (info): LastSeen names an earlier reported message.
	SeenLinked
	// SeenOutside (info): LastSeen names a message outside the report that
	// the sender received before its first reported message.
	SeenOutside
	// SeenUnchanged (info): LastSeen equals that of the sender's previous
	// reported message.
	SeenUnchanged
	// SeenMissing (gap): LastSeen names a message that is not in the report
	// but that the sender received after its previous reported message, so
	// it lies inside the reported stretch.
	SeenMissing
	// SeenLater (inconsistent): LastSeen names a message ordered after this
	// one: the sender cannot have seen it, so messages were reordered.
	SeenLater
	// SeenBackwards (inconsistent): LastSeen names a message older than one
	// the sender had already claimed to have seen.
	SeenBackwards
	// SeenOwn (inconsistent): LastSeen names the sender device's own message.
	SeenOwn
)

// Severity returns the severity of a mark with code c.
func (c MarkCode) Severity() Severity {
	switch c {
	case PrevMissing, SeenMissing:
		return Gap
	case PrevLater, PrevSkips, PrevOtherSender, PrevRestart, SeenLater, SeenBackwards, SeenOwn:
		return Inconsistent
	}
	return Info
}

// Mark is one finding about a transcript item, with its reason.
type Mark struct {
	Code MarkCode
	// Related is the position in Transcript.Items of the other message the
	// finding is about, or -1.
	Related int
	// Reason explains the finding in one sentence for a moderator.
	Reason string
}

// TranscriptItem is one verified message of a Transcript.
type TranscriptItem struct {
	// ReportIndex is the item's position in the submitted report.
	ReportIndex int
	Context     Context
	Commitment  Commitment
	Prev        Commitment
	LastSeen    Commitment
	// Content is the verified message content. It aliases the submitted
	// ReportedMessage.Plaintext.
	Content []byte
	// Verified is true when the commitment opened and the tag verified;
	// VerifyReport returns no transcript otherwise, so it is always true in
	// a returned Transcript.
	Verified bool
	// GapBefore is true when the sender's hash chain shows that at least
	// one of its messages before this one was left out of the report.
	GapBefore bool
	// Inconsistent is true when this item's links contradict the order.
	Inconsistent bool
	// Marks explain every finding, in the order they were made.
	Marks []Mark
}

// Transcript is a verified report: its messages in (timestamp, message id)
// order with the findings of the transcript checks.
type Transcript struct {
	Kind ConversationKind
	// Conversation is the group id for groups. For direct conversations it
	// is the 32-byte concatenation of the two account ids, lower first.
	Conversation []byte
	Items        []TranscriptItem
	// Complete is true when no item has a Gap or Inconsistent mark.
	Complete bool
}

// Explain renders the transcript's findings, one line per mark.
func (t *Transcript) Explain() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d messages, complete=%v\n", len(t.Items), t.Complete)
	for i, it := range t.Items {
		fmt.Fprintf(&sb, "#%d (report item %d, c=%v, sender %x/%d, t=%d):\n", i, it.ReportIndex, it.Commitment,
			it.Context.SenderAccount, it.Context.SenderDevice, it.Context.Timestamp)
		for _, m := range it.Marks {
			fmt.Fprintf(&sb, "  [%v] %s\n", m.Code.Severity(), m.Reason)
		}
	}
	return sb.String()
}

// VerifyReport verifies a report of direct (1:1) messages made by reporter
// and rebuilds its transcript. It rejects the whole report with an
// *ItemError if any item is forged (its commitment does not open, its
// context is malformed or does not carry its commitment, its tag does not
// verify for exactly its context), if the reporter neither sent nor received
// an item, if an item is a duplicate, or if items come from different
// conversations. Group items are rejected with ErrNotParty: use
// VerifyGroupReport, which can check the roster.
//
// DESIGN.md, section 2: the server verifies both the commitment and its tag
// and only then shows the content to a moderator.
func VerifyReport(kr *Keyring, reporter [AccountIDSize]byte, items []ReportedMessage) (*Transcript, error) {
	return verifyReport(kr, reporter, items, nil)
}

// VerifyGroupReport is VerifyReport for group messages: the reporter must have
// sent the message or, per member, have been in the group at its timestamp.
func VerifyGroupReport(kr *Keyring, reporter [AccountIDSize]byte, items []ReportedMessage, member Membership) (*Transcript, error) {
	if member == nil {
		return nil, errors.New("franking: VerifyGroupReport needs a membership check")
	}
	return verifyReport(kr, reporter, items, member)
}

type senderKey struct {
	account [AccountIDSize]byte
	device  uint32
}

func verifyReport(kr *Keyring, reporter [AccountIDSize]byte, items []ReportedMessage, member Membership) (*Transcript, error) {
	if len(items) == 0 {
		return nil, errors.New("franking: empty report")
	}
	if len(items) > MaxReportItems {
		return nil, fmt.Errorf("franking: report of %d messages exceeds %d", len(items), MaxReportItems)
	}
	t := &Transcript{Items: make([]TranscriptItem, len(items))}
	seenC := make(map[Commitment]int, len(items))
	seenID := make(map[[MessageIDSize]byte]int, len(items))
	for i := range items {
		it := &items[i]
		ctx := it.Context
		fail := func(err error) (*Transcript, error) { return nil, &ItemError{Index: i, Err: err} }
		if err := ctx.Valid(); err != nil {
			return fail(err)
		}
		if ctx.Commitment != it.Commitment {
			return fail(fmt.Errorf("%w: context carries another commitment", ErrCommitmentMismatch))
		}
		p, err := Open(it.Plaintext, it.Commitment)
		if err != nil {
			return fail(err)
		}
		if err := kr.Verify(it.Tag, ctx); err != nil {
			return fail(err)
		}
		// The reporter must be a party: for direct messages the
		// conversation is the reporter's account (received) or the
		// reporter is the sender.
		conv, err := conversationOf(&ctx, reporter, member)
		if err != nil {
			return fail(err)
		}
		if i == 0 {
			t.Kind, t.Conversation = ctx.Kind, conv
		} else if ctx.Kind != t.Kind || !bytes.Equal(conv, t.Conversation) {
			return fail(fmt.Errorf("%w: item 0 is in another conversation", ErrConversationMismatch))
		}
		if j, dup := seenC[it.Commitment]; dup {
			return fail(fmt.Errorf("%w: same commitment as item %d", ErrDuplicate, j))
		}
		if j, dup := seenID[ctx.MessageID]; dup {
			return fail(fmt.Errorf("%w: same message id as item %d", ErrDuplicate, j))
		}
		seenC[it.Commitment], seenID[ctx.MessageID] = i, i
		t.Items[i] = TranscriptItem{
			ReportIndex: i,
			Context:     ctx,
			Commitment:  it.Commitment,
			Prev:        p.Prev,
			LastSeen:    p.LastSeen,
			Content:     p.Content,
			Verified:    true,
		}
	}
	slices.SortFunc(t.Items, func(a, b TranscriptItem) int {
		return cmp.Or(cmp.Compare(a.Context.Timestamp, b.Context.Timestamp),
			bytes.Compare(a.Context.MessageID[:], b.Context.MessageID[:]))
	})
	checkChains(t)
	return t, nil
}

// conversationOf returns the conversation identity of ctx, checking that the
// reporter is a party to it.
func conversationOf(ctx *Context, reporter [AccountIDSize]byte, member Membership) ([]byte, error) {
	switch ctx.Kind {
	case Direct:
		recipient := [AccountIDSize]byte(ctx.Conversation)
		if reporter != ctx.SenderAccount && reporter != recipient {
			return nil, ErrNotParty
		}
		a, b := ctx.SenderAccount, recipient
		if bytes.Compare(a[:], b[:]) > 0 {
			a, b = b, a
		}
		return append(a[:], b[:]...), nil
	case Group:
		if member == nil {
			return nil, fmt.Errorf("%w: group message; verify with VerifyGroupReport", ErrNotParty)
		}
		if reporter != ctx.SenderAccount && !member(ctx.Conversation, reporter, ctx.Timestamp) {
			return nil, ErrNotParty
		}
		return slices.Clone(ctx.Conversation), nil
	}
	return nil, fmt.Errorf("%w: unknown conversation kind", ErrMalformed)
}

// checkChains runs the transcript checks on t.Items, which are sorted, and
// sets GapBefore, Inconsistent, Marks and t.Complete. Commitments are unique.
func checkChains(t *Transcript) {
	items := t.Items
	pos := make(map[Commitment]int, len(items))
	for i := range items {
		pos[items[i].Commitment] = i
	}
	sender := func(i int) senderKey {
		return senderKey{items[i].Context.SenderAccount, items[i].Context.SenderDevice}
	}
	lastOf := make(map[senderKey]int)    // the sender's latest item so far
	maxSeenOf := make(map[senderKey]int) // latest reported item the sender has claimed to see
	mark := func(i int, code MarkCode, related int, format string, args ...any) {
		it := &items[i]
		it.Marks = append(it.Marks, Mark{Code: code, Related: related, Reason: fmt.Sprintf(format, args...)})
		switch code.Severity() {
		case Gap:
			if code == PrevMissing {
				it.GapBefore = true
			}
		case Inconsistent:
			it.Inconsistent = true
		}
	}
	for i := range items {
		it := &items[i]
		s := sender(i)
		prevPos, hasPrev := lastOf[s]

		// Sender chain: Prev must name the sender's previous reported
		// message.
		if j, ok := pos[it.Prev]; ok {
			switch {
			case sender(j) != s:
				mark(i, PrevOtherSender, j, "its previous-message link names #%d, a message by another sender", j)
			case j > i:
				mark(i, PrevLater, j, "its previous-message link names #%d, which is ordered after it: the two were reordered", j)
			case hasPrev && j == prevPos:
				mark(i, PrevLinked, j, "follows #%d directly in the sender's chain", j)
			default:
				mark(i, PrevSkips, j, "its previous-message link names #%d, but the sender's preceding message in the order is #%d: the chain forks or was reordered", j, prevPos)
			}
		} else if it.Prev.IsZero() {
			if hasPrev {
				mark(i, PrevRestart, prevPos, "claims to be the sender's first message, but the sender's #%d comes before it", prevPos)
			} else {
				mark(i, PrevChainStart, -1, "is the sender's first message in the conversation")
			}
		} else if hasPrev {
			mark(i, PrevMissing, prevPos, "its previous-message link names message %v, which is not in the report: at least one message by this sender between #%d and this one was left out", it.Prev, prevPos)
		} else {
			mark(i, PrevBeforeReport, -1, "the sender's previous message (%v) was sent before the reported stretch", it.Prev)
		}

		// Causality: LastSeen names what the sender had received.
		maxSeen, hasSeen := maxSeenOf[s]
		if j, ok := pos[it.LastSeen]; ok {
			switch {
			case sender(j) == s:
				mark(i, SeenOwn, j, "claims to have received #%d, the sender device's own message", j)
			case j > i:
				mark(i, SeenLater, j, "claims to have seen #%d, which is ordered after it: messages were reordered", j)
			case hasSeen && j < maxSeen:
				mark(i, SeenBackwards, j, "claims #%d as the latest message seen, but the sender had already seen the later #%d", j, maxSeen)
			default:
				mark(i, SeenLinked, j, "the sender had seen #%d when sending it", j)
			}
			if !hasSeen || j > maxSeen {
				maxSeenOf[s] = j
			}
		} else if it.LastSeen.IsZero() {
			if hasSeen {
				mark(i, SeenBackwards, maxSeen, "claims to have received nothing, but the sender had already seen #%d", maxSeen)
			} else {
				mark(i, SeenNothing, -1, "the sender had received nothing in the conversation")
			}
		} else if hasPrev && items[prevPos].LastSeen == it.LastSeen {
			mark(i, SeenUnchanged, prevPos, "the sender had seen nothing new since #%d", prevPos)
		} else if hasPrev {
			mark(i, SeenMissing, prevPos, "the sender had seen message %v, which is not in the report and reached it after #%d: a message inside the reported stretch was left out", it.LastSeen, prevPos)
		} else {
			mark(i, SeenOutside, -1, "the sender had seen message %v, from before the reported stretch", it.LastSeen)
		}
		lastOf[s] = i
	}
	t.Complete = true
	for i := range items {
		if items[i].GapBefore || items[i].Inconsistent {
			t.Complete = false
		}
		for _, m := range items[i].Marks {
			if m.Code.Severity() != Info {
				t.Complete = false
			}
		}
	}
}

// MarshalReport encodes a report for submission to the server:
//
//	struct {
//	    opaque plaintext<0..2^32-1>;
//	    opaque commitment[32];
//	    opaque tag[36];
//	    FrankingContext context;
//	} ReportedMessage;
//
//	struct {
//	    uint8  version = 1;
//	    uint16 count;                  // 1..MaxReportItems
//	    ReportedMessage items[count];
//	} FrankingReport;
func MarshalReport(items []ReportedMessage) ([]byte, error) {
	if len(items) == 0 || len(items) > MaxReportItems {
		return nil, fmt.Errorf("franking: report of %d messages, want 1..%d", len(items), MaxReportItems)
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(Version)
	b.AddUint16(uint16(len(items)))
	for i := range items {
		it := &items[i]
		if len(it.Plaintext) > 1+3*32+4+MaxContentSize {
			return nil, fmt.Errorf("franking: report item %d: plaintext too large", i)
		}
		if len(it.Tag) != TagSize {
			return nil, fmt.Errorf("franking: report item %d: tag of %d bytes, want %d", i, len(it.Tag), TagSize)
		}
		if err := it.Context.Valid(); err != nil {
			return nil, fmt.Errorf("franking: report item %d: %w", i, err)
		}
		b.AddUint32(uint32(len(it.Plaintext)))
		b.AddBytes(it.Plaintext)
		b.AddBytes(it.Commitment[:])
		b.AddBytes(it.Tag)
		it.Context.build(b)
	}
	return b.Bytes()
}

// ParseReport decodes a report encoded by MarshalReport, rejecting trailing
// bytes, unknown versions and malformed items. The result does not alias b.
// It does not verify anything: pass the items to VerifyReport.
func ParseReport(b []byte) ([]ReportedMessage, error) {
	s := cryptobyte.String(b)
	var version uint8
	var count uint16
	if !s.ReadUint8(&version) {
		return nil, fmt.Errorf("%w: report: missing version", ErrMalformed)
	}
	if version != Version {
		return nil, fmt.Errorf("%w: report: unknown version %d", ErrMalformed, version)
	}
	if !s.ReadUint16(&count) {
		return nil, fmt.Errorf("%w: report: truncated", ErrMalformed)
	}
	if count == 0 || count > MaxReportItems {
		return nil, fmt.Errorf("%w: report: %d messages, want 1..%d", ErrMalformed, count, MaxReportItems)
	}
	items := make([]ReportedMessage, 0, min(int(count), len(s)/100+1))
	for i := 0; i < int(count); i++ {
		var it ReportedMessage
		var n uint32
		var pt []byte
		it.Tag = make([]byte, TagSize)
		if !s.ReadUint32(&n) || n > 1+3*32+4+MaxContentSize || !s.ReadBytes(&pt, int(n)) ||
			!s.CopyBytes(it.Commitment[:]) || !s.CopyBytes(it.Tag) {
			return nil, fmt.Errorf("%w: report item %d: truncated", ErrMalformed, i)
		}
		ctx, err := readContext(&s)
		if err != nil {
			return nil, fmt.Errorf("report item %d: %w", i, err)
		}
		it.Plaintext = slices.Clone(pt)
		it.Context = *ctx
		items = append(items, it)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: report: %d trailing bytes", ErrMalformed, len(s))
	}
	return items, nil
}
