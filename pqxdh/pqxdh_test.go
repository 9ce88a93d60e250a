package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/cryptotest"
)

// testRand returns a deterministic reader for tests. Keys in tests come
// from it so failures reproduce; it is never used outside tests.
func testRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

type device struct {
	id   IdentityKeyPair
	spk  *SignedPrekeyPrivate
	opk  *OneTimePrekeyPrivate
	kem  *KEMPrekeyPrivate // one-time
	last *KEMPrekeyPrivate // last resort
}

func newDevice(t testing.TB, r io.Reader) *device {
	t.Helper()
	seed := make([]byte, 64)
	if _, err := io.ReadFull(r, seed); err != nil {
		t.Fatal(err)
	}
	ik, err := ecdh.X25519().NewPrivateKey(seed[32:])
	if err != nil {
		t.Fatal(err)
	}
	d := &device{id: IdentityKeyPair{SigningKey: ed25519.NewKeyFromSeed(seed[:32]), IdentityKey: ik}}
	if d.spk, err = NewSignedPrekey(r, d.id.SigningKey, 7); err != nil {
		t.Fatal(err)
	}
	if d.opk, err = NewOneTimePrekey(r, 1001); err != nil {
		t.Fatal(err)
	}
	if d.kem, err = NewKEMPrekey(r, d.id.SigningKey, 2001, false); err != nil {
		t.Fatal(err)
	}
	if d.last, err = NewKEMPrekey(r, d.id.SigningKey, 3001, true); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *device) bundle(withOPK, lastResort bool) *Bundle {
	b := &Bundle{
		SigningKey:   d.id.SigningKey.Public().(ed25519.PublicKey),
		IdentityKey:  d.id.IdentityKey.PublicKey(),
		SignedPrekey: *d.spk.Public(),
		KEMPrekey:    *d.kem.Public(),
	}
	if lastResort {
		b.KEMPrekey = *d.last.Public()
	}
	if withOPK {
		b.OneTimePrekey = d.opk.Public()
	}
	return b
}

func (d *device) lookup(h *InitialHeader) ResponderPrekeys {
	k := ResponderPrekeys{}
	if h.SignedPrekeyID == d.spk.ID {
		k.SignedPrekey = d.spk
	}
	if h.HasOneTimePrekey && h.OneTimePrekeyID == d.opk.ID {
		k.OneTimePrekey = d.opk
	}
	switch h.KEMPrekeyID {
	case d.kem.ID:
		k.KEMPrekey = d.kem
	case d.last.ID:
		k.KEMPrekey = d.last
	}
	return k
}

func TestAgreement(t *testing.T) {
	for _, tc := range []struct {
		name            string
		withOPK, lastPQ bool
		want            Consumed
	}{
		{"one-time prekeys", true, false, Consumed{OneTimePrekey: true, OneTimePrekeyID: 1001, OneTimeKEMPrekey: true, KEMPrekeyID: 2001}},
		{"no OPK", false, false, Consumed{OneTimeKEMPrekey: true, KEMPrekeyID: 2001}},
		{"OPK and last-resort PQ", true, true, Consumed{OneTimePrekey: true, OneTimePrekeyID: 1001}},
		{"last-resort only", false, true, Consumed{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRand(1)
			alice, bob := newDevice(t, r), newDevice(t, r)
			skA, h, adA, err := InitiatorAgree(r, alice.id, bob.bundle(tc.withOPK, tc.lastPQ))
			if err != nil {
				t.Fatal(err)
			}
			if h.HasOneTimePrekey != tc.withOPK {
				t.Fatalf("header HasOneTimePrekey = %v", h.HasOneTimePrekey)
			}
			skB, adB, consumed, err := ResponderAgree(bob.id, bob.lookup(h), h)
			if err != nil {
				t.Fatal(err)
			}
			if len(skA) != SharedSecretSize || !bytes.Equal(skA, skB) {
				t.Fatalf("SK mismatch:\n%x\n%x", skA, skB)
			}
			if len(adA) != ADSize || !bytes.Equal(adA, adB) {
				t.Fatalf("AD mismatch")
			}
			if consumed != tc.want {
				t.Fatalf("consumed = %+v, want %+v", consumed, tc.want)
			}
			// AD layout: IK_A, IK_B, SIG_A, SIG_B, each prefixed.
			wantAD := associatedData(alice.id.IdentityKey.PublicKey(), bob.id.IdentityKey.PublicKey(),
				alice.id.SigningKey.Public().(ed25519.PublicKey), bob.id.SigningKey.Public().(ed25519.PublicKey))
			if !bytes.Equal(adA, wantAD) || adA[0] != 0x05 || !bytes.Equal(adA[1:33], alice.id.IdentityKey.PublicKey().Bytes()) {
				t.Fatal("AD layout wrong")
			}
		})
	}
}

