package session

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/wardchat/ward/pqxdh"
)

func mustDecrypt(t testing.TB, p *Peer, d *device, msg []byte, want string) pqxdh.Consumed {
	t.Helper()
	pt, c, err := p.Decrypt(d.id, d.store, msg)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("got %q want %q", pt, want)
	}
	d.store.consume(t, c)
	return c
}

func mustEncrypt(t testing.TB, p *Peer, d *device, pt string) []byte {
	t.Helper()
	m, err := p.Encrypt(d.r, []byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLockStep(t *testing.T) {
	alice, bob := newDevice(t, 1), newDevice(t, 2)
	pa, pb := newPeer(t, bob), newPeer(t, alice)
	if _, err := pa.Encrypt(alice.r, []byte("x")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("encrypt without session: %v", err)
	}
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, true)); err != nil {
		t.Fatal(err)
	}
	from, to, fromDev, toDev := pa, pb, alice, bob
	for round := range 12 {
		for i := range 1 + round%3 {
			pt := fmt.Sprintf("r%d m%d", round, i)
			m := mustEncrypt(t, from, fromDev, pt)
			pm, err := ParseMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			if wantPrekey := round == 0; pm.IsPrekey() != wantPrekey {
				t.Fatalf("round %d: prekey message = %v", round, pm.IsPrekey())
			}
			c := mustDecrypt(t, to, toDev, m, pt)
			if round == 0 && i == 0 && (!c.OneTimePrekey || !c.OneTimeKEMPrekey) {
				t.Fatalf("first message consumed %+v", c)
			}
			if (round > 0 || i > 0) && c != (pqxdh.Consumed{}) {
				t.Fatalf("later message consumed %+v", c)
			}
			checkAgreement(t, from, to, pt)
		}
		from, to, fromDev, toDev = to, from, toDev, fromDev
	}
	if pa.Sessions() != 1 || pb.Sessions() != 1 {
		t.Fatalf("sessions: %d %d", pa.Sessions(), pb.Sessions())
	}
	if pa.Active().Pending() {
		t.Fatal("initiator still pending after a reply")
	}
}

func TestInitiateChecksBundleIdentity(t *testing.T) {
	alice, bob, mallory := newDevice(t, 3), newDevice(t, 4), newDevice(t, 5)
	pa := newPeer(t, bob)
	if err := pa.Initiate(alice.r, alice.id, mallory.bundle(t, true, false)); err == nil {
		t.Fatal("bundle of another device accepted")
	}
	b := bob.bundle(t, true, false)
	b.SignedPrekey.Signature = flipped(b.SignedPrekey.Signature, 3, 1)
	if err := pa.Initiate(alice.r, alice.id, b); err == nil {
		t.Fatal("bad signature accepted")
	}
	if pa.Sessions() != 0 {
		t.Fatal("failed initiation left a session")
	}
}

func TestPrekeyMessageFromWrongDevice(t *testing.T) {
	alice, bob, mallory := newDevice(t, 6), newDevice(t, 7), newDevice(t, 8)
	pm := newPeer(t, bob)
	if err := pm.Initiate(mallory.r, mallory.id, bob.bundle(t, true, false)); err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, pm, mallory, "hi")
	pb := newPeer(t, alice) // Bob expects Alice
	if _, _, err := pb.Decrypt(bob.id, bob.store, m); err == nil {
		t.Fatal("prekey message from another device accepted")
	}
	if pb.Sessions() != 0 {
		t.Fatal("session created")
	}
}

