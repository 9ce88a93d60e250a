package ratchet

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// Each operation benchmark has a floor benchmark beside it: the bare
// primitives the operation cannot avoid, run on preallocated buffers. The
// ratio of the two is this package's own overhead (docs/bench/ratchet.md).

var plaintext100 = make([]byte, 100)

// BenchmarkSymmetric is one 100-byte message encrypted by Alice and
// decrypted by Bob on an established chain.
func BenchmarkSymmetric(b *testing.B) {
	alice, bob, _, _, _ := pair(b, 40)
	r := testRand(41)
	msg := make([]byte, 0, 256)
	pt := make([]byte, 0, 256)
	var err error
	msg, _ = alice.AppendEncrypt(msg[:0], r, plaintext100)
	bob.AppendDecrypt(pt[:0], msg)
	b.ReportAllocs()
	for b.Loop() {
		if msg, err = alice.AppendEncrypt(msg[:0], r, plaintext100); err != nil {
			b.Fatal(err)
		}
		if pt, err = bob.AppendDecrypt(pt[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
}

// floorSymmetricSide is what one side does for one message: a KDF_CK step
// (one HMAC keyed with the chain key, two outputs), the message-key
// expansion and the AEAD construction.
func floorSymmetricSide(ck *[32]byte, mk *[32]byte, nonce *[12]byte) (aead interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}) {
	h := hmac.New(sha256.New, ck[:])
	h.Write(ckMessageInput)
	h.Sum(mk[:0])
	h.Reset()
	h.Write(ckChainInput)
	h.Sum(ck[:0])
	okm, _ := hkdf.Expand(sha256.New, mk[:], messageInfo, 44)
	a, _ := chacha20poly1305.New(okm[:32])
	copy(nonce[:], okm[32:])
	return a
}

func BenchmarkSymmetricFloor(b *testing.B) {
	var ckA, ckB, mk [32]byte
	var nonce [12]byte
	ad := make([]byte, 132+headerSize)
	ct := make([]byte, 0, 256)
	pt := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		a := floorSymmetricSide(&ckA, &mk, &nonce)
		ct = a.Seal(ct[:0], nonce[:], plaintext100, ad)
		a = floorSymmetricSide(&ckB, &mk, &nonce)
		var err error
		if pt, err = a.Open(pt[:0], nonce[:], ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDHStep is one 100-byte message that starts a new ratchet step,
// in alternating directions: each iteration, the side that just received
// sends (generating a ratchet key pair) and the other receives.
func BenchmarkDHStep(b *testing.B) {
	alice, bob, _, _, _ := pair(b, 42)
	r := testRand(43)
	msg := make([]byte, 0, 256)
	pt := make([]byte, 0, 256)
	var err error
	msg, _ = alice.AppendEncrypt(msg[:0], r, plaintext100)
	bob.AppendDecrypt(pt[:0], msg)
	from, to := bob, alice
	b.ReportAllocs()
	for b.Loop() {
		if msg, err = from.AppendEncrypt(msg[:0], r, plaintext100); err != nil {
			b.Fatal(err)
		}
		if pt, err = to.AppendDecrypt(pt[:0], msg); err != nil {
			b.Fatal(err)
		}
		from, to = to, from
	}
}

// BenchmarkDHStepFloor: the sender generates an X25519 key pair from a
// seed, computes DH and KDF_RK; the receiver parses the public key,
// computes DH and KDF_RK; then the symmetric part.
func BenchmarkDHStepFloor(b *testing.B) {
	r := testRand(44)
	seed := make([]byte, 32)
	io.ReadFull(r, seed)
	peer, _ := ecdh.X25519().NewPrivateKey(seed)
	peerPub := peer.PublicKey()
	var rk, ckA, ckB, mk [32]byte
	var nonce [12]byte
	ad := make([]byte, 132+headerSize)
	ct := make([]byte, 0, 256)
	pt := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		io.ReadFull(r, seed)
		k, _ := ecdh.X25519().NewPrivateKey(seed)
		pubBytes := k.PublicKey().Bytes()
		d, _ := k.ECDH(peerPub)
		okm, _ := hkdf.Key(sha256.New, d, rk[:], rootInfo, 64)
		copy(ckA[:], okm[32:])
		pub, _ := ecdh.X25519().NewPublicKey(pubBytes)
		d2, _ := peer.ECDH(pub)
		okm, _ = hkdf.Key(sha256.New, d2, rk[:], rootInfo, 64)
		copy(ckB[:], okm[32:])
		a := floorSymmetricSide(&ckA, &mk, &nonce)
		ct = a.Seal(ct[:0], nonce[:], plaintext100, ad)
		a = floorSymmetricSide(&ckB, &mk, &nonce)
		var err error
		if pt, err = a.Open(pt[:0], nonce[:], ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalState(b *testing.B) {
	alice, bob, _, _, _ := pair(b, 45)
	r := testRand(46)
	for range 50 {
		mustEncrypt(b, alice, r, "skip")
	}
	mustDecrypt(b, bob, mustEncrypt(b, alice, r, "x"), "x")
	b.ReportAllocs()
	for b.Loop() {
		enc, _ := bob.MarshalBinary()
		if _, err := UnmarshalState(enc); err != nil {
			b.Fatal(err)
		}
	}
}
