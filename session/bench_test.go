package session

import "testing"

// BenchmarkPeerMessage is one 100-byte message through the session layer
// (Encrypt, then Decrypt on the other side) on an established session.
func BenchmarkPeerMessage(b *testing.B) {
	alice, bob := newDevice(b, 60), newDevice(b, 61)
	pa, pb := newPeer(b, bob), newPeer(b, alice)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(b, true, true)); err != nil {
		b.Fatal(err)
	}
	mustDecrypt(b, pb, bob, mustEncrypt(b, pa, alice, "hi"), "hi")
	mustDecrypt(b, pa, alice, mustEncrypt(b, pb, bob, "hi"), "hi")
	pt := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		m, err := pa.Encrypt(alice.r, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := pb.Decrypt(bob.id, bob.store, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPeerStart is a full session start: Initiate, the first
// PrekeyMessage and its decryption creating the responder's session.
func BenchmarkPeerStart(b *testing.B) {
	alice, bob := newDevice(b, 62), newDevice(b, 63)
	bundle := bob.bundle(b, false, false) // last-resort: reusable
	pt := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		pa, pb := newPeer(b, bob), newPeer(b, alice)
		if err := pa.Initiate(alice.r, alice.id, bundle); err != nil {
			b.Fatal(err)
		}
		m, err := pa.Encrypt(alice.r, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := pb.Decrypt(bob.id, bob.store, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPeerMarshal(b *testing.B) {
	alice, bob := newDevice(b, 64), newDevice(b, 65)
	pa, pb := newPeer(b, bob), newPeer(b, alice)
	if err := pa.Initiate(alice.r, alice.id, bob.bundle(b, true, true)); err != nil {
		b.Fatal(err)
	}
	mustDecrypt(b, pb, bob, mustEncrypt(b, pa, alice, "hi"), "hi")
	b.ReportAllocs()
	for b.Loop() {
		enc, err := pb.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnmarshalPeer(enc); err != nil {
			b.Fatal(err)
		}
	}
}
