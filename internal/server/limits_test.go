package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

func TestSendLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxEnvelopeBytes = 1000
		c.MaxRecipientsPerSend = 3
		c.QueueCap = 3
	})
	ctx := context.Background()
	a1, a2, b1, b2 := twoAccounts(t, e)

	// Envelope size.
	big := strings.Repeat("x", 1001)
	if _, err := a1.sendTo(b1, 1, big, b1, b2, a2); codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "limit is 1000") {
		t.Fatalf("oversized envelope: %v", err)
	}
	// Recipients per send.
	b3 := b1.linkedDevice(3)
	if err := b1.publishWith(b3); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.sendTo(b1, 1, "x", b1, b2, b3, a2); codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "limit of 3") {
		t.Fatalf("too many copies: %v", err)
	}
	without, _ := b1.list.WithoutDevice(3)
	if err := b1.publish(without); err != nil {
		t.Fatal(err)
	}

	// Queue cap, all or none: fill b2's queue while b1 acks everything.
	sb1 := b1.stream()
	for i := range 3 {
		if _, err := a1.sendTo(b1, byte(i), "m", b1, b2, a2); err != nil {
			t.Fatal(err)
		}
		sb1.ack(sb1.delivery().Seq)
	}
	waitFor(t, func() bool { n, _ := e.st.QueueDepth(ctx, b1.addr()); return n == 0 })
	_, err := a1.sendTo(b1, 9, "over", b1, b2, a2)
	if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "is full") {
		t.Fatalf("send past the cap: %v", err)
	}
	for _, c := range []*client{b1, a2} {
		if n, _ := e.st.QueueDepth(ctx, c.addr()); n != map[*client]int{b1: 0, a2: 3}[c] {
			t.Fatalf("device %v has %d entries after a refused send: not all-or-none", c.addr(), n)
		}
	}
	if !sb1.quiet(100 * time.Millisecond) {
		t.Fatal("a refused send was delivered")
	}

	// Malformed fields each get a clear invalid-argument error.
	for name, mod := range map[string]func(*wardv1.SendRequest){
		"short client id":    func(r *wardv1.SendRequest) { r.ClientMessageId = r.ClientMessageId[:5] },
		"short conversation": func(r *wardv1.SendRequest) { r.Conversation = r.Conversation[:3] },
		"no commitment":      func(r *wardv1.SendRequest) { r.Commitment = nil },
		"no copies":          func(r *wardv1.SendRequest) { r.Copies = nil },
	} {
		r := &wardv1.SendRequest{ClientMessageId: make([]byte, 16), Conversation: b1.aid[:], Commitment: make([]byte, 32),
			Copies: []*wardv1.Copy{{AccountId: b1.aid[:], DeviceId: 1, Envelope: []byte("e")}}}
		mod(r)
		if _, err := a1.messages.Send(ctx, connect.NewRequest(r)); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Unknown recipient account.
	r := &wardv1.SendRequest{ClientMessageId: make([]byte, 16), Conversation: make([]byte, 16), Commitment: make([]byte, 32),
		Copies: []*wardv1.Copy{{AccountId: make([]byte, 16), DeviceId: 1, Envelope: []byte("e")}}}
	if _, err := a1.messages.Send(ctx, connect.NewRequest(r)); codeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown recipient: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SendRate, c.SendBurst = 0.001, 3 })
	a1, a2, b1, b2 := twoAccounts(t, e)
	for i := range 3 {
		if _, err := a1.sendTo(b1, byte(i), "m", b1, b2, a2); err != nil {
			t.Fatal(err)
		}
	}
	_, err := a1.sendTo(b1, 5, "m", b1, b2, a2)
	if codeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("4th send: %v", err)
	}
	// The limit is per account: bob still sends.
	if _, err := b1.sendTo(a1, 1, "m", a1, a2, b2); err != nil {
		t.Fatal(err)
	}

	// Per client address on unauthenticated calls.
	e2 := newEnv(t, func(c *Config) { c.AddrRate, c.AddrBurst = 0.001, 5 })
	c := e2.newClient("carol")
	var last error
	for range 6 {
		_, last = c.accounts.Challenge(context.Background(), connect.NewRequest(&wardv1.ChallengeRequest{AccountId: c.aid[:], DeviceId: 1}))
	}
	if codeOf(last) != connect.CodeResourceExhausted || !strings.Contains(last.Error(), "client address") {
		t.Fatalf("6th challenge: %v", last)
	}
	if got := e2.srv.addrLimit.size(); got != 1 {
		t.Fatalf("%d address buckets, want 1", got)
	}
	if n := e2.srv.addrLimit.sweep(time.Now().Add(2 * time.Hour * 24 * 365)); n != 1 {
		t.Fatalf("sweep evicted %d buckets", n)
	}
}

