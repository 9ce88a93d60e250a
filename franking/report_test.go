package franking

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// world simulates a server and the franking state of the devices in one
// conversation: each device's chain head (Prev) and latest received message
// (LastSeen). Messages are delivered instantly unless sendQuiet is used.
type world struct {
	t        testing.TB
	rand     io.Reader
	kr       *Keyring
	now      uint64
	nextID   uint64
	kind     ConversationKind
	group    []byte
	head     map[senderKey]Commitment
	lastSeen map[senderKey]Commitment
	devices  []senderKey
	msgs     []ReportedMessage
}

var (
	alice   = [16]byte{0xa1}
	bob     = [16]byte{0xb0}
	mallory = [16]byte{0x3a}
)

func newWorld(t testing.TB, kind ConversationKind, devices ...senderKey) *world {
	t.Helper()
	r := detRand(100)
	kr, err := GenerateKeyring(r)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, rand: r, kr: kr, now: 1_000_000, kind: kind, group: []byte("group-1"),
		head: map[senderKey]Commitment{}, lastSeen: map[senderKey]Commitment{}, devices: devices}
}

// send franks and delivers a message from account/device to the
// conversation (for direct conversations, to the other account) and returns
// its index in w.msgs.
func (w *world) send(from senderKey, text string) int {
	i := w.sendQuiet(from, text, 1)
	w.deliver(i)
	return i
}