func TestAgreementDeterministic(t *testing.T) {
	run := func() ([]byte, []byte) {
		cryptotest.SetGlobalRandom(t, 42)
		r := testRand(9)
		alice, bob := newDevice(t, r), newDevice(t, r)
		sk, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(true, false))
		if err != nil {
			t.Fatal(err)
		}
		hb, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return sk, hb
	}
	sk1, h1 := run()
	sk2, h2 := run()
	if !bytes.Equal(sk1, sk2) || !bytes.Equal(h1, h2) {
		t.Fatal("same randomness gave different outputs")
	}
}

func TestOneTimePrekeyMatters(t *testing.T) {
	// With and without DH4 must give different secrets from the same
	// randomness; otherwise DH4 would not be mixed in.
	cryptotest.SetGlobalRandom(t, 5)
	r := testRand(2)
	alice, bob := newDevice(t, r), newDevice(t, r)
	cryptotest.SetGlobalRandom(t, 5)
	sk1, _, _, err := InitiatorAgree(testRand(3), alice.id, bob.bundle(true, false))
	if err != nil {
		t.Fatal(err)
	}
	cryptotest.SetGlobalRandom(t, 5)
	sk2, _, _, err := InitiatorAgree(testRand(3), alice.id, bob.bundle(false, false))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sk1, sk2) {
		t.Fatal("DH4 did not change SK")
	}
}

func TestInitiatorRejectsBadSignatures(t *testing.T) {
	r := testRand(4)
	alice, bob, mallory := newDevice(t, r), newDevice(t, r), newDevice(t, r)
	for _, tc := range []struct {
		name   string
		mutate func(b *Bundle)
	}{
		{"SPK signature byte", func(b *Bundle) { b.SignedPrekey.Signature = flip(b.SignedPrekey.Signature, 10) }},
		{"SPK id", func(b *Bundle) { b.SignedPrekey.ID++ }},
		{"SPK key", func(b *Bundle) { b.SignedPrekey.PublicKey = mallory.spk.PrivateKey.PublicKey() }},
		{"SPK signature truncated", func(b *Bundle) { b.SignedPrekey.Signature = b.SignedPrekey.Signature[:63] }},
		{"PQ signature byte", func(b *Bundle) { b.KEMPrekey.Signature = flip(b.KEMPrekey.Signature, 0) }},
		{"PQ id", func(b *Bundle) { b.KEMPrekey.ID++ }},
		{"PQ last-resort flag", func(b *Bundle) { b.KEMPrekey.LastResort = true }},
		{"PQ key", func(b *Bundle) { b.KEMPrekey.EncapsulationKey = mallory.kem.DecapsulationKey.EncapsulationKey() }},
		{"signing key", func(b *Bundle) { b.SigningKey = mallory.id.SigningKey.Public().(ed25519.PublicKey) }},
		{"SPK signed as PQ key type", func(b *Bundle) {
			b.SignedPrekey.Signature = ed25519.Sign(bob.id.SigningKey, signedMessage(keyTypeKEMPrekey, b.SignedPrekey.ID, false, b.SignedPrekey.PublicKey.Bytes()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bob.bundle(true, false)
			tc.mutate(b)
			// A reader that fails proves no randomness (and so no secret)
			// was used before the signatures were checked.
			if _, _, _, err := InitiatorAgree(failReader{}, alice.id, b); err == nil || errors.Is(err, errRandUsed) {
				t.Fatalf("err = %v, want signature failure", err)
			}
		})
	}
}

var errRandUsed = errors.New("randomness used")

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errRandUsed }

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// lowOrderPoints are small-order Curve25519 u-coordinates (0, 1 and a
// point of order 8): X25519 with any of them outputs all zeros.
var lowOrderPoints = [][]byte{
	make([]byte, 32),
	append([]byte{1}, make([]byte, 31)...),
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
}

func TestLowOrderPointsRejected(t *testing.T) {
	r := testRand(5)
	alice, bob := newDevice(t, r), newDevice(t, r)
	for i, p := range lowOrderPoints {
		pub, err := ecdh.X25519().NewPublicKey(p)
		if err != nil {
			t.Fatal(err)
		}
		// Bundle identity key (DH2).
		b := bob.bundle(true, false)
		b.IdentityKey = pub
		if _, _, _, err := InitiatorAgree(r, alice.id, b); !errors.Is(err, ErrAgreementFailed) {
			t.Errorf("point %d as IK_B: err = %v", i, err)
		}
		// One-time prekey (DH4; unsigned, so a server could substitute it).
		b = bob.bundle(true, false)
		b.OneTimePrekey.PublicKey = pub
		if _, _, _, err := InitiatorAgree(r, alice.id, b); !errors.Is(err, ErrAgreementFailed) {
			t.Errorf("point %d as OPK_B: err = %v", i, err)
		}
		// Header ephemeral and identity keys at the responder.
		_, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(true, false))
		if err != nil {
			t.Fatal(err)
		}
		h2 := *h
		h2.EphemeralKey = pub
		if _, _, _, err := ResponderAgree(bob.id, bob.lookup(&h2), &h2); !errors.Is(err, ErrAgreementFailed) {
			t.Errorf("point %d as EK_A: err = %v", i, err)
		}
		h2 = *h
		h2.IdentityKey = pub
		if _, _, _, err := ResponderAgree(bob.id, bob.lookup(&h2), &h2); !errors.Is(err, ErrAgreementFailed) {
			t.Errorf("point %d as IK_A: err = %v", i, err)
		}
	}
}

