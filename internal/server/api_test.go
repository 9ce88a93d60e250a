package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/wardchat/ward/franking"
	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/pqxdh"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
)

// twoAccounts registers alice (devices 1, 2) and bob (devices 1, 2), all
// logged in with prekeys uploaded.
func twoAccounts(t *testing.T, e *testEnv) (a1, a2, b1, b2 *client) {
	t.Helper()
	a1 = e.newClient("alice").register()
	b1 = e.newClient("bob").register()
	a2 = a1.linkedDevice(2)
	b2 = b1.linkedDevice(2)
	if err := a1.publishWith(a2); err != nil {
		t.Fatal(err)
	}
	if err := b1.publishWith(b2); err != nil {
		t.Fatal(err)
	}
	a2.login()
	b2.login()
	return
}

func TestSendReceiveAckReconnect(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)

	// A send that leaves out the sender's other device is refused, with the
	// device list versions in the message, and enqueues nothing.
	_, err := a1.sendTo(b1, 1, "hello", b1, b2)
	if codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "missing device 2") || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("send omitting a device: %v", err)
	}
	// So is one naming a device that does not exist, or one twice.
	ghost := b1.linkedDevice(9)
	if _, err := a1.sendTo(b1, 1, "hello", b1, b2, a2, ghost); codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("send to an unknown device: %v", err)
	}
	if _, err := a1.sendTo(b1, 1, "hello", b1, b2, a2, b2); codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("send naming a device twice: %v", err)
	}
	if d, _ := e.st.QueueDepth(context.Background(), b1.addr()); d != 0 {
		t.Fatalf("refused sends left %d entries", d)
	}

	sb1 := b1.stream()
	before := time.Now().Add(-time.Second)
	resp, err := a1.sendTo(b1, 1, "hello", b1, b2, a2)
	if err != nil {
		t.Fatal(err)
	}
	// b1 is connected: the message is pushed at once.
	d := sb1.delivery()
	if string(d.Envelope) != "hello@1" || !bytes.Equal(d.MessageId, resp.MessageId) || d.TimestampMs != resp.TimestampMs {
		t.Fatalf("delivery = %v", d)
	}
	if !bytes.Equal(d.SenderAccountId, a1.aid[:]) || d.SenderDeviceId != 1 || !bytes.Equal(d.Conversation, b1.aid[:]) {
		t.Fatalf("delivery context = %v", d)
	}
	if ts := time.UnixMilli(d.TimestampMs); ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("server timestamp %v is not now", ts)
	}
	// The franking tag binds the delivered commitment and delivery context
	// under the server's key, and the plaintext opens the commitment.
	fctx := franking.Context{Kind: franking.Direct, SenderAccount: a1.aid, SenderDevice: 1, Conversation: d.Conversation, Timestamp: uint64(d.TimestampMs)}
	copy(fctx.MessageID[:], d.MessageId)
	copy(fctx.Commitment[:], d.Commitment)
	if err := e.srv.FrankingKeyring().Verify(d.FrankingTag, fctx); err != nil {
		t.Fatalf("franking tag does not verify: %v", err)
	}
	if _, err := franking.Open(a1.lastFranked, fctx.Commitment); err != nil {
		t.Fatalf("delivered commitment does not open: %v", err)
	}
	fctx.Timestamp++
	if err := e.srv.FrankingKeyring().Verify(d.FrankingTag, fctx); err == nil {
		t.Fatal("tag verified for another timestamp")
	}

	// The sender's other device gets its copy after connecting (backlog).
	sa2 := a2.stream()
	d2 := sa2.delivery()
	if string(d2.Envelope) != "hello@2" || !bytes.Equal(d2.Conversation, b1.aid[:]) || !bytes.Equal(d2.FrankingTag, d.FrankingTag) {
		t.Fatalf("sender's other device got %v", d2)
	}

	// A retried send is idempotent: same id, nothing new enqueued.
	again, err := a1.sendTo(b1, 1, "hello", b1, b2, a2)
	if err != nil || !bytes.Equal(again.MessageId, resp.MessageId) || again.TimestampMs != resp.TimestampMs {
		t.Fatalf("retry = %v, %v; want the original result", again, err)
	}
	if !sb1.quiet(200 * time.Millisecond) {
		t.Fatal("a retried send was delivered twice")
	}

	// Only acknowledged entries are deleted; a reconnecting device drains
	// its backlog in order.
	for i := range 5 {
		if _, err := a1.sendTo(b1, byte(10+i), "m"+string(rune('0'+i)), b1, b2, a2); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	var bodies []string
	for range 5 {
		d := sb1.delivery()
		seqs = append(seqs, d.Seq)
		bodies = append(bodies, string(d.Envelope))
	}
	if !slices.IsSorted(seqs) || strings.Join(bodies, ",") != "m0@1,m1@1,m2@1,m3@1,m4@1" {
		t.Fatalf("deliveries out of order: %v %v", seqs, bodies)
	}
	sb1.ack(seqs[2]) // acks "hello" and m0..m2
	waitFor(t, func() bool { n, _ := e.st.QueueDepth(context.Background(), b1.addr()); return n == 2 })
	sb1.ws.Close()

	sb1 = b1.stream()
	for _, want := range []string{"m3@1", "m4@1"} {
		if d := sb1.delivery(); string(d.Envelope) != want {
			t.Fatalf("after reconnect got %q, want %q", d.Envelope, want)
		}
	}
	if !sb1.quiet(200 * time.Millisecond) {
		t.Fatal("acknowledged entries were delivered again")
	}

	// b2 was offline the whole time: it drains everything in order.
	sb2 := b2.stream()
	var got []string
	for range 6 {
		got = append(got, string(sb2.delivery().Envelope))
	}
	if strings.Join(got, ",") != "hello@2,m0@2,m1@2,m2@2,m3@2,m4@2" {
		t.Fatalf("backlog = %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 5s")
}

func TestStreamProtocolErrors(t *testing.T) {
	e := newEnv(t, nil)
	a1, a2, b1, b2 := twoAccounts(t, e)
	s := b1.stream()
	// Acknowledging what was never delivered is refused: it would delete
	// undelivered messages.
	if _, err := a1.sendTo(b1, 1, "x", b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	d := s.delivery()
	s.ack(d.Seq + 5)
	f := s.nextNotLow()
	if f.GetError().GetCode() != "invalid_argument" {
		t.Fatalf("ack beyond delivered: %v", f)
	}
	if n, _ := e.st.QueueDepth(context.Background(), b1.addr()); n != 1 {
		t.Fatalf("queue depth %d after a refused ack, want 1", n)
	}
	// A second stream of the same device replaces the first.
	s1 := b1.stream()
	s1.delivery()
	s2 := b1.stream()
	if f := s1.nextNotLow(); f.GetError().GetCode() != "replaced" {
		t.Fatalf("old stream got %v, want a replaced error", f)
	}
	if d := s2.delivery(); string(d.Envelope) != "x@1" {
		t.Fatalf("new stream got %v", d)
	}
}

func TestRegistrationAndAuth(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.newClient("alice").register()

	for _, tc := range []struct {
		name string
		mod  func(c *client, r *wardv1.RegisterRequest)
		code connect.Code
	}{
		{"taken handle", func(c *client, r *wardv1.RegisterRequest) { r.Handle = "ALICE" }, connect.CodeAlreadyExists},
		{"bad handle", func(c *client, r *wardv1.RegisterRequest) { r.Handle = "a b" }, connect.CodeInvalidArgument},
		{"no age band", func(c *client, r *wardv1.RegisterRequest) { r.AgeBand = 0 }, connect.CodeInvalidArgument},
		{"challenge signed by another key", func(c *client, r *wardv1.RegisterRequest) {
			other, _ := identity.GenerateDeviceKeys(rand.Reader)
			r.ChallengeSignature = other.SignChallenge(r.Challenge)
		}, connect.CodeUnauthenticated},
		{"tampered challenge", func(c *client, r *wardv1.RegisterRequest) { r.Challenge[5] ^= 1 }, connect.CodeUnauthenticated},
		{"list signed by another account key", func(c *client, r *wardv1.RegisterRequest) {
			other, _ := identity.GenerateAccountKey(rand.Reader)
			r.SignedDeviceList, _ = c.list.Sign(other)
		}, connect.CodeInvalidArgument},
		{"device not in list", func(c *client, r *wardv1.RegisterRequest) {
			other, _ := identity.GenerateDeviceKeys(rand.Reader)
			r.Device.SigningKey = other.Public().SigningKey
		}, connect.CodeInvalidArgument},
		{"list for another account", func(c *client, r *wardv1.RegisterRequest) { r.AccountId = a.aid[:] }, connect.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient("carol")
			r := c.registerRequest(ctx)
			tc.mod(c, r)
			_, err := c.accounts.Register(ctx, connect.NewRequest(r))
			if codeOf(err) != tc.code {
				t.Fatalf("Register = %v, want %v", err, tc.code)
			}
		})
	}

	// An expired registration challenge is refused.
	c := e.newClient("dave")
	r := c.registerRequest(ctx)
	e.advance(ChallengeTTL + time.Second)
	if _, err := c.accounts.Register(ctx, connect.NewRequest(r)); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("expired challenge: %v", err)
	}

	// Authentication: a challenge is single-use and bound to its device.
	ch, err := a.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: a.aid[:], DeviceId: 1}))
	if err != nil {
		t.Fatal(err)
	}
	req := &wardv1.AuthenticateRequest{AccountId: a.aid[:], DeviceId: 1, Nonce: ch.Msg.Nonce, Signature: a.dev.SignChallenge(ch.Msg.Nonce)}
	bad := proto.Clone(req).(*wardv1.AuthenticateRequest)
	bad.Signature = slices.Clone(req.Signature)
	bad.Signature[0] ^= 1
	if _, err := a.accounts.Authenticate(ctx, connect.NewRequest(bad)); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("bad signature: %v", err)
	}
	// The failed attempt consumed the challenge.
	if _, err := a.accounts.Authenticate(ctx, connect.NewRequest(req)); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("reused challenge: %v", err)
	}

	// Tokens: tampered, expired and missing tokens are refused.
	a.login()
	good := a.token
	lookup := func() error {
		_, err := a.accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "Alice"}}))
		return err
	}
	if err := lookup(); err != nil {
		t.Fatalf("lookup with a good token: %v", err)
	}
	raw := []byte(good)
	for i := len(tokenPrefix); i < len(raw); i++ {
		orig := raw[i]
		raw[i] = 'A' + (orig+1)%26
		if raw[i] == orig {
			raw[i] = 'z'
		}
		a.token = string(raw)
		raw[i] = orig
		if err := lookup(); codeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("token with byte %d changed: %v", i, err)
		}
	}
	a.token = ""
	if err := lookup(); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
	a.token = good
	e.advance(e.cfg.TokenTTL)
	if err := lookup(); codeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("expired token: %v", err)
	}
}

