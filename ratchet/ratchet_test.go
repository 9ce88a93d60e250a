package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

func testRand(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

// pair returns Alice's and Bob's states initialised as after PQXDH, plus
// the SK, AD and Bob's signed prekey used.
func pair(t testing.TB, seed uint64) (alice, bob *State, sk, ad []byte, spk *ecdh.PrivateKey) {
	t.Helper()
	r := testRand(seed)
	buf := make([]byte, 32+32+40)
	io.ReadFull(r, buf)
	sk, ad = buf[:32], buf[64:]
	spk, err := ecdh.X25519().NewPrivateKey(buf[32:64])
	if err != nil {
		t.Fatal(err)
	}
	if alice, err = InitAlice(sk, ad, spk.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if bob, err = InitBob(sk, ad, spk); err != nil {
		t.Fatal(err)
	}
	return alice, bob, sk, ad, spk
}

func mustEncrypt(t testing.TB, s *State, r io.Reader, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt(r, []byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustDecrypt(t testing.TB, s *State, m []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(m)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("got %q, want %q", pt, want)
	}
}

func marshal(t testing.TB, s *State) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFirstMessageConstruction recomputes Alice's first message key from
// the documented KDFs and opens her message with bare primitives, so the
// construction in the package doc is what the code does.
func TestFirstMessageConstruction(t *testing.T) {
	alice, _, sk, ad, spk := pair(t, 1)
	r := testRand(2)
	seedCopy := testRand(2)
	m := mustEncrypt(t, alice, r, "hello")

	seed := make([]byte, 32)
	io.ReadFull(seedCopy, seed)
	dhs, _ := ecdh.X25519().NewPrivateKey(seed)
	if !bytes.Equal(m[1:33], dhs.PublicKey().Bytes()) {
		t.Fatal("header DH is not the key derived from the injected seed")
	}
	dhOut, _ := dhs.ECDH(spk.PublicKey())
	okm, _ := hkdf.Key(sha256.New, dhOut, sk, "WARD_RATCHET_ROOT", 64)
	ck := okm[32:]
	mac := hmac.New(sha256.New, ck)
	mac.Write([]byte{1})
	mk := mac.Sum(nil)
	kn, _ := hkdf.Expand(sha256.New, mk, "WARD_RATCHET_MESSAGE_KEYS", 44)
	aead, _ := chacha20poly1305.New(kn[:32])
	pt, err := aead.Open(nil, kn[32:], m[45:], append(bytes.Clone(ad), m[:45]...))
	if err != nil || string(pt) != "hello" {
		t.Fatalf("independent decryption failed: %v", err)
	}
	// Header: version 1, PN 0, N 0, ciphertext length.
	if m[0] != 1 || !bytes.Equal(m[33:41], make([]byte, 8)) || int(m[44])+int(m[43])<<8 != len("hello")+16 {
		t.Fatalf("header layout wrong: %x", m[:45])
	}
	// Chain key step: the next message key is HMAC(HMAC(ck, 0x02), 0x01).
	mac.Reset()
	mac.Write([]byte{2})
	ck2 := mac.Sum(nil)
	mac2 := hmac.New(sha256.New, ck2)
	mac2.Write([]byte{1})
	mk2 := mac2.Sum(nil)
	m2 := mustEncrypt(t, alice, r, "again")
	kn2, _ := hkdf.Expand(sha256.New, mk2, "WARD_RATCHET_MESSAGE_KEYS", 44)
	aead2, _ := chacha20poly1305.New(kn2[:32])
	if _, err := aead2.Open(nil, kn2[32:], m2[45:], append(bytes.Clone(ad), m2[:45]...)); err != nil {
		t.Fatal("second message not under KDF_CK(ck)")
	}
}

func checkAgreement(t *testing.T, a, b *State, step string) {
	t.Helper()
	ra, sa, _ := a.ChainDigests()
	rb, _, recvB := b.ChainDigests()
	if sa != recvB {
		t.Fatalf("%s: sender's sending chain != receiver's receiving chain", step)
	}
	if ra != rb {
		t.Fatalf("%s: root keys differ", step)
	}
}

// TestLockStep alternates bursts of messages in both directions and checks
// after every message that both sides derived the same keys.
func TestLockStep(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 3)
	r := testRand(4)
	rng := rand.New(rand.NewPCG(1, 2))
	from, to := alice, bob
	for round := range 40 {
		for i := range 1 + rng.IntN(4) {
			pt := fmt.Sprintf("round %d message %d", round, i)
			m := mustEncrypt(t, from, r, pt)
			mustDecrypt(t, to, m, pt)
			checkAgreement(t, from, to, pt)
		}
		from, to = to, from
	}
}

func TestResponderCannotSendFirst(t *testing.T) {
	_, bob, _, _, _ := pair(t, 5)
	if bob.CanSend() {
		t.Fatal("CanSend before receiving")
	}
	if _, err := bob.Encrypt(testRand(1), []byte("x")); err == nil {
		t.Fatal("responder sent before receiving")
	}
}

func TestOutOfOrderAndReplay(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 6)
	r := testRand(7)
	rng := rand.New(rand.NewPCG(3, 4))
	var msgs [][]byte
	var pts []string
	// Three chains from Alice interleaved with Bob's replies so that the
	// delivery crosses ratchet steps.
	for chain := range 3 {
		for i := range 8 {
			pt := fmt.Sprintf("a%d-%d", chain, i)
			msgs = append(msgs, mustEncrypt(t, alice, r, pt))
			pts = append(pts, pt)
		}
		if chain == 0 {
			mustDecrypt(t, bob, msgs[0], pts[0])
		}
		reply := mustEncrypt(t, bob, r, "b")
		mustDecrypt(t, alice, reply, "b")
	}
	perm := rng.Perm(len(msgs))
	delivered := map[int]bool{0: true}
	for _, i := range perm {
		if delivered[i] {
			continue
		}
		mustDecrypt(t, bob, msgs[i], pts[i])
		delivered[i] = true
	}
	if bob.SkippedKeys() != 0 {
		t.Fatalf("%d skipped keys left after all messages arrived", bob.SkippedKeys())
	}
	for i := range msgs {
		before := marshal(t, bob)
		if _, err := bob.Decrypt(msgs[i]); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("replay of message %d: err = %v, want ErrDuplicate", i, err)
		}
		if !bytes.Equal(before, marshal(t, bob)) {
			t.Fatal("replay changed state")
		}
	}
}