func TestResponderTamperedHeader(t *testing.T) {
	r := testRand(6)
	alice, bob, mallory := newDevice(t, r), newDevice(t, r), newDevice(t, r)
	skA, h, adA, err := InitiatorAgree(r, alice.id, bob.bundle(true, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(h *InitialHeader)
	}{
		{"ciphertext byte 0", func(h *InitialHeader) { h.KEMCiphertext = flip(h.KEMCiphertext, 0) }},
		{"ciphertext last byte", func(h *InitialHeader) { h.KEMCiphertext = flip(h.KEMCiphertext, KEMCiphertextSize-1) }},
		{"ephemeral key", func(h *InitialHeader) { h.EphemeralKey = mallory.opk.PrivateKey.PublicKey() }},
		{"identity key", func(h *InitialHeader) { h.IdentityKey = mallory.id.IdentityKey.PublicKey() }},
		{"signing key", func(h *InitialHeader) { h.SigningKey = mallory.id.SigningKey.Public().(ed25519.PublicKey) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h2 := *h
			tc.mutate(&h2)
			skB, adB, _, err := ResponderAgree(bob.id, bob.lookup(&h2), &h2)
			if err == nil && bytes.Equal(skA, skB) && bytes.Equal(adA, adB) {
				t.Fatal("tampered header gave the same SK and AD")
			}
		})
	}
	// Prekeys that do not match the header's ids are refused.
	for _, tc := range []struct {
		name   string
		mutate func(k *ResponderPrekeys)
	}{
		{"missing SPK", func(k *ResponderPrekeys) { k.SignedPrekey = nil }},
		{"wrong SPK", func(k *ResponderPrekeys) {
			k.SignedPrekey = &SignedPrekeyPrivate{ID: 8, PrivateKey: bob.spk.PrivateKey}
		}},
		{"missing OPK", func(k *ResponderPrekeys) { k.OneTimePrekey = nil }},
		{"wrong PQ", func(k *ResponderPrekeys) { k.KEMPrekey = bob.last }},
		{"missing PQ", func(k *ResponderPrekeys) { k.KEMPrekey = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := bob.lookup(h)
			tc.mutate(&k)
			if _, _, _, err := ResponderAgree(bob.id, k, h); err == nil {
				t.Fatal("mismatched prekeys accepted")
			}
		})
	}
	// An extra OPK when the header names none is refused too.
	_, h3, _, err := InitiatorAgree(r, alice.id, bob.bundle(false, false))
	if err != nil {
		t.Fatal(err)
	}
	k := bob.lookup(h3)
	k.OneTimePrekey = bob.opk
	if _, _, _, err := ResponderAgree(bob.id, k, h3); err == nil {
		t.Fatal("unexpected OPK accepted")
	}
	// A header reflecting the responder's own identity is refused.
	h4 := *h
	h4.IdentityKey = bob.id.IdentityKey.PublicKey()
	if _, _, _, err := ResponderAgree(bob.id, bob.lookup(&h4), &h4); err == nil {
		t.Fatal("reflected header accepted")
	}
}

func TestEncodingsRoundTrip(t *testing.T) {
	r := testRand(7)
	alice, bob := newDevice(t, r), newDevice(t, r)
	_, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(true, false))
	if err != nil {
		t.Fatal(err)
	}
	_, hNoOPK, _, err := InitiatorAgree(r, alice.id, bob.bundle(false, true))
	if err != nil {
		t.Fatal(err)
	}
	type codec struct {
		name  string
		enc   func() ([]byte, error)
		parse func([]byte) (interface{ MarshalBinary() ([]byte, error) }, error)
	}
	wrap := func(f func() ([]byte, error)) func() ([]byte, error) { return f }
	cases := []codec{
		{"bundle", wrap(bob.bundle(true, false).MarshalBinary), func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseBundle(b) }},
		{"bundle without OPK", wrap(bob.bundle(false, true).MarshalBinary), func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseBundle(b) }},
		{"header", h.MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseInitialHeader(b) }},
		{"header without OPK", hNoOPK.MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseInitialHeader(b) }},
		{"signed prekey", bob.spk.Public().MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseSignedPrekey(b) }},
		{"one-time prekey", bob.opk.Public().MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseOneTimePrekey(b) }},
		{"PQ prekey", bob.last.Public().MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseKEMPrekey(b) }},
		{"signed prekey private", bob.spk.MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) {
			return ParseSignedPrekeyPrivate(b)
		}},
		{"one-time prekey private", bob.opk.MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) {
			return ParseOneTimePrekeyPrivate(b)
		}},
		{"PQ prekey private", bob.last.MarshalBinary, func(b []byte) (interface{ MarshalBinary() ([]byte, error) }, error) { return ParseKEMPrekeyPrivate(b) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := c.enc()
			if err != nil {
				t.Fatal(err)
			}
			if enc[0] != Version {
				t.Fatalf("version byte %d", enc[0])
			}
			v, err := c.parse(enc)
			if err != nil {
				t.Fatal(err)
			}
			re, err := v.MarshalBinary()
			if err != nil || !bytes.Equal(re, enc) {
				t.Fatalf("round trip mismatch (err %v)", err)
			}
			if _, err := c.parse(append(bytes.Clone(enc), 0)); err == nil {
				t.Error("trailing byte accepted")
			}
			for n := 0; n < len(enc); n++ {
				if _, err := c.parse(enc[:n]); err == nil {
					t.Fatalf("truncation to %d bytes accepted", n)
				}
			}
			for _, v := range []byte{0, 2, 255} {
				bad := bytes.Clone(enc)
				bad[0] = v
				if _, err := c.parse(bad); err == nil {
					t.Errorf("version %d accepted", v)
				}
			}
		})
	}
}