func TestReplayedPrekeyMessage(t *testing.T) {
	alice, bob := newDevice(t, 9), newDevice(t, 10)
	pa, pb := newPeer(t, bob), newPeer(t, alice)
	// No one-time prekeys: replaying would succeed at the PQXDH level, so
	// only the session bookkeeping stops it.
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, false, false)); err != nil {
		t.Fatal(err)
	}
	m1 := mustEncrypt(t, pa, alice, "first")
	m2 := mustEncrypt(t, pa, alice, "second")
	mustDecrypt(t, pb, bob, m1, "first")
	replay := func(m []byte) {
		t.Helper()
		before := marshalPeer(t, pb)
		n := pb.Sessions()
		if _, _, err := pb.Decrypt(bob.id, bob.store, m); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("replay: err = %v, want ErrDuplicate", err)
		}
		if pb.Sessions() != n || !bytes.Equal(before, marshalPeer(t, pb)) {
			t.Fatal("replay changed the peer")
		}
	}
	replay(m1)
	mustDecrypt(t, pb, bob, m2, "second")
	replay(m2)
	mustDecrypt(t, pa, alice, mustEncrypt(t, pb, bob, "reply"), "reply")
	replay(m1)
	// Push the session out of the Peer with new sessions from Alice; the
	// replay must still be refused, by the seen list.
	for i := range MaxRecentSessions + 1 {
		if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, false, false)); err != nil {
			t.Fatal(err)
		}
		mustDecrypt(t, pb, bob, mustEncrypt(t, pa, alice, fmt.Sprint(i)), fmt.Sprint(i))
	}
	replay(m1)
}

func TestSimultaneousInitiation(t *testing.T) {
	// Both devices initiate before either receives anything; every order
	// of delivering the two prekey messages and the replies must converge
	// on one session.
	for order := range 4 {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			alice, bob := newDevice(t, 11), newDevice(t, 12)
			pa, pb := newPeer(t, bob), newPeer(t, alice)
			if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, true)); err != nil {
				t.Fatal(err)
			}
			if err := pb.Initiate(bob.r, bob.id, alice.bundle(t, true, true)); err != nil {
				t.Fatal(err)
			}
			ma := mustEncrypt(t, pa, alice, "from alice")
			mb := mustEncrypt(t, pb, bob, "from bob")
			if order&1 == 0 {
				mustDecrypt(t, pb, bob, ma, "from alice")
				mustDecrypt(t, pa, alice, mb, "from bob")
			} else {
				mustDecrypt(t, pa, alice, mb, "from bob")
				mustDecrypt(t, pb, bob, ma, "from alice")
			}
			if pa.Sessions() != 2 || pb.Sessions() != 2 {
				t.Fatalf("sessions %d %d", pa.Sessions(), pb.Sessions())
			}
			// Both reply before seeing the other's reply.
			ra := mustEncrypt(t, pa, alice, "reply a")
			rb := mustEncrypt(t, pb, bob, "reply b")
			if order&2 == 0 {
				mustDecrypt(t, pb, bob, ra, "reply a")
				mustDecrypt(t, pa, alice, rb, "reply b")
			} else {
				mustDecrypt(t, pa, alice, rb, "reply b")
				mustDecrypt(t, pb, bob, ra, "reply a")
			}
			// One more round trip settles both on one session.
			m := mustEncrypt(t, pa, alice, "settle")
			mustDecrypt(t, pb, bob, m, "settle")
			checkAgreement(t, pa, pb, "settle")
			m = mustEncrypt(t, pb, bob, "settled")
			mustDecrypt(t, pa, alice, m, "settled")
			checkAgreement(t, pb, pa, "settled")
			for i := range 5 {
				m := mustEncrypt(t, pa, alice, fmt.Sprint(i))
				mustDecrypt(t, pb, bob, m, fmt.Sprint(i))
				checkAgreement(t, pa, pb, fmt.Sprint(i))
			}
		})
	}
}

// TestTamperEveryByte flips every byte of a prekey message and of plain
// messages in both directions: each must be rejected, leave the Peer and
// the prekey store untouched, and the original must still decrypt.
func TestTamperEveryByte(t *testing.T) {
	alice, bob := newDevice(t, 13), newDevice(t, 14)
	pa, pb := newPeer(t, bob), newPeer(t, alice)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, true)); err != nil {
		t.Fatal(err)
	}
	check := func(p *Peer, d *device, msg []byte, pt string) {
		t.Helper()
		before := marshalPeer(t, p)
		nOPK, nKEM := len(d.store.opk), len(d.store.kem)
		for i := range msg {
			out, c, err := p.Decrypt(d.id, d.store, flipped(msg, i, 0x04))
			if err == nil {
				t.Fatalf("flipped byte %d accepted: %q", i, out)
			}
			if c != (pqxdh.Consumed{}) {
				t.Fatalf("flipped byte %d reported consumed prekeys", i)
			}
		}
		if !bytes.Equal(before, marshalPeer(t, p)) || len(d.store.opk) != nOPK || len(d.store.kem) != nKEM {
			t.Fatal("tampered messages changed state")
		}
		mustDecrypt(t, p, d, msg, pt)
	}
	check(pb, bob, mustEncrypt(t, pa, alice, "prekey message"), "prekey message")
	check(pa, alice, mustEncrypt(t, pb, bob, "reply"), "reply")
	check(pb, bob, mustEncrypt(t, pa, alice, "plain"), "plain")
	check(pb, bob, mustEncrypt(t, pa, alice, "same chain"), "same chain")
}