// sendQuiet franks a message stamped dt ms after the previous one without
// delivering it.
func (w *world) sendQuiet(from senderKey, text string, dt uint64) int {
	w.t.Helper()
	pt, c, err := Frank(w.rand, []byte(text), w.head[from], w.lastSeen[from])
	if err != nil {
		w.t.Fatal(err)
	}
	w.head[from] = c
	w.now += dt
	w.nextID++
	ctx := Context{Commitment: c, Kind: w.kind, SenderAccount: from.account, SenderDevice: from.device,
		Timestamp: w.now}
	binary.BigEndian.PutUint64(ctx.MessageID[8:], w.nextID)
	if w.kind == Group {
		ctx.Conversation = w.group
	} else {
		// The recipient is the other account.
		for _, d := range w.devices {
			if d.account != from.account {
				ctx.Conversation = bytes.Clone(d.account[:])
				break
			}
		}
	}
	tag, err := w.kr.Tag(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	w.msgs = append(w.msgs, ReportedMessage{Plaintext: pt, Commitment: c, Tag: tag[:], Context: ctx})
	return len(w.msgs) - 1
}

// deliver hands message i to every other device.
func (w *world) deliver(i int) {
	m := w.msgs[i]
	from := senderKey{m.Context.SenderAccount, m.Context.SenderDevice}
	for _, d := range w.devices {
		if d != from {
			w.lastSeen[d] = m.Commitment
		}
	}
}

func (w *world) pick(idx ...int) []ReportedMessage {
	out := make([]ReportedMessage, len(idx))
	for i, j := range idx {
		out[i] = w.msgs[j]
	}
	return out
}

func (w *world) all() []ReportedMessage { return w.pick(seq(len(w.msgs))...) }

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

var (
	a1 = senderKey{alice, 1}
	a2 = senderKey{alice, 2}
	b1 = senderKey{bob, 1}
	m1 = senderKey{mallory, 1}
)

// chat builds a direct conversation of n alternating messages.
func chat(t testing.TB, n int) *world {
	w := newWorld(t, Direct, a1, b1)
	for i := range n {
		if i%3 == 2 {
			w.send(b1, fmt.Sprintf("bob %d", i))
		} else {
			w.send(a1, fmt.Sprintf("alice %d", i))
		}
	}
	return w
}

func codes(it TranscriptItem) []MarkCode {
	var cs []MarkCode
	for _, m := range it.Marks {
		cs = append(cs, m.Code)
	}
	return cs
}

func hasCode(it TranscriptItem, c MarkCode) bool {
	for _, m := range it.Marks {
		if m.Code == c {
			return true
		}
	}
	return false
}

func TestReportComplete(t *testing.T) {
	w := chat(t, 9)
	// Submitted in reverse order: the transcript is ordered by the
	// tag-bound (timestamp, message id), not by submission order.
	items := w.all()
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	for _, reporter := range [][16]byte{alice, bob} {
		tr, err := VerifyReport(w.kr, reporter, items)
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Complete {
			t.Fatalf("complete conversation not complete:\n%s", tr.Explain())
		}
		if tr.Kind != Direct || !bytes.Equal(tr.Conversation, append(alice[:], bob[:]...)) {
			t.Errorf("conversation %x", tr.Conversation)
		}
		for i, it := range tr.Items {
			if it.ReportIndex != len(items)-1-i {
				t.Errorf("item %d from report index %d", i, it.ReportIndex)
			}
			if !it.Verified || it.GapBefore || it.Inconsistent {
				t.Errorf("item %d: verified %v gap %v inconsistent %v", i, it.Verified, it.GapBefore, it.Inconsistent)
			}
			if want := string(w.msgs[i].Plaintext[1+96+4:]); string(it.Content) != want {
				t.Errorf("item %d content %q, want %q", i, it.Content, want)
			}
			if len(it.Marks) != 2 {
				t.Errorf("item %d: marks %v, want one chain and one causality mark", i, codes(it))
			}
		}
		if !hasCode(tr.Items[0], PrevChainStart) || !hasCode(tr.Items[0], SeenNothing) {
			t.Errorf("first item marks %v", codes(tr.Items[0]))
		}
		if !hasCode(tr.Items[3], PrevLinked) || !hasCode(tr.Items[2], SeenLinked) {
			t.Errorf("marks %v %v", codes(tr.Items[3]), codes(tr.Items[2]))
		}
	}
	// A stretch from the middle: its first messages link to messages before
	// it, which is not a gap.
	tr, err := VerifyReport(w.kr, bob, w.pick(4, 5, 6, 7))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Complete || !hasCode(tr.Items[0], PrevBeforeReport) || !hasCode(tr.Items[0], SeenOutside) {
		t.Errorf("middle stretch:\n%s", tr.Explain())
	}
}

func TestReportForgeries(t *testing.T) {
	w := chat(t, 6)
	other := newWorld(t, Direct, a1, m1)
	other.send(a1, "to mallory")
	other.kr = w.kr // same server
	// Re-tag other's message with the shared server keyring.
	om := other.msgs[0]
	tag, _ := w.kr.Tag(om.Context)
	om.Tag = tag[:]

	type forgery struct {
		name  string
		index int // item that must be named
		want  error
		f     func(items []ReportedMessage)
	}
	clone := func(m *ReportedMessage) {
		m.Plaintext = bytes.Clone(m.Plaintext)
		m.Tag = bytes.Clone(m.Tag)
		m.Context.Conversation = bytes.Clone(m.Context.Conversation)
	}
	forgeries := []forgery{
		{"wrong fk", 2, ErrCommitmentMismatch, func(it []ReportedMessage) { it[2].Plaintext[5] ^= 1 }},
		{"altered content", 3, ErrCommitmentMismatch, func(it []ReportedMessage) { it[3].Plaintext[len(it[3].Plaintext)-1] ^= 1 }},
		{"altered prev", 1, ErrCommitmentMismatch, func(it []ReportedMessage) { it[1].Plaintext[40] ^= 1 }},
		{"altered last seen", 1, ErrCommitmentMismatch, func(it []ReportedMessage) { it[1].Plaintext[80] ^= 1 }},
		{"malformed plaintext", 0, ErrMalformed, func(it []ReportedMessage) { it[0].Plaintext = it[0].Plaintext[:50] }},
		{"commitment swapped", 4, ErrCommitmentMismatch, func(it []ReportedMessage) {
			it[4].Commitment = it[3].Commitment
			it[4].Context.Commitment = it[3].Commitment
		}},
		{"context commitment differs", 4, ErrCommitmentMismatch, func(it []ReportedMessage) { it[4].Context.Commitment[0] ^= 1 }},
		{"context kind", 1, ErrMalformed, func(it []ReportedMessage) { it[1].Context.Kind = 9 }},
		{"context sender account", 1, ErrTagMismatch, func(it []ReportedMessage) { it[1].Context.SenderAccount[3] ^= 1 }},
		{"context sender device", 1, ErrTagMismatch, func(it []ReportedMessage) { it[1].Context.SenderDevice = 2 }},
		{"context conversation", 1, ErrTagMismatch, func(it []ReportedMessage) { it[1].Context.Conversation[15] ^= 1 }},
		{"context timestamp", 5, ErrTagMismatch, func(it []ReportedMessage) { it[5].Context.Timestamp -= 2 }},
		{"context message id", 5, ErrTagMismatch, func(it []ReportedMessage) { it[5].Context.MessageID[15] ^= 1 }},
		{"contexts swapped", 2, ErrCommitmentMismatch, func(it []ReportedMessage) {
			it[2].Context, it[3].Context = it[3].Context, it[2].Context
		}},
		{"tags swapped", 2, ErrTagMismatch, func(it []ReportedMessage) { it[2].Tag, it[3].Tag = it[3].Tag, it[2].Tag }},
		{"tag truncated", 3, ErrMalformed, func(it []ReportedMessage) { it[3].Tag = it[3].Tag[:35] }},
		{"tag byte flipped", 3, ErrTagMismatch, func(it []ReportedMessage) { it[3].Tag[20] ^= 1 }},
		{"tag replayed into another conversation", 0, ErrTagMismatch, func(it []ReportedMessage) {
			// Alice's first message, re-addressed to Mallory's conversation.
			it[0].Context.Conversation = bytes.Clone(mallory[:])
		}},
		{"duplicate", 5, ErrDuplicate, func(it []ReportedMessage) { it[5] = it[0] }},
		{"message from a conversation the reporter is not in", 4, ErrNotParty, func(it []ReportedMessage) { it[4] = om }},
	}
	for _, tc := range forgeries {
		t.Run(tc.name, func(t *testing.T) {
			items := w.all()
			for i := range items {
				clone(&items[i])
			}
			tc.f(items)
			tr, err := VerifyReport(w.kr, bob, items)
			if tr != nil || err == nil {
				t.Fatal("forged report accepted")
			}
			var ie *ItemError
			if !errors.As(err, &ie) || ie.Index != tc.index {
				t.Fatalf("got %v, want an ItemError for item %d", err, tc.index)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("franking: report item %d: ", tc.index)) {
				t.Errorf("error text %q", err)
			}
		})
	}
	// Alice is in both conversations, but one report covers one.
	items := w.all()
	items[4] = om
	var ie *ItemError
	if _, err := VerifyReport(w.kr, alice, items); !errors.Is(err, ErrConversationMismatch) || !errors.As(err, &ie) || ie.Index != 4 {
		t.Errorf("mixed conversations: got %v", err)
	}
}

func TestReportOldKeyEpoch(t *testing.T) {
	w := chat(t, 4)
	if _, err := w.kr.Rotate(w.rand, 2_000_000); err != nil {
		t.Fatal(err)
	}
	w.send(a1, "after rotation")
	if _, err := VerifyReport(w.kr, bob, w.all()); err != nil {
		t.Fatalf("retired key should still verify: %v", err)
	}
	w.kr.Prune(2_000_001)
	_, err := VerifyReport(w.kr, bob, w.all())
	var ie *ItemError
	if !errors.Is(err, ErrUnknownKey) || !errors.As(err, &ie) || ie.Index != 0 {
		t.Errorf("dropped epoch: got %v", err)
	}
	if _, err := VerifyReport(w.kr, bob, w.pick(4)); err != nil {
		t.Errorf("message under the current key: %v", err)
	}
}

func TestReportNotParty(t *testing.T) {
	w := chat(t, 3)
	_, err := VerifyReport(w.kr, mallory, w.all())
	var ie *ItemError
	if !errors.Is(err, ErrNotParty) || !errors.As(err, &ie) || ie.Index != 0 {
		t.Errorf("outsider's report: got %v", err)
	}
	// Mallory relabelling the conversation as hers breaks the tag first.
	items := w.all()
	items[0].Context.Conversation = mallory[:]
	if _, err := VerifyReport(w.kr, mallory, items); !errors.Is(err, ErrTagMismatch) {
		t.Errorf("relabelled: got %v", err)
	}
	if _, err := VerifyReport(w.kr, alice, nil); err == nil {
		t.Error("empty report accepted")
	}
}

// TestReportGap drops one message from a reported run: the sender's chain
// shows the gap on the next message of the same sender, and the other party's
// LastSeen shows it too.
func TestReportGap(t *testing.T) {
	w := newWorld(t, Direct, a1, b1)
	w.send(a1, "a0") // 0
	w.send(b1, "b0") // 1
	w.send(a1, "a1") // 2 (dropped)
	w.send(a1, "a2") // 3
	w.send(b1, "b1") // 4
	tr, err := VerifyReport(w.kr, bob, w.pick(0, 1, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Complete {
		t.Fatalf("gap not detected:\n%s", tr.Explain())
	}
	for i, it := range tr.Items {
		if it.GapBefore != (i == 2) || it.Inconsistent {
			t.Errorf("item %d: gap %v inconsistent %v: %v", i, it.GapBefore, it.Inconsistent, codes(it))
		}
	}
	if m := tr.Items[2].Marks[0]; m.Code != PrevMissing || m.Related != 0 || !strings.Contains(m.Reason, "left out") {
		t.Errorf("gap mark %+v", m)
	}

	// Dropping the last message of a sender is caught by the other
	// party's LastSeen.
	tr, err = VerifyReport(w.kr, bob, w.pick(0, 1, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Complete || !hasCode(tr.Items[3], SeenMissing) {
		t.Errorf("trailing drop not detected:\n%s", tr.Explain())
	}
}

// TestReportReordered swaps two messages within a run: the tag-bound order
// disagrees with the chains, and the verdict says so.
func TestReportReordered(t *testing.T) {
	w := newWorld(t, Direct, a1, b1)
	w.send(a1, "a0")
	w.send(b1, "b0")
	x := w.sendQuiet(a1, "a1", 10)
	y := w.sendQuiet(a1, "a2", 10)
	w.deliver(x)
	w.deliver(y)
	w.send(b1, "b1")
	// Swap the server order of a1 and a2 (a hostile or buggy server, or a
	// sender that chained them in the other order), re-tagging both.
	w.msgs[x].Context.Timestamp, w.msgs[y].Context.Timestamp = w.msgs[y].Context.Timestamp, w.msgs[x].Context.Timestamp
	for _, i := range []int{x, y} {
		tag, _ := w.kr.Tag(w.msgs[i].Context)
		w.msgs[i].Tag = tag[:]
	}
	tr, err := VerifyReport(w.kr, bob, w.all())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Complete {
		t.Fatalf("reordering not detected:\n%s", tr.Explain())
	}
	// Order is now a0 b0 a2 a1 b1.
	if string(tr.Items[2].Content) != "a2" || !hasCode(tr.Items[2], PrevLater) || !tr.Items[2].Inconsistent {
		t.Errorf("item 2: %q %v", tr.Items[2].Content, codes(tr.Items[2]))
	}
	if !hasCode(tr.Items[3], PrevSkips) || !tr.Items[3].Inconsistent {
		t.Errorf("item 3: %v", codes(tr.Items[3]))
	}
	for _, i := range []int{0, 1, 4} {
		if tr.Items[i].Inconsistent || tr.Items[i].GapBefore {
			t.Errorf("item %d wrongly marked: %v", i, codes(tr.Items[i]))
		}
	}
}

// TestReportReorderedLastSeen: a message that claims to have seen a message
// ordered after it.
func TestReportReorderedLastSeen(t *testing.T) {
	w := newWorld(t, Direct, a1, b1)
	w.send(a1, "a0")
	w.send(b1, "b0")
	w.send(a1, "a1")
	// Move b0 after a1 in the server order.
	w.msgs[1].Context.Timestamp = w.msgs[2].Context.Timestamp + 1
	tag, _ := w.kr.Tag(w.msgs[1].Context)
	w.msgs[1].Tag = tag[:]
	tr, err := VerifyReport(w.kr, alice, w.all())
	if err != nil {
		t.Fatal(err)
	}
	// Order: a0 a1 b0. a1 claims to have seen b0, ordered after it.
	if tr.Complete || !hasCode(tr.Items[1], SeenLater) || tr.Items[1].Marks[1].Related != 2 {
		t.Errorf("not detected:\n%s", tr.Explain())
	}
}

func TestReportMarksInconsistentLinks(t *testing.T) {
	// Hand-built chains that an honest client never produces.
	w := newWorld(t, Direct, a1, b1)
	w.send(a1, "a0")
	w.send(b1, "b0")
	// a1 restarts its chain (Prev zero) and claims to have seen its own
	// message.
	w.head[a1] = Commitment{}
	w.lastSeen[a1] = w.msgs[0].Commitment
	w.send(a1, "a1")
	// b1 goes back: it claims it has seen nothing after having seen a0.
	w.lastSeen[b1] = Commitment{}
	w.send(b1, "b1")
	tr, err := VerifyReport(w.kr, alice, w.all())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]MarkCode{
		{PrevChainStart, SeenNothing},
		{PrevChainStart, SeenLinked},
		{PrevRestart, SeenOwn},
		{PrevLinked, SeenBackwards},
	}
	for i, it := range tr.Items {
		if fmt.Sprint(codes(it)) != fmt.Sprint(want[i]) {
			t.Errorf("item %d: %v, want %v", i, codes(it), want[i])
		}
	}
	if tr.Complete {
		t.Error("complete")
	}
}

func TestGroupReport(t *testing.T) {
	w := newWorld(t, Group, a1, a2, b1, m1)
	w.send(a1, "hi all")
	w.send(b1, "hi")
	w.send(a2, "from alice's second device")
	w.send(m1, "mallory")
	member := func(group []byte, acct [16]byte, at uint64) bool {
		return bytes.Equal(group, []byte("group-1")) && acct != [16]byte{0xee}
	}
	tr, err := VerifyGroupReport(w.kr, bob, w.all(), member)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Complete || tr.Kind != Group || string(tr.Conversation) != "group-1" {
		t.Errorf("group transcript:\n%s", tr.Explain())
	}
	// Each device has its own chain.
	if !hasCode(tr.Items[2], PrevChainStart) {
		t.Errorf("second device: %v", codes(tr.Items[2]))
	}
	if _, err := VerifyGroupReport(w.kr, [16]byte{0xee}, w.all(), member); !errors.Is(err, ErrNotParty) {
		t.Errorf("non-member: got %v", err)
	}
	if _, err := VerifyReport(w.kr, bob, w.all()); !errors.Is(err, ErrNotParty) {
		t.Errorf("group report through VerifyReport: got %v", err)
	}
	if _, err := VerifyGroupReport(w.kr, bob, w.all(), nil); err == nil {
		t.Error("nil membership accepted")
	}
	// Mixing in a direct message is rejected.
	d := chat(t, 1)
	items := append(w.all(), d.msgs[0])
	tag, _ := w.kr.Tag(d.msgs[0].Context)
	items[4].Tag = tag[:]
	if _, err := VerifyGroupReport(w.kr, alice, items, member); !errors.Is(err, ErrConversationMismatch) {
		t.Errorf("mixed kinds: got %v", err)
	}
}

func TestReportEncoding(t *testing.T) {
	w := newWorld(t, Group, a1, b1)
	w.send(a1, "")
	w.send(b1, strings.Repeat("x", 300))
	b, err := MarshalReport(w.all())
	if err != nil {
		t.Fatal(err)
	}
	items, err := ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := MarshalReport(items)
	if !bytes.Equal(b, b2) {
		t.Fatal("report does not round-trip")
	}
	if _, err := VerifyGroupReport(w.kr, bob, items, func([]byte, [16]byte, uint64) bool { return true }); err != nil {
		t.Errorf("parsed report: %v", err)
	}
	for n := range len(b) {
		if _, err := ParseReport(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := ParseReport(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Error("trailing byte accepted")
	}
	bad := bytes.Clone(b)
	bad[0] = 2
	if _, err := ParseReport(bad); !errors.Is(err, ErrMalformed) {
		t.Error("version 2 accepted")
	}
	if _, err := MarshalReport(nil); err == nil {
		t.Error("empty report encoded")
	}
	items[0].Tag = items[0].Tag[:5]
	if _, err := MarshalReport(items); err == nil {
		t.Error("short tag encoded")
	}
}