func TestInviteOnly(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Registration = "invite"; c.Admins = "Root" })
	ctx := context.Background()
	c := e.newClient("root")
	if _, err := c.accounts.Register(ctx, connect.NewRequest(c.registerRequest(ctx))); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("register without invite: %v", err)
	}
	inv, err := e.srv.CreateInvite(ctx, nil, &wardv1.CreateInviteRequest{Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := c.registerRequest(ctx)
	r.InviteCode = inv.Code
	if _, err := c.accounts.Register(ctx, connect.NewRequest(r)); err != nil {
		t.Fatal(err)
	}
	c.login()
	d := e.newClient("dora")
	r = d.registerRequest(ctx)
	r.InviteCode = inv.Code // used up
	if _, err := d.accounts.Register(ctx, connect.NewRequest(r)); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("register with a used invite: %v", err)
	}
	// The admin may invite; dora, once in, may not.
	resp, err := c.accounts.CreateInvite(ctx, connect.NewRequest(&wardv1.CreateInviteRequest{Uses: 2}))
	if err != nil {
		t.Fatal(err)
	}
	r = d.registerRequest(ctx)
	r.InviteCode = resp.Msg.Code
	if _, err := d.accounts.Register(ctx, connect.NewRequest(r)); err != nil {
		t.Fatal(err)
	}
	d.login()
	if _, err := d.accounts.CreateInvite(ctx, connect.NewRequest(&wardv1.CreateInviteRequest{})); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("member created an invite: %v", err)
	}
}

