package identity

import (
	"crypto/ed25519"
	"crypto/sha512"
	"testing"
)

func BenchmarkSignDeviceList(b *testing.B) {
	a := newTestAccount(b, "bench", 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.list.Sign(a.aik); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDeviceList(b *testing.B) {
	a := newTestAccount(b, "bench", 10)
	// The same account one device earlier (same seed): version 9.
	prev := newTestAccount(b, "bench", 9).list
	signed := a.sign(b, a.list)
	trusted := a.aik.Public()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyDeviceList(signed, trusted, prev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519ctxVerifyFloor is the floor of VerifyDeviceList: one
// Ed25519ctx verification of the same 10-device encoding.
func BenchmarkEd25519ctxVerifyFloor(b *testing.B) {
	a := newTestAccount(b, "bench", 10)
	s, err := ParseSignedDeviceList(a.sign(b, a.list))
	if err != nil {
		b.Fatal(err)
	}
	opts := &ed25519.Options{Context: ContextDeviceList}
	pub := a.aik.Public().Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if ed25519.VerifyWithOptions(pub, s.List, s.Signature, opts) != nil {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkParseDeviceList(b *testing.B) {
	a := newTestAccount(b, "bench", 10)
	enc := mustMarshal(b, a.list.Marshal)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDeviceList(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSafetyNumber(b *testing.B) {
	r := testRand("bench")
	la, lk := mustAccountID(b, r), mustAccountKey(b, r).Public()
	ra, rk := mustAccountID(b, r), mustAccountKey(b, r).Public()
	b.ReportAllocs()
	for b.Loop() {
		sn, err := NewSafetyNumber(la, lk, ra, rk)
		if err != nil {
			b.Fatal(err)
		}
		_ = sn.String()
	}
}

// BenchmarkSafetyNumberFloor is the floor of BenchmarkSafetyNumber: the
// 2 x 5200 SHA-512 calls on 96-byte inputs, with nothing else.
func BenchmarkSafetyNumberFloor(b *testing.B) {
	var buf [96]byte
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < 2*SafetyNumberIterations; i++ {
			h := sha512.Sum512(buf[:])
			copy(buf[:], h[:])
		}
	}
}

func BenchmarkSignChallenge(b *testing.B) {
	k := mustDeviceKeys(b, testRand("bench"))
	challenge := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		k.SignChallenge(challenge)
	}
}

func BenchmarkVerifyChallenge(b *testing.B) {
	k := mustDeviceKeys(b, testRand("bench"))
	challenge := make([]byte, 32)
	sig := k.SignChallenge(challenge)
	pub := k.Public().SigningKey
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyChallenge(pub, challenge, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateDeviceKeys(b *testing.B) {
	r := testRand("bench")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := GenerateDeviceKeys(r); err != nil {
			b.Fatal(err)
		}
	}
}