func TestPeerRoundTrip(t *testing.T) {
	alice, bob := newDevice(t, 15), newDevice(t, 16)
	pa, pb := newPeer(t, bob), newPeer(t, alice)
	check := func(p *Peer) *Peer {
		t.Helper()
		enc := marshalPeer(t, p)
		q, err := UnmarshalPeer(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, marshalPeer(t, q)) {
			t.Fatal("encode(decode(x)) != x")
		}
		return q
	}
	pa, pb = check(pa), check(pb)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, false)); err != nil {
		t.Fatal(err)
	}
	if err := pb.Initiate(bob.r, bob.id, alice.bundle(t, false, true)); err != nil {
		t.Fatal(err)
	}
	pa, pb = check(pa), check(pb)
	m := mustEncrypt(t, pa, alice, "a")
	mustEncrypt(t, pa, alice, "lost") // leaves a skipped key at Bob
	m2 := mustEncrypt(t, pa, alice, "a2")
	mustDecrypt(t, pb, bob, m, "a")
	mustDecrypt(t, pb, bob, m2, "a2")
	pa, pb = check(pa), check(pb)
	mustDecrypt(t, pa, alice, mustEncrypt(t, pb, bob, "b"), "b")
	pa, pb = check(pa), check(pb)
	mustDecrypt(t, pb, bob, mustEncrypt(t, pa, alice, "c"), "c")

	enc := marshalPeer(t, pb)
	if _, err := UnmarshalPeer(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for n := range len(enc) {
		if _, err := UnmarshalPeer(enc[:n]); err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	bad := bytes.Clone(enc)
	bad[0] = 2
	if _, err := UnmarshalPeer(bad); err == nil {
		t.Fatal("version 2 accepted")
	}
	bad = bytes.Clone(enc)
	bad[65] = 1 + MaxRecentSessions + 1
	if _, err := UnmarshalPeer(bad); err == nil {
		t.Fatal("too many sessions accepted")
	}
}

func TestParseMessageRejects(t *testing.T) {
	alice, bob := newDevice(t, 17), newDevice(t, 18)
	pa := newPeer(t, bob)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, false)); err != nil {
		t.Fatal(err)
	}
	m := mustEncrypt(t, pa, alice, "x")
	pm, err := ParseMessage(m)
	if err != nil || !pm.IsPrekey() {
		t.Fatal(err)
	}
	re, _ := pm.MarshalBinary()
	if !bytes.Equal(re, m) {
		t.Fatal("round trip mismatch")
	}
	for n := range len(m) {
		if _, err := ParseMessage(m[:n]); err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	for _, tc := range []struct {
		off int
		v   byte
	}{{0, 0}, {0, 2}, {1, 0}, {1, 3}} {
		if _, err := ParseMessage(flipped(m, tc.off, m[tc.off]^tc.v)); err == nil {
			t.Errorf("byte %d = %d accepted", tc.off, tc.v)
		}
	}
	if _, err := ParseMessage(append(bytes.Clone(m), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestSessionAssociatedData(t *testing.T) {
	alice, bob := newDevice(t, 19), newDevice(t, 20)
	pa, pb := newPeer(t, bob), newPeer(t, alice)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(t, true, false)); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, pb, bob, mustEncrypt(t, pa, alice, "x"), "x")
	adA, adB := pa.Active().AssociatedData(), pb.Active().AssociatedData()
	if !bytes.Equal(adA, adB) || len(adA) != pqxdh.ADSize {
		t.Fatal("sessions disagree on AD")
	}
	// AD names the initiator first: Alice's identity key, then Bob's.
	if !bytes.Equal(adA[1:33], alice.pub.IdentityKey.Bytes()) || !bytes.Equal(adA[34:66], bob.pub.IdentityKey.Bytes()) {
		t.Fatal("AD does not bind the two identity keys in order")
	}
}