// TestFailedDecryptLeavesStateUnchanged flips every byte of messages that
// hit each decryption path (current chain, skipping, skipped key, new
// ratchet step) and requires the serialised state to be byte-identical
// afterwards; the untampered message must then still decrypt.
func TestFailedDecryptLeavesStateUnchanged(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 8)
	r := testRand(9)
	m0 := mustEncrypt(t, alice, r, "m0")
	m1 := mustEncrypt(t, alice, r, "m1")
	m2 := mustEncrypt(t, alice, r, "m2")
	type tc struct {
		name string
		msg  []byte
		pt   string
	}
	check := func(c tc) {
		t.Helper()
		before := marshal(t, bob)
		for i := range c.msg {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(c.msg)
				bad[i] ^= bit
				if _, err := bob.Decrypt(bad); err == nil {
					t.Fatalf("%s: flipped byte %d accepted", c.name, i)
				}
				if !bytes.Equal(before, marshal(t, bob)) {
					t.Fatalf("%s: flipped byte %d changed the state", c.name, i)
				}
			}
		}
		for _, bad := range [][]byte{c.msg[:len(c.msg)-1], append(bytes.Clone(c.msg), 0), nil} {
			if _, err := bob.Decrypt(bad); err == nil || !bytes.Equal(before, marshal(t, bob)) {
				t.Fatalf("%s: bad length accepted or changed the state", c.name)
			}
		}
		mustDecrypt(t, bob, c.msg, c.pt)
	}
	check(tc{"new ratchet step with skip", m1, "m1"})
	check(tc{"skipped key", m0, "m0"})
	check(tc{"current chain", m2, "m2"})
	reply := mustEncrypt(t, bob, r, "reply")
	// The receiver is now Alice: check works on the variable bob.
	bob = alice
	check(tc{"reply on new chain", reply, "reply"})
}

func TestMaxSkip(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 10)
	r := testRand(11)
	var msgs [][]byte
	for i := 0; i <= MaxSkip+1; i++ {
		msgs = append(msgs, mustEncrypt(t, alice, r, fmt.Sprint(i)))
	}
	before := marshal(t, bob)
	if _, err := bob.Decrypt(msgs[MaxSkip+1]); err == nil {
		t.Fatal("message past MaxSkip accepted")
	}
	if !bytes.Equal(before, marshal(t, bob)) {
		t.Fatal("rejected message changed state")
	}
	mustDecrypt(t, bob, msgs[MaxSkip], fmt.Sprint(MaxSkip))
	if bob.SkippedKeys() != MaxSkip {
		t.Fatalf("skipped = %d, want %d", bob.SkippedKeys(), MaxSkip)
	}
	mustDecrypt(t, bob, msgs[MaxSkip+1], fmt.Sprint(MaxSkip+1))
	mustDecrypt(t, bob, msgs[17], "17")
	if _, err := bob.Decrypt(msgs[17]); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("replayed skipped message: %v", err)
	}
}

