package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

func TestDeviceKeysMarshal(t *testing.T) {
	k := mustDeviceKeys(t, testRand("dev"))
	enc := mustMarshal(t, k.MarshalBinary)
	if len(enc) != 65 || enc[0] != 1 {
		t.Fatalf("encoding %x: want version 1 and 65 bytes", enc)
	}
	back, err := ParseDeviceKeys(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Public().Equal(k.Public()) || !bytes.Equal(mustMarshal(t, back.MarshalBinary), enc) {
		t.Fatal("round trip changed the keys")
	}
	if !back.IdentityKey().Equal(k.IdentityKey()) || !back.SigningKey().Equal(k.SigningKey()) {
		t.Fatal("private keys differ after round trip")
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version only", enc[:1]},
		{"short", enc[:64]},
		{"trailing", append(bytes.Clone(enc), 0)},
		{"version 0", append([]byte{0}, enc[1:]...)},
		{"version 2", append([]byte{2}, enc[1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseDeviceKeys(tc.in); err == nil {
				t.Error("ParseDeviceKeys succeeded")
			}
		})
	}
}

func TestGenerateDeviceKeys(t *testing.T) {
	a, b := mustDeviceKeys(t, testRand("d")), mustDeviceKeys(t, testRand("d"))
	if !a.Public().Equal(b.Public()) {
		t.Fatal("same seed, different keys")
	}
	if bytes.Equal(a.Public().SigningKey, a.Public().IdentityKey.Bytes()) {
		t.Fatal("signing and identity keys derived from the same bytes")
	}
	if _, err := GenerateDeviceKeys(bytes.NewReader(make([]byte, 63))); err == nil {
		t.Fatal("GenerateDeviceKeys succeeded on a short reader")
	}
	if err := a.Public().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDevicePublicKeysValidate(t *testing.T) {
	good := mustDeviceKeys(t, testRand("d")).Public()
	other := mustDeviceKeys(t, testRand("e")).Public()
	weakX := x25519Pub(t, weakX25519[2][:])
	for _, tc := range []struct {
		name string
		p    DevicePublicKeys
		ok   bool
	}{
		{"good", good, true},
		{"no signing key", DevicePublicKeys{IdentityKey: good.IdentityKey}, false},
		{"short signing key", DevicePublicKeys{SigningKey: good.SigningKey[:31], IdentityKey: good.IdentityKey}, false},
		{"zero signing key", DevicePublicKeys{SigningKey: make([]byte, 32), IdentityKey: good.IdentityKey}, false},
		{"identity signing key", DevicePublicKeys{SigningKey: append([]byte{1}, make([]byte, 31)...), IdentityKey: good.IdentityKey}, false},
		{"no identity key", DevicePublicKeys{SigningKey: good.SigningKey}, false},
		{"zero identity key", DevicePublicKeys{SigningKey: good.SigningKey, IdentityKey: x25519Pub(t, make([]byte, 32))}, false},
		{"low-order identity key", DevicePublicKeys{SigningKey: good.SigningKey, IdentityKey: weakX}, false},
		{"mixed keys", DevicePublicKeys{SigningKey: good.SigningKey, IdentityKey: other.IdentityKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	k := mustDeviceKeys(t, testRand("d"))
	other := mustDeviceKeys(t, testRand("e"))
	pub := k.Public().SigningKey
	challenge := []byte("server challenge 0123456789abcdef")
	sig := k.SignChallenge(challenge)
	if err := VerifyChallenge(pub, challenge, sig); err != nil {
		t.Fatal(err)
	}
	if err := VerifyChallenge(other.Public().SigningKey, challenge, sig); err == nil {
		t.Error("verified under another device's key")
	}
	if err := VerifyChallenge(pub, append(challenge, 0), sig); err == nil {
		t.Error("verified another challenge")
	}
	if err := VerifyChallenge(pub, challenge, sig[:63]); err == nil {
		t.Error("verified a short signature")
	}
	flipEachByte(sig, func(i int, bad []byte) {
		if VerifyChallenge(pub, challenge, bad) == nil {
			t.Errorf("tampered signature byte %d verified", i)
		}
	})
	// Domain separation: a pure Ed25519 signature of the same bytes, or one
	// with another context, is not a challenge response.
	if VerifyChallenge(pub, challenge, ed25519.Sign(k.SigningKey(), challenge)) == nil {
		t.Error("pure Ed25519 signature accepted as a challenge response")
	}
	if VerifyChallenge(pub, challenge, sign(k.SigningKey(), ContextDeviceList, challenge)) == nil {
		t.Error("device-list-context signature accepted as a challenge response")
	}
	if ed25519.Verify(pub, challenge, sig) {
		t.Error("challenge response verifies as pure Ed25519")
	}
	// A forgeable small-order key is refused even with the trivial signature.
	trivial := make([]byte, 64)
	trivial[0] = 1
	if VerifyChallenge(weakEd25519[1][:], challenge, trivial) == nil {
		t.Error("small-order key accepted")
	}
}
