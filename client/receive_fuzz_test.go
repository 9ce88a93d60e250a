package client

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/wardchat/ward/client/internal/db"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// pair is two registered clients, alice and bob, where bob has verified
// alice and alice holds ready-made envelopes for bob.
type pair struct {
	alice, bob  *device
	envelopes   [][]byte          // for bob's device 1, in order
	commitments map[string][]byte // by envelope
}

// newPair registers alice and bob and encrypts n messages from alice to
// bob without sending them.
func newPair(tb testing.TB, n int) *pair {
	tb.Helper()
	ts := startServer(tb, nil)
	ctx := context.Background()
	p := &pair{alice: register(tb, ts.URL, "alice"), bob: register(tb, ts.URL, "bob"), commitments: map[string][]byte{}}
	a := p.alice.Client
	if _, err := p.bob.refreshContact(ctx, "alice", nil); err != nil {
		tb.Fatal(err)
	}
	ct, err := a.refreshContact(ctx, "bob", nil)
	if err != nil {
		tb.Fatal(err)
	}
	own, err := a.ownContact(ctx, a.self, false)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		var og *db.Outgoing
		req, err := a.encryptCopies(ctx, a.self, &og, &Content{To: ct.aid, Kind: KindText, Text: "fuzz seed " + string(rune('a'+i%26))}, ct, own)
		if err != nil {
			tb.Fatal(err)
		}
		p.envelopes = append(p.envelopes, req.Copies[0].Envelope)
		p.commitments[string(req.Copies[0].Envelope)] = req.Commitment
	}
	return p
}

func (p *pair) delivery(envelope []byte) *wardv1.Delivery {
	mid := make([]byte, 16)
	rand.Read(mid)
	aid, bid := p.alice.AccountID(), p.bob.AccountID()
	return &wardv1.Delivery{Seq: 1, MessageId: mid, SenderAccountId: aid[:], SenderDeviceId: 1,
		TimestampMs: 1700000000000, Conversation: bid[:], Envelope: envelope, FrankingTag: make([]byte, 36),
		Commitment: p.commitments[string(envelope)]}
}

// FuzzHandleDelivery feeds attacker-controlled envelopes (as a hostile
// server or sender would) to the receive path. Whatever the bytes, it
// must not fail with a local error (which would stall the stream) or
// panic, and bytes that are not a valid message must produce no message.
func FuzzHandleDelivery(f *testing.F) {
	p := newPair(f, 2)
	for _, e := range p.envelopes {
		f.Add(e)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, env []byte) {
		if err := p.bob.handleDelivery(context.Background(), p.delivery(env)); err != nil {
			t.Fatalf("handleDelivery: %v", err)
		}
	})
}