func TestSkippedKeysTotalCap(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 12)
	r := testRand(13)
	var first [][]byte // the first (skipped) message of each chain
	for chain := range 3 {
		var last []byte
		for i := 0; i <= MaxSkip; i++ {
			m := mustEncrypt(t, alice, r, fmt.Sprint(chain, i))
			if i == 0 {
				first = append(first, m)
			}
			last = m
		}
		mustDecrypt(t, bob, last, fmt.Sprint(chain, MaxSkip))
		if n := bob.SkippedKeys(); n > MaxSkippedKeys {
			t.Fatalf("stored %d skipped keys, cap %d", n, MaxSkippedKeys)
		}
		mustDecrypt(t, alice, mustEncrypt(t, bob, r, "ack"), "ack")
	}
	if bob.SkippedKeys() != MaxSkippedKeys {
		t.Fatalf("skipped = %d, want the cap %d", bob.SkippedKeys(), MaxSkippedKeys)
	}
	// The oldest chain's keys were evicted first; the newest remain.
	if _, err := bob.Decrypt(first[0]); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("evicted key: err = %v, want ErrDuplicate", err)
	}
	mustDecrypt(t, bob, first[2], fmt.Sprint(2, 0))
	// The cap survives serialisation exactly.
	enc := marshal(t, bob)
	restored, err := UnmarshalState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, marshal(t, restored)) {
		t.Fatal("round trip mismatch")
	}
	mustDecrypt(t, restored, first[1], fmt.Sprint(1, 0))
}

func TestStateRoundTrip(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 14)
	r := testRand(15)
	rng := rand.New(rand.NewPCG(5, 6))
	var pending [][]byte
	var pendingPT []string
	// States in every shape: fresh, pending send, with skipped keys.
	for step := range 60 {
		for _, s := range []*State{alice, bob} {
			enc := marshal(t, s)
			s2, err := UnmarshalState(enc)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if !bytes.Equal(enc, marshal(t, s2)) {
				t.Fatalf("step %d: encode(decode(x)) != x", step)
			}
			*s = *s2 // continue with the restored state
		}
		switch rng.IntN(3) {
		case 0:
			pt := fmt.Sprint("a", step)
			pending = append(pending, mustEncrypt(t, alice, r, pt))
			pendingPT = append(pendingPT, pt)
		case 1:
			if len(pending) > 0 {
				i := rng.IntN(len(pending))
				mustDecrypt(t, bob, pending[i], pendingPT[i])
				pending = append(pending[:i], pending[i+1:]...)
				pendingPT = append(pendingPT[:i], pendingPT[i+1:]...)
			}
		case 2:
			if bob.CanSend() {
				mustDecrypt(t, alice, mustEncrypt(t, bob, r, "b"), "b")
			}
		}
	}
}

func TestUnmarshalStateRejects(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 16)
	r := testRand(17)
	mustEncrypt(t, alice, r, "skipped")
	mustDecrypt(t, bob, mustEncrypt(t, alice, r, "x"), "x")
	enc := marshal(t, bob)
	if _, err := UnmarshalState(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	for n := range len(enc) {
		if _, err := UnmarshalState(enc[:n]); err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	for _, tc := range []struct {
		name string
		off  int
		val  byte
	}{
		{"version 0", 0, 0},
		{"version 2", 0, 2},
		{"unknown flag", 1, enc[1] | 0x20},
		{"CKr without DHr", 1, flagCKr | flagDHs},
		{"pending with CKs", 1, flagDHs | flagDHr | flagCKs | flagSendPending},
	} {
		bad := bytes.Clone(enc)
		bad[tc.off] = tc.val
		if _, err := UnmarshalState(bad); err == nil {
			t.Errorf("%s accepted", tc.name)
		}
	}
	// A duplicated skipped key is refused: it could not round-trip.
	dup := append(bytes.Clone(enc), enc[len(enc)-68:]...)
	l := len(enc) - 68 - 4
	n := uint32(136)
	dup[l], dup[l+1], dup[l+2], dup[l+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	if _, err := UnmarshalState(dup); err == nil {
		t.Fatal("duplicate skipped key accepted")
	}
}

func TestParseMessage(t *testing.T) {
	alice, _, _, _, _ := pair(t, 18)
	m := mustEncrypt(t, alice, testRand(19), "hi")
	pm, err := ParseMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Header.N != 0 || pm.Header.PN != 0 || len(pm.Ciphertext) != 2+16 {
		t.Fatalf("parsed %+v", pm.Header)
	}
	re, _ := pm.MarshalBinary()
	if !bytes.Equal(re, m) {
		t.Fatal("round trip mismatch")
	}
	for _, bad := range [][]byte{nil, m[:44], m[:len(m)-1], append(bytes.Clone(m), 1)} {
		if _, err := ParseMessage(bad); err == nil {
			t.Fatalf("accepted %d bytes", len(bad))
		}
	}
	v2 := bytes.Clone(m)
	v2[0] = 2
	if _, err := ParseMessage(v2); err == nil {
		t.Fatal("version 2 accepted")
	}
}

func TestLowOrderRatchetKeyRejected(t *testing.T) {
	alice, bob, _, _, _ := pair(t, 20)
	r := testRand(21)
	m := mustEncrypt(t, alice, r, "x")
	bad := bytes.Clone(m)
	copy(bad[1:33], make([]byte, 32))
	before := marshal(t, bob)
	if _, err := bob.Decrypt(bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("err = %v", err)
	}
	if !bytes.Equal(before, marshal(t, bob)) {
		t.Fatal("state changed")
	}
}
