package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"io"
	"testing"
)

// The floor benchmarks run the bare primitives an agreement needs, on
// already-parsed keys and pre-built signed messages: the ratio of an
// agreement benchmark to its floor is the cost of this package's own code.

func BenchmarkInitiatorAgree(b *testing.B) {
	for _, tc := range []struct {
		name string
		opk  bool
	}{{"OPK", true}, {"NoOPK", false}} {
		b.Run(tc.name, func(b *testing.B) {
			r := testRand(20)
			alice, bob := newDevice(b, r), newDevice(b, r)
			bundle := bob.bundle(tc.opk, false)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := InitiatorAgree(r, alice.id, bundle); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInitiatorFloor(b *testing.B) {
	for _, tc := range []struct {
		name string
		opk  bool
	}{{"OPK", true}, {"NoOPK", false}} {
		b.Run(tc.name, func(b *testing.B) {
			r := testRand(20)
			alice, bob := newDevice(b, r), newDevice(b, r)
			bundle := bob.bundle(tc.opk, false)
			spkMsg := signedMessage(keyTypeSignedPrekey, bundle.SignedPrekey.ID, false, bundle.SignedPrekey.PublicKey.Bytes())
			kemMsg := signedMessage(keyTypeKEMPrekey, bundle.KEMPrekey.ID, false, bundle.KEMPrekey.EncapsulationKey.Bytes())
			seed := make([]byte, 32)
			km := make([]byte, 0, 6*32)
			var salt [32]byte
			b.ReportAllocs()
			for b.Loop() {
				if !ed25519.Verify(bundle.SigningKey, spkMsg, bundle.SignedPrekey.Signature) ||
					!ed25519.Verify(bundle.SigningKey, kemMsg, bundle.KEMPrekey.Signature) {
					b.Fatal("verify")
				}
				io.ReadFull(r, seed)
				ek, _ := ecdh.X25519().NewPrivateKey(seed)
				d1, _ := alice.id.IdentityKey.ECDH(bundle.SignedPrekey.PublicKey)
				d2, _ := ek.ECDH(bundle.IdentityKey)
				d3, _ := ek.ECDH(bundle.SignedPrekey.PublicKey)
				km = append(km[:0], d1...)
				km = append(km, d2...)
				km = append(km, d3...)
				if tc.opk {
					d4, _ := ek.ECDH(bundle.OneTimePrekey.PublicKey)
					km = append(km, d4...)
				}
				ss, _ := bundle.KEMPrekey.EncapsulationKey.Encapsulate()
				km = append(km, ss...)
				hkdf.Key(sha256.New, km, salt[:], Info, 32)
			}
		})
	}
}

func BenchmarkResponderAgree(b *testing.B) {
	for _, tc := range []struct {
		name string
		opk  bool
	}{{"OPK", true}, {"NoOPK", false}} {
		b.Run(tc.name, func(b *testing.B) {
			r := testRand(21)
			alice, bob := newDevice(b, r), newDevice(b, r)
			_, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(tc.opk, false))
			if err != nil {
				b.Fatal(err)
			}
			keys := bob.lookup(h)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := ResponderAgree(bob.id, keys, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkResponderFloor(b *testing.B) {
	for _, tc := range []struct {
		name string
		opk  bool
	}{{"OPK", true}, {"NoOPK", false}} {
		b.Run(tc.name, func(b *testing.B) {
			r := testRand(21)
			alice, bob := newDevice(b, r), newDevice(b, r)
			_, h, _, err := InitiatorAgree(r, alice.id, bob.bundle(tc.opk, false))
			if err != nil {
				b.Fatal(err)
			}
			km := make([]byte, 0, 6*32)
			var salt [32]byte
			b.ReportAllocs()
			for b.Loop() {
				d1, _ := bob.spk.PrivateKey.ECDH(h.IdentityKey)
				d2, _ := bob.id.IdentityKey.ECDH(h.EphemeralKey)
				d3, _ := bob.spk.PrivateKey.ECDH(h.EphemeralKey)
				km = append(km[:0], d1...)
				km = append(km, d2...)
				km = append(km, d3...)
				if tc.opk {
					d4, _ := bob.opk.PrivateKey.ECDH(h.EphemeralKey)
					km = append(km, d4...)
				}
				ss, _ := bob.kem.DecapsulationKey.Decapsulate(h.KEMCiphertext)
				km = append(km, ss...)
				hkdf.Key(sha256.New, km, salt[:], Info, 32)
			}
		})
	}
}

func BenchmarkParseBundle(b *testing.B) {
	r := testRand(22)
	enc, err := newDevice(b, r).bundle(true, false).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBundle(enc); err != nil {
			b.Fatal(err)
		}
	}
}