func TestHandleDeliveryRefusesTampering(t *testing.T) {
	p := newPair(t, 1)
	env := p.envelopes[0]
	for i := 0; i < len(env); i += 7 {
		bad := append([]byte(nil), env...)
		bad[i] ^= 0x01
		if err := p.bob.handleDelivery(context.Background(), p.delivery(bad)); err != nil {
			t.Fatal(err)
		}
	}
	// The untouched envelope still decrypts afterwards: failures left the
	// session state unchanged.
	if err := p.bob.handleDelivery(context.Background(), p.delivery(env)); err != nil {
		t.Fatal(err)
	}
	evs := p.bob.waitFor("the message", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
	refused := 0
	for _, ev := range evs {
		if _, ok := ev.(*MessageRefusedEvent); ok {
			refused++
		}
	}
	if want := (len(env) + 6) / 7; refused != want {
		t.Fatalf("%d refusals for %d tampered envelopes", refused, want)
	}
	// The same envelope again (a replay under a new message id) is dropped
	// as a duplicate, without an event.
	if err := p.bob.handleDelivery(context.Background(), p.delivery(env)); err != nil {
		t.Fatal(err)
	}
	if n := len(msgTexts(p.bob.snapshot())); n != 1 {
		t.Fatalf("replayed envelope shown: %d messages", n)
	}
}

func BenchmarkHandleDelivery(b *testing.B) {
	p := newPair(b, b.N+1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.bob.handleDelivery(ctx, p.delivery(p.envelopes[i])); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHandleDeliveryRefusals: a delivery attributed to a device that is not
// in the sender's signed list (a ghost sender), or redirected to another
// conversation, is refused; the session is unchanged, so the genuine
// delivery still decrypts afterwards.
func TestHandleDeliveryRefusals(t *testing.T) {
	p := newPair(t, 1)
	ctx := context.Background()
	env := p.envelopes[0]

	ghost := p.delivery(env)
	ghost.SenderDeviceId = 5
	if err := p.bob.handleDelivery(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	misdirected := p.delivery(env)
	aid := p.alice.AccountID()
	misdirected.Conversation = aid[:]
	if err := p.bob.handleDelivery(ctx, misdirected); err != nil {
		t.Fatal(err)
	}
	evs := p.bob.waitFor("two refusals", waitLong, func(evs []Event) bool {
		n := 0
		for _, ev := range evs {
			if _, ok := ev.(*MessageRefusedEvent); ok {
				n++
			}
		}
		return n == 2
	})
	if len(msgTexts(evs)) != 0 {
		t.Fatalf("refused deliveries shown: %s", describe(evs))
	}
	if r := evs[0].(*MessageRefusedEvent); r.FromDevice != 5 {
		t.Fatalf("first refusal %+v", r)
	}
	if err := p.bob.handleDelivery(ctx, p.delivery(env)); err != nil {
		t.Fatal(err)
	}
	p.bob.waitFor("the genuine message", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 1 })
}

// TestHandleDeliveriesBatch: one batch mixing good, tampered and duplicated
// deliveries stores the good ones once, refuses the tampered one and keeps
// the order.
func TestHandleDeliveriesBatch(t *testing.T) {
	p := newPair(t, 3)
	bad := append([]byte(nil), p.envelopes[1]...)
	bad[len(bad)-1] ^= 1
	first := p.delivery(p.envelopes[0])
	batch := []*wardv1.Delivery{first, p.delivery(bad), first, p.delivery(p.envelopes[1]), p.delivery(p.envelopes[2])}
	if err := p.bob.handleDeliveries(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	evs := p.bob.waitFor("three messages and a refusal", waitLong, func(evs []Event) bool { return len(evs) == 4 })
	if _, ok := evs[1].(*MessageRefusedEvent); !ok {
		t.Fatalf("events: %s", describe(evs))
	}
	if got := msgTexts(evs); len(got) != 3 || got[0] != "fuzz seed a" || got[1] != "fuzz seed b" || got[2] != "fuzz seed c" {
		t.Fatalf("messages %q", got)
	}
}

// BenchmarkHandleDeliveriesBatch is the receive path for a backlog: 64
// deliveries per transaction. Time is per delivery.
func BenchmarkHandleDeliveriesBatch(b *testing.B) {
	p := newPair(b, b.N+1)
	ctx := context.Background()
	ds := make([]*wardv1.Delivery, b.N)
	for i := range ds {
		ds[i] = p.delivery(p.envelopes[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += maxBatch {
		if err := p.bob.handleDeliveries(ctx, ds[i:min(i+maxBatch, b.N)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHandleDeliveryReorderAndDrop: a server that reorders deliveries or
// drops one does not stop the others from decrypting.
func TestHandleDeliveryReorderAndDrop(t *testing.T) {
	p := newPair(t, 5)
	ctx := context.Background()
	for _, i := range []int{3, 0, 4, 1} { // 2 is dropped
		if err := p.bob.handleDelivery(ctx, p.delivery(p.envelopes[i])); err != nil {
			t.Fatal(err)
		}
	}
	evs := p.bob.waitFor("four messages", waitLong, func(evs []Event) bool { return len(msgTexts(evs)) == 4 })
	want := []string{"fuzz seed d", "fuzz seed a", "fuzz seed e", "fuzz seed b"}
	if got := msgTexts(evs); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The dropped one still decrypts when it finally comes.
	if err := p.bob.handleDelivery(ctx, p.delivery(p.envelopes[2])); err != nil {
		t.Fatal(err)
	}
	p.bob.waitFor("the late one", waitLong, func(evs []Event) bool { return count(msgTexts(evs), "fuzz seed c") == 1 })
}

// TestCommitmentMismatch: a delivery whose plaintext does not open the
// commitment the server tagged (a sender that lied to the server, or a
// server that swapped commitments) is refused, as is one without a
// commitment; the genuine delivery is then accepted.
func TestCommitmentMismatch(t *testing.T) {
	p := newPair(t, 1)
	ctx := context.Background()
	env := p.envelopes[0]
	wrong := p.delivery(env)
	wrong.Commitment = append([]byte(nil), wrong.Commitment...)
	wrong.Commitment[0] ^= 1
	missing := p.delivery(env)
	missing.Commitment = nil
	for _, d := range []*wardv1.Delivery{wrong, missing} {
		if err := p.bob.handleDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.bob.handleDelivery(ctx, p.delivery(env)); err != nil {
		t.Fatal(err)
	}
	evs := p.bob.waitFor("two refusals and the message", waitLong, func(evs []Event) bool { return len(evs) == 3 })
	for i, reason := range []string{"franking commitment does not open", "no franking commitment"} {
		if r, ok := evs[i].(*MessageRefusedEvent); !ok || r.Reason != reason {
			t.Fatalf("event %d: %s", i, describe(evs[i:i+1]))
		}
	}
	if len(msgTexts(evs)) != 1 {
		t.Fatalf("events: %s", describe(evs))
	}
}