func TestDecodersRejectBadFlags(t *testing.T) {
	r := testRand(8)
	bob := newDevice(t, r)
	enc, err := bob.bundle(false, false).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The has_one_time_prekey flag sits after version, two keys and the
	// signed prekey body.
	off := 1 + 32 + 32 + 4 + 32 + 64
	if enc[off] != 0 {
		t.Fatalf("flag offset wrong")
	}
	bad := bytes.Clone(enc)
	bad[off] = 2
	if _, err := ParseBundle(bad); err == nil {
		t.Fatal("flag value 2 accepted")
	}
	// The PQ prekey's last-resort flag.
	bad = bytes.Clone(enc)
	bad[off+1+4] = 7
	if _, err := ParseBundle(bad); err == nil {
		t.Fatal("last-resort flag value 7 accepted")
	}
}

func TestParsedBundleAgrees(t *testing.T) {
	// End-to-end through the wire encodings, as a real client would.
	r := testRand(10)
	alice, bob := newDevice(t, r), newDevice(t, r)
	enc, err := bob.bundle(true, false).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(enc)
	if err != nil {
		t.Fatal(err)
	}
	skA, h, _, err := InitiatorAgree(r, alice.id, b)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := h.MarshalBinary()
	h2, err := ParseInitialHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	spkEnc, _ := bob.spk.MarshalBinary()
	spk, err := ParseSignedPrekeyPrivate(spkEnc)
	if err != nil {
		t.Fatal(err)
	}
	kemEnc, _ := bob.kem.MarshalBinary()
	kem, err := ParseKEMPrekeyPrivate(kemEnc)
	if err != nil {
		t.Fatal(err)
	}
	opkEnc, _ := bob.opk.MarshalBinary()
	opk, err := ParseOneTimePrekeyPrivate(opkEnc)
	if err != nil {
		t.Fatal(err)
	}
	skB, _, _, err := ResponderAgree(bob.id, ResponderPrekeys{spk, opk, kem}, h2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(skA, skB) {
		t.Fatal("SK mismatch after encoding round trips")
	}
}

func TestInitialHeaderSizes(t *testing.T) {
	// The sizes documented in docs/PROTOCOL.md (PQXDH).
	r := testRand(13)
	alice, bob := newDevice(t, r), newDevice(t, r)
	for _, tc := range []struct {
		opk  bool
		want int
	}{{true, 1198}, {false, 1194}} {
		_, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(tc.opk, false))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != tc.want {
			t.Errorf("header with OPK=%v is %d bytes, want %d", tc.opk, len(enc), tc.want)
		}
	}
}