func TestCoverage(t *testing.T) {
	var r, s store.AccountID
	r[0], s[0] = 1, 2
	ra := func(d store.DeviceID) store.Address { return store.Address{Account: r, Device: d} }
	sa := func(d store.DeviceID) store.Address { return store.Address{Account: s, Device: d} }
	want := []store.Address{ra(1), ra(2), sa(2)}
	for _, tc := range []struct {
		got  []store.Address
		want string // substring of the error, "" for a match
	}{
		{[]store.Address{sa(2), ra(2), ra(1)}, ""},
		{[]store.Address{ra(1), ra(2)}, "missing device 2"},
		{[]store.Address{ra(1), ra(2), sa(2), sa(3)}, "device 3 of account"},
		{[]store.Address{ra(1), ra(2), sa(2), ra(2)}, "addressed twice"},
		{nil, "missing device 1"},
	} {
		msg := coverage(append([]store.Address(nil), want...), tc.got, r, s, 4, 7)
		if tc.want == "" && msg != "" || tc.want != "" && !strings.Contains(msg, tc.want) {
			t.Errorf("coverage(%v) = %q, want %q", tc.got, msg, tc.want)
		}
		if msg != "" && !strings.Contains(msg, "recipient device list version 4, sender device list version 7") {
			t.Errorf("message lacks the versions: %q", msg)
		}
	}
}

func TestQueueTTL(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.QueueTTL = time.Hour; c.FrankingRetention = time.Hour })
	a1, a2, b1, b2 := twoAccounts(t, e)
	if _, err := a1.sendTo(b1, 1, "old", b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour + time.Second)
	st := e.srv.Sweep(context.Background())
	if st.QueueEntries != 3 {
		t.Fatalf("sweep expired %d entries, want 3", st.QueueEntries)
	}
	e.clock.Store(0)
	s := b1.stream()
	if !s.quiet(200 * time.Millisecond) {
		t.Fatal("an expired entry was delivered")
	}
}

func TestKeyringRotation(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FrankingRotation = time.Hour
		c.FrankingRetention = 48 * time.Hour
		c.QueueTTL = time.Hour
	})
	ctx := context.Background()
	tagCtx := franking.Context{Kind: franking.Direct, Conversation: make([]byte, 16), Timestamp: 1}
	rand.Read(tagCtx.Commitment[:])
	old := e.srv.FrankingKeyring()
	tag, err := old.Tag(tagCtx)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.srv.Sweep(ctx); st.Rotated {
		t.Fatal("rotated a fresh key")
	}
	e.advance(2 * time.Hour)
	if st := e.srv.Sweep(ctx); !st.Rotated {
		t.Fatal("did not rotate an old key")
	}
	kr := e.srv.FrankingKeyring()
	if kr.CurrentID() == old.CurrentID() {
		t.Fatal("current key unchanged")
	}
	if err := kr.Verify(tag[:], tagCtx); err != nil {
		t.Fatalf("old tag no longer verifies within retention: %v", err)
	}
	// A restarted server (same store) loads the same keyring.
	s2, err := New(ctx, e.cfg, nil, e.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.FrankingKeyring().CurrentID() != kr.CurrentID() || !bytes.Equal(s2.authKey, e.srv.authKey) {
		t.Fatal("restart changed the keys")
	}
	// Past the retention window the retired key is pruned.
	e.advance(72 * time.Hour)
	e.srv.Sweep(ctx) // rotates again and prunes
	if err := e.srv.FrankingKeyring().Verify(tag[:], tagCtx); err == nil {
		t.Fatal("tag under a pruned key still verifies")
	}
}

// TestStorageIsOpaque sends envelopes with a recognisable marker and scans
// every byte of the SQLite files: the marker must appear only inside the
// queue's envelope column, i.e. as many times as copies were queued and
// nowhere else (no logs, no indexes, no secrets table).
func TestStorageIsOpaque(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)
	marker := "PLAINTEXT-LOOKING-MARKER-7f3a"
	if _, err := a1.sendTo(b1, 1, marker, b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	var total int
	for _, f := range []string{"ward.db", "ward.db-wal"} {
		data, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		total += bytes.Count(data, []byte(marker))
		// No token or auth key material is ever stored in clear beside
		// the secrets row (the token is derived, never stored).
		if bytes.Contains(data, []byte(a1.token)) {
			t.Fatalf("%s contains a session token", f)
		}
	}
	// Three copies queued; SQLite may keep an older page image of the
	// same row in the WAL, so allow each copy at most twice.
	if total < 3 || total > 6 {
		t.Fatalf("marker found %d times in the database files, want 3..6 (the queued copies only)", total)
	}
	// Every stored envelope is the client's bytes verbatim inside the
	// queue framing.
	ents, err := e.st.Fetch(context.Background(), b1.addr(), 0, 10)
	if err != nil || len(ents) != 1 {
		t.Fatal(ents, err)
	}
	q, err := parseQueued(ents[0].Envelope)
	if err != nil || string(q.envelope) != marker+"@1" || !bytes.Equal(q.conversation, b1.aid[:]) {
		t.Fatalf("stored envelope = %+v, %v", q, err)
	}
}

func TestMaxStreams(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxStreams = 1 })
	a := e.newClient("alice").register()
	b := e.newClient("bob").register()
	a.stream()
	waitFor(t, func() bool { return e.srv.localStream(a.addr()) != nil })
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/v1/stream"
	_, resp, err := testDialer.Dial(url, http.Header{"Authorization": {"Ward " + b.token}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream past the limit: %v", err)
	}
}
