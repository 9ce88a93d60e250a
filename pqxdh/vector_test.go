package pqxdh

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is a PQXDH run pinned to fixed keys, recorded by this
// implementation (a regression and reimplementation vector, not an
// external one). Decapsulation is deterministic, so the responder side
// reproduces SK and AD from the private keys and the recorded header on
// any implementation. Regenerate with go test -run TestVector -update.
type vector struct {
	AliceSigningSeed  string `json:"alice_signing_seed"`
	AliceIdentityPriv string `json:"alice_identity_private"`
	BobSigningSeed    string `json:"bob_signing_seed"`
	BobIdentityPriv   string `json:"bob_identity_private"`
	SPKPriv           string `json:"spk_private"`
	SPKID             uint32 `json:"spk_id"`
	OPKPriv           string `json:"opk_private"`
	OPKID             uint32 `json:"opk_id"`
	KEMSeed           string `json:"pq_prekey_seed"`
	KEMID             uint32 `json:"pq_prekey_id"`
	EphemeralPriv     string `json:"ephemeral_private"`
	Bundle            string `json:"bundle"`
	Header            string `json:"initial_header"`
	SK                string `json:"sk"`
	AD                string `json:"ad"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixedBytes(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestVector(t *testing.T) {
	path := filepath.Join("testdata", "pqxdh_vector.json")
	if *update {
		cryptotest.SetGlobalRandom(t, 1) // pins the ML-KEM encapsulation
		v := vector{
			AliceSigningSeed: hex.EncodeToString(fixedBytes(32, 0xA1)), AliceIdentityPriv: hex.EncodeToString(fixedBytes(32, 0xA2)),
			BobSigningSeed: hex.EncodeToString(fixedBytes(32, 0xB1)), BobIdentityPriv: hex.EncodeToString(fixedBytes(32, 0xB2)),
			SPKPriv: hex.EncodeToString(fixedBytes(32, 0xB3)), SPKID: 7,
			OPKPriv: hex.EncodeToString(fixedBytes(32, 0xB4)), OPKID: 1001,
			KEMSeed: hex.EncodeToString(fixedBytes(64, 0xB5)), KEMID: 2001,
			EphemeralPriv: hex.EncodeToString(fixedBytes(32, 0xA3)),
		}
		alice, bob := vectorKeys(t, &v)
		spk, opk, kem := vectorPrekeys(t, &v, bob)
		b := &Bundle{SigningKey: bob.SigningKey.Public().(ed25519.PublicKey), IdentityKey: bob.IdentityKey.PublicKey(),
			SignedPrekey: *spk.Public(), OneTimePrekey: opk.Public(), KEMPrekey: *kem.Public()}
		enc, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sk, h, ad, err := InitiatorAgree(bytes.NewReader(unhex(t, v.EphemeralPriv)), alice, b)
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := h.MarshalBinary()
		v.Bundle, v.Header, v.SK, v.AD = hex.EncodeToString(enc), hex.EncodeToString(hb), hex.EncodeToString(sk), hex.EncodeToString(ad)
		out, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	_, bob := vectorKeys(t, &v)
	spk, opk, kem := vectorPrekeys(t, &v, bob)
	// The bundle encodes the published keys exactly (Ed25519 signatures
	// are deterministic) and its signatures verify.
	b := &Bundle{SigningKey: bob.SigningKey.Public().(ed25519.PublicKey), IdentityKey: bob.IdentityKey.PublicKey(),
		SignedPrekey: *spk.Public(), OneTimePrekey: opk.Public(), KEMPrekey: *kem.Public()}
	enc, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, unhex(t, v.Bundle)) {
		t.Fatal("bundle encoding differs from the vector")
	}
	pb, err := ParseBundle(enc)
	if err != nil || pb.Verify() != nil {
		t.Fatal("vector bundle does not verify")
	}
	h, err := ParseInitialHeader(unhex(t, v.Header))
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdh.X25519().NewPrivateKey(unhex(t, v.EphemeralPriv))
	if !bytes.Equal(h.EphemeralKey.Bytes(), ek.PublicKey().Bytes()) {
		t.Fatal("header ephemeral key is not the vector's")
	}
	sk, ad, _, err := ResponderAgree(bob, ResponderPrekeys{spk, opk, kem}, h)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sk) != v.SK || hex.EncodeToString(ad) != v.AD {
		t.Fatalf("SK/AD differ from the vector:\n%x\n%x", sk, ad)
	}
}

func vectorKeys(t *testing.T, v *vector) (alice, bob IdentityKeyPair) {
	t.Helper()
	aik, err := ecdh.X25519().NewPrivateKey(unhex(t, v.AliceIdentityPriv))
	if err != nil {
		t.Fatal(err)
	}
	bik, err := ecdh.X25519().NewPrivateKey(unhex(t, v.BobIdentityPriv))
	if err != nil {
		t.Fatal(err)
	}
	return IdentityKeyPair{ed25519.NewKeyFromSeed(unhex(t, v.AliceSigningSeed)), aik},
		IdentityKeyPair{ed25519.NewKeyFromSeed(unhex(t, v.BobSigningSeed)), bik}
}

func vectorPrekeys(t *testing.T, v *vector, bob IdentityKeyPair) (*SignedPrekeyPrivate, *OneTimePrekeyPrivate, *KEMPrekeyPrivate) {
	t.Helper()
	spk, err := NewSignedPrekey(bytes.NewReader(unhex(t, v.SPKPriv)), bob.SigningKey, v.SPKID)
	if err != nil {
		t.Fatal(err)
	}
	opk, err := NewOneTimePrekey(bytes.NewReader(unhex(t, v.OPKPriv)), v.OPKID)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := NewKEMPrekey(bytes.NewReader(unhex(t, v.KEMSeed)), bob.SigningKey, v.KEMID, false)
	if err != nil {
		t.Fatal(err)
	}
	return spk, opk, kem
}