func TestDeviceListPublish(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a1, a2, b1, b2 := twoAccounts(t, e)

	// Version must grow: republishing the current list fails.
	if err := a1.publish(a1.list); codeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("same version: %v", err)
	}
	// A list signed by another key fails.
	other, _ := identity.GenerateAccountKey(rand.Reader)
	next := a1.list.Clone()
	next.Version++
	signed, _ := next.Sign(other)
	if _, err := a1.accounts.PublishDeviceList(ctx, connect.NewRequest(&wardv1.PublishDeviceListRequest{SignedDeviceList: signed})); codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("foreign signature: %v", err)
	}

	// Removing b2 deletes its queue and closes its stream.
	if _, err := a1.sendTo(b1, 1, "x", b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	s2 := b2.stream()
	s2.delivery()
	without, err := b1.list.WithoutDevice(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.publish(without); err != nil {
		t.Fatal(err)
	}
	if f := s2.nextNotLow(); f.GetError().GetCode() != "device_removed" {
		t.Fatalf("removed device's stream got %v", f)
	}
	if n, _ := e.st.QueueDepth(ctx, b2.addr()); n != 0 {
		t.Fatalf("removed device still has %d queued", n)
	}
	// The removed device can no longer use its token for anything.
	if _, err := b2.accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_Handle{Handle: "alice"}})); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("removed device looked up: %v", err)
	}
	// The removed device can no longer send, even with a valid token.
	if _, err := b2.sendTo(a1, 1, "y", a1, a2, b1); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("removed device sent: %v", err)
	}
	// Senders must now leave b2 out.
	if _, err := a1.sendTo(b1, 2, "z", b1, b2, a2); codeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("send to removed device: %v", err)
	}
	if _, err := a1.sendTo(b1, 2, "z", b1, a2); err != nil {
		t.Fatal(err)
	}
	// Lookup returns the new list.
	l, err := a1.accounts.Lookup(ctx, connect.NewRequest(&wardv1.LookupRequest{Who: &wardv1.LookupRequest_AccountId{AccountId: b1.aid[:]}}))
	if err != nil {
		t.Fatal(err)
	}
	aik, _ := identity.ParseAccountPublicKey(l.Msg.AccountKey)
	got, err := identity.VerifyDeviceList(l.Msg.SignedDeviceList, aik, nil)
	if err != nil || got.Version != 3 || len(got.Devices) != 1 || l.Msg.Handle != "bob" {
		t.Fatalf("lookup = %v, %v", got, err)
	}
}

