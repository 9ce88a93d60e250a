package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

func TestAccountIDText(t *testing.T) {
	id := mustAccountID(t, testRand("aid"))
	s := id.String()
	if len(s) != 32 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 32 lowercase hex digits", s)
	}
	got, err := ParseAccountID(s)
	if err != nil || got != id {
		t.Fatalf("ParseAccountID(%q) = %v, %v; want %v", s, got, err, id)
	}
	j, err := json.Marshal(struct{ ID AccountID }{id})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ ID AccountID }
	if err := json.Unmarshal(j, &back); err != nil || back.ID != id {
		t.Fatalf("JSON round trip: %v, %v", back.ID, err)
	}

	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"short", s[:31]},
		{"long", s + "0"},
		{"uppercase", strings.ToUpper("0123456789abcdef0123456789abcdef")},
		{"non-hex", "0123456789abcdef0123456789abcdeg"},
		{"zero", strings.Repeat("0", 32)},
		{"spaces", " 123456789abcdef0123456789abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseAccountID(tc.in); err == nil {
				t.Errorf("ParseAccountID(%q) succeeded", tc.in)
			} else if !strings.HasPrefix(err.Error(), "identity: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestNewAccountIDShortRead(t *testing.T) {
	if _, err := NewAccountID(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Fatal("NewAccountID succeeded on a short reader")
	}
	if _, err := NewAccountID(bytes.NewReader(make([]byte, 16))); err == nil {
		t.Fatal("NewAccountID accepted an all-zero ID")
	}
}

func TestAccountKeyDeterministic(t *testing.T) {
	a := mustAccountKey(t, testRand("k"))
	b := mustAccountKey(t, testRand("k"))
	c := mustAccountKey(t, testRand("other"))
	if a.Public() != b.Public() {
		t.Fatal("same seed, different keys")
	}
	if a.Public() == c.Public() {
		t.Fatal("different seeds, same key")
	}
	// RFC 8032, Section 7.1, TEST 1: the seed gives this public key.
	seed := fromHex(t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	k, err := GenerateAccountKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Public().String(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"; got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
	if _, err := GenerateAccountKey(bytes.NewReader(seed[:31])); err == nil {
		t.Fatal("GenerateAccountKey succeeded on a short reader")
	}
}

func TestAccountKeyMarshal(t *testing.T) {
	k := mustAccountKey(t, testRand("k"))
	enc := mustMarshal(t, k.MarshalBinary)
	if len(enc) != 33 || enc[0] != 1 {
		t.Fatalf("encoding %x: want version 1 and 33 bytes", enc)
	}
	back, err := ParseAccountKey(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Public() != k.Public() || !bytes.Equal(mustMarshal(t, back.MarshalBinary), enc) {
		t.Fatal("round trip changed the key")
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version only", enc[:1]},
		{"short", enc[:32]},
		{"trailing", append(bytes.Clone(enc), 0)},
		{"version 0", append([]byte{0}, enc[1:]...)},
		{"version 2", append([]byte{2}, enc[1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseAccountKey(tc.in); err == nil {
				t.Error("ParseAccountKey succeeded")
			}
		})
	}
}

func TestParseAccountPublicKey(t *testing.T) {
	k := mustAccountKey(t, testRand("k")).Public()
	got, err := ParseAccountPublicKey(k.Bytes())
	if err != nil || got != k {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if _, err := ParseAccountPublicKey(k.Bytes()[:31]); err == nil {
		t.Error("accepted 31 bytes")
	}
	if _, err := ParseAccountPublicKey(append(k.Bytes(), 0)); err == nil {
		t.Error("accepted 33 bytes")
	}
	for i, w := range weakEd25519 {
		for _, sign := range []byte{0, 0x80} {
			b := w
			b[31] |= sign
			if _, err := ParseAccountPublicKey(b[:]); err == nil {
				t.Errorf("accepted weak key %d (sign %x): %x", i, sign, b)
			}
		}
	}
}

// TestWeakEd25519AreForgeable proves that every listed Ed25519 encoding that
// Go's verifier accepts as a point is a torsion point: the trivial signature
// (R = identity, S = 0) verifies for some message, which is impossible for a
// point with a prime-order component. It catches a mistyped entry.
func TestWeakEd25519AreForgeable(t *testing.T) {
	trivial := make([]byte, 64)
	trivial[0] = 1 // R = encoding of the identity, S = 0
	for i, w := range weakEd25519 {
		for _, sign := range []byte{0, 0x80} {
			pub := w
			pub[31] |= sign
			forged := false
			for m := 0; m < 64 && !forged; m++ {
				forged = ed25519.Verify(pub[:], []byte{byte(m)}, trivial)
			}
			// Go rejects x = 0 with the sign bit set (y = 1, y = p-1, y = p+1);
			// those encodings can never verify and stay blocked for safety.
			xZero := w[0] == 0x01 || w[0] == 0xec || w[0] == 0xee
			if sign == 0x80 && xZero {
				continue
			}
			if !forged {
				t.Errorf("entry %d (sign %x) %x: no forgery found; not a small-order point?", i, sign, pub)
			}
		}
	}
	// A real key is not weak.
	if isWeakEd25519(mustAccountKey(t, testRand("k")).Public().Bytes()) {
		t.Error("a generated key is weak")
	}
}

// TestWeakX25519AreLowOrder checks every listed X25519 encoding against the
// exact test: X25519 with a random scalar gives the all-zero output, which
// crypto/ecdh reports as an error.
func TestWeakX25519AreLowOrder(t *testing.T) {
	priv, err := ecdh.X25519().NewPrivateKey(fromHex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range weakX25519 {
		for _, top := range []byte{0, 0x80} {
			u := w
			u[31] |= top
			pub := x25519Pub(t, u[:])
			if _, err := priv.ECDH(pub); err == nil {
				t.Errorf("entry %d (top %x) %x: X25519 output is not zero", i, top, u)
			}
			if !isWeakX25519(u[:]) {
				t.Errorf("entry %d (top %x) not reported weak", i, top)
			}
		}
	}
	if isWeakX25519(priv.PublicKey().Bytes()) {
		t.Error("a real key is weak")
	}
}
