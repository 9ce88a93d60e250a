package vrf

import (
	"bytes"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"
)

// FuzzParsePublicKey checks ParsePublicKey against its definition: it
// accepts exactly the canonical encodings of points of order greater than
// 8, and an accepted key encodes back to the input.
func FuzzParsePublicKey(f *testing.F) {
	f.Add(testKey(f, 1).Public().Bytes())
	for _, s := range append(smallOrderCanonical, smallOrderNonCanonical...) {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	encs, canon := nonCanonicalEncodings(f)
	for i := range encs {
		f.Add(encs[i])
		f.Add(canon[i])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 31))
	f.Add(make([]byte, 33))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKey(b)
		want := false
		if len(b) == PublicKeySize {
			p, lerr := new(edwards25519.Point).SetBytes(b)
			want = lerr == nil && bytes.Equal(p.Bytes(), b) &&
				new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 0
		}
		if (err == nil) != want {
			t.Fatalf("ParsePublicKey(%x) = %v, want ok = %v", b, err, want)
		}
		if err == nil && !bytes.Equal(k.Bytes(), b) {
			t.Fatalf("key %x encodes as %x", b, k.Bytes())
		}
		if len(b) == PublicKeySize {
			checkStringToPoint(t, b)
		}
	})
}

// FuzzVerify opens arbitrary proofs for arbitrary inputs under a fixed key.
// It must never panic, and a proof other than the one Prove makes never
// verifies: finding one would be a forgery.
func FuzzVerify(f *testing.F) {
	k := testKey(f, 2)
	pk := k.Public()
	for _, alpha := range []string{"", "a", "acct:alice", "handle:bob"} {
		proof, _ := k.Prove([]byte(alpha))
		f.Add([]byte(alpha), proof[:])
		bad := proof
		bad[ProofSize-1] ^= 0x80
		f.Add([]byte(alpha), bad[:])
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0}, make([]byte, ProofSize))
	f.Add([]byte{0}, bytes.Repeat([]byte{0xff}, ProofSize))
	f.Add([]byte{0}, make([]byte, ProofSize+1))
	f.Fuzz(func(t *testing.T, alpha, proof []byte) {
		beta, err := pk.Verify(alpha, proof)
		if err != nil {
			if beta != ([OutputSize]byte{}) {
				t.Fatal("failed verification returned an output")
			}
			return
		}
		want, wantBeta := k.Prove(alpha)
		if !bytes.Equal(proof, want[:]) {
			t.Fatalf("forged proof for alpha %x verified: %x", alpha, proof)
		}
		if beta != wantBeta {
			t.Fatal("Verify output differs from Prove output")
		}
		if h, err := ProofToHash(proof); err != nil || h != beta {
			t.Fatalf("ProofToHash = %x, %v; Verify gave %x", h, err, beta)
		}
	})
}

// FuzzDecodeProof checks ECVRF_decode_proof: it never panics, it accepts
// only encodings that decode back to themselves (Gamma canonical, s < L),
// and ProofToHash accepts exactly what it accepts.
func FuzzDecodeProof(f *testing.F) {
	k := testKey(f, 3)
	proof, _ := k.Prove([]byte("seed"))
	f.Add(proof[:])
	f.Add(make([]byte, ProofSize))
	f.Add(bytes.Repeat([]byte{0xff}, ProofSize))
	f.Add(proof[:ProofSize-1])
	sPlusL := proof
	copy(sPlusL[ptLen+cLen:], addL(proof[ptLen+cLen:]))
	f.Add(sPlusL[:])
	encs, _ := nonCanonicalEncodings(f)
	for _, e := range encs {
		p := proof
		copy(p[:ptLen], e)
		f.Add(p[:])
	}
	f.Fuzz(func(t *testing.T, pi []byte) {
		var g edwards25519.Point
		var s edwards25519.Scalar
		err := decodeProof(&g, &s, pi)
		_, herr := ProofToHash(pi)
		if (err == nil) != (herr == nil) {
			t.Fatalf("decodeProof err %v, ProofToHash err %v", err, herr)
		}
		if err != nil {
			return
		}
		enc := append(append(g.Bytes(), pi[ptLen:ptLen+cLen]...), s.Bytes()...)
		if !bytes.Equal(enc, pi) {
			t.Fatalf("proof %x decodes to %x", pi, enc)
		}
	})
}

// addL returns the 32-byte little-endian encoding of s + L for a canonical
// scalar s (the sum is below 2^253).
func addL(s []byte) []byte {
	return leBytes(leInt(s).Add(leInt(s), groupOrder), qLen)
}