func TestSuspendedAccount(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a1, a2, b1, b2 := twoAccounts(t, e)
	if _, err := a1.sendTo(b1, 1, "x", b1, b2, a2); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetAccountStatus(ctx, store.AccountID(a1.aid), store.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	e.srv.AccountChanged(store.AccountID(a1.aid))
	if _, err := a1.sendTo(b1, 2, "y", b1, b2, a2); codeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("suspended account sent: %v", err)
	}
	// Nobody can send to it either.
	e.srv.AccountChanged(store.AccountID(b1.aid))
	if _, err := b1.sendTo(a1, 3, "z", a1, a2, b2); codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("send to a suspended account: %v", err)
	}
	// And it cannot log in again.
	ch, err := a1.accounts.Challenge(ctx, connect.NewRequest(&wardv1.ChallengeRequest{AccountId: a1.aid[:], DeviceId: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a1.accounts.Authenticate(ctx, connect.NewRequest(&wardv1.AuthenticateRequest{AccountId: a1.aid[:], DeviceId: 1, Nonce: ch.Msg.Nonce, Signature: a1.dev.SignChallenge(ch.Msg.Nonce)}))
	if codeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("suspended account authenticated: %v", err)
	}
}

func TestPrekeysAndBundles(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PrekeyLowThreshold = 3 })
	ctx := context.Background()
	a1 := e.newClient("alice").register()
	b1 := e.newClient("bob").register()

	// Uploads are checked: a signed prekey signed by another key, a
	// one-time PQ prekey passed off as last-resort, or a mismatched id
	// are refused.
	req, _ := b1.prekeyRequest(1, 100)
	other, _ := identity.GenerateDeviceKeys(rand.Reader)
	forged, _ := pqxdh.NewSignedPrekey(rand.Reader, other.SigningKey(), 1)
	clone := func() *wardv1.UploadPrekeysRequest { return proto.Clone(req).(*wardv1.UploadPrekeysRequest) }
	badSPK := clone()
	badSPK.SignedPrekey = &wardv1.Prekey{Id: 1, Key: mustMarshal(t, forged.Public())}
	badLR := clone()
	badLR.LastResortPqPrekey = req.OneTimePqPrekeys[0]
	badID := clone()
	badID.OneTimePrekeys = []*wardv1.Prekey{{Id: 7, Key: req.OneTimePrekeys[0].Key}}
	for name, r := range map[string]*wardv1.UploadPrekeysRequest{"forged signed prekey": badSPK, "one-time as last resort": badLR, "wrong id": badID} {
		if _, err := b1.keys.UploadPrekeys(ctx, connect.NewRequest(r)); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	// No prekeys yet: a clear not-found.
	if _, err := a1.keys.FetchBundles(ctx, connect.NewRequest(&wardv1.FetchBundlesRequest{AccountId: b1.aid[:]})); codeOf(err) != connect.CodeNotFound {
		t.Fatalf("fetch without prekeys: %v", err)
	}

	const n = 20
	ps := b1.uploadPrekeys(n)
	sb := b1.stream()

	// Concurrent fetches: each one-time prekey is handed out at most once.
	var mu sync.Mutex
	otks := map[uint32]int{}
	pqs := map[uint32]int{}
	lastResort := 0
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range 2 * n {
		wg.Go(func() {
			resp, err := a1.keys.FetchBundles(ctx, connect.NewRequest(&wardv1.FetchBundlesRequest{AccountId: b1.aid[:]}))
			if err != nil {
				errs <- err
				return
			}
			if len(resp.Msg.Bundles) != 1 || resp.Msg.Bundles[0].DeviceId != 1 {
				errs <- errors.New("wrong bundles")
				return
			}
			b, err := pqxdh.ParseBundle(resp.Msg.Bundles[0].Bundle)
			if err != nil {
				errs <- err
				return
			}
			if err := b.Verify(); err != nil || !bytes.Equal(b.SigningKey, b1.dev.Public().SigningKey) {
				errs <- errors.New("bundle does not verify under bob's device key")
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if b.OneTimePrekey != nil {
				otks[b.OneTimePrekey.ID]++
			}
			if b.KEMPrekey.LastResort {
				lastResort++
			} else {
				pqs[b.KEMPrekey.ID]++
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(otks) != n || len(pqs) != n || lastResort != n {
		t.Fatalf("handed out %d one-time, %d PQ one-time, %d last-resort; want %d, %d, %d", len(otks), len(pqs), lastResort, n, n, n)
	}
	for id, k := range otks {
		if k != 1 {
			t.Fatalf("one-time prekey %d handed out %d times", id, k)
		}
	}
	for id, k := range pqs {
		if k != 1 {
			t.Fatalf("PQ prekey %d handed out %d times", id, k)
		}
	}
	// A bundle works for PQXDH with bob's private keys.
	resp, err := a1.keys.FetchBundles(ctx, connect.NewRequest(&wardv1.FetchBundlesRequest{AccountId: b1.aid[:]}))
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := pqxdh.ParseBundle(resp.Msg.Bundles[0].Bundle)
	self := pqxdh.IdentityKeyPair{SigningKey: a1.dev.SigningKey(), IdentityKey: a1.dev.IdentityKey()}
	skA, hdr, _, err := pqxdh.InitiatorAgree(rand.Reader, self, bundle)
	if err != nil {
		t.Fatal(err)
	}
	skB, _, _, err := pqxdh.ResponderAgree(pqxdh.IdentityKeyPair{SigningKey: b1.dev.SigningKey(), IdentityKey: b1.dev.IdentityKey()},
		pqxdh.ResponderPrekeys{SignedPrekey: ps.spk, KEMPrekey: ps.lr}, hdr)
	if err != nil || !bytes.Equal(skA, skB) {
		t.Fatalf("PQXDH over a fetched bundle failed: %v", err)
	}
	// Bob was told that his prekeys ran low.
	var low *wardv1.PrekeysLow
	for low == nil {
		low = sb.next().GetPrekeysLow()
	}
	if low.Counts.OneTime >= 3 {
		t.Fatalf("PrekeysLow counts = %v", low.Counts)
	}
	// Refill works and retrying it is harmless.
	req, _ = b1.prekeyRequest(5, 500)
	for range 2 {
		up, err := b1.keys.UploadPrekeys(ctx, connect.NewRequest(req))
		if err != nil || up.Msg.Counts.OneTime != 5 || up.Msg.Counts.OneTimePq != 5 {
			t.Fatalf("refill = %v, %v", up, err)
		}
	}
}

func mustMarshal(t *testing.T, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = ed25519.PublicKeySize
