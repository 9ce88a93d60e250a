package vrf

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"math/big"
	mathrand "math/rand/v2"
	"slices"
	"testing"

	"filippo.io/edwards25519"
)

// detRand returns a deterministic reader for tests.
func detRand(seed uint64) *mathrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mathrand.NewChaCha8(s)
}

func testKey(t testing.TB, seed uint64) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(detRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// groupOrder is L = 2^252 + 27742317777372353535851937790883648493.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// leBytes returns the n-byte little-endian encoding of x.
func leBytes(x *big.Int, n int) []byte {
	b := x.FillBytes(make([]byte, n))
	slices.Reverse(b)
	return b
}

func leInt(b []byte) *big.Int {
	r := slices.Clone(b)
	slices.Reverse(r)
	return new(big.Int).SetBytes(r)
}

// TestPublicKeyIsEd25519PublicKey checks the key expansion against the
// standard library: RFC 9381, Section 5.5 derives the key as RFC 8032 does.
func TestPublicKeyIsEd25519PublicKey(t *testing.T) {
	r := detRand(1)
	for range 20 {
		seed := make([]byte, SeedSize)
		r.Read(seed)
		k, err := NewPrivateKeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		want := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if got := k.Public().Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("seed %x: public key %x, Ed25519 gives %x", seed, got, want)
		}
		if !bytes.Equal(k.Seed(), seed) {
			t.Fatal("Seed does not return the seed")
		}
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := testKey(t, 7), testKey(t, 7)
	if !a.Equal(b) || !a.Public().Equal(b.Public()) {
		t.Error("same randomness gave different keys")
	}
	if c := testKey(t, 8); c.Equal(a) || c.Public().Equal(a.Public()) {
		t.Error("different randomness gave the same key")
	}
	// The key comes from the first 32 bytes of the reader.
	seed := make([]byte, SeedSize)
	detRand(7).Read(seed)
	s, err := NewPrivateKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(a) {
		t.Error("GenerateKey does not use the reader's first 32 bytes as the seed")
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, SeedSize-1))); err == nil {
		t.Error("GenerateKey accepted a short read")
	}
}

func TestNewPrivateKeyFromSeedLength(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := NewPrivateKeyFromSeed(make([]byte, n)); err == nil {
			t.Errorf("accepted a %d-byte seed", n)
		}
	}
}

func TestSeedIsACopy(t *testing.T) {
	k := testKey(t, 2)
	s := k.Seed()
	s[0] ^= 1
	if bytes.Equal(k.Seed(), s) {
		t.Error("Seed returned the key's own storage")
	}
	p := k.Public()
	b := p.Bytes()
	b[0] ^= 1
	if bytes.Equal(p.Bytes(), b) {
		t.Error("PublicKey.Bytes returned the key's own storage")
	}
}

func TestProveVerify(t *testing.T) {
	k := testKey(t, 3)
	pk, err := ParsePublicKey(k.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte{0xa5}, 10000)
	for _, tc := range []struct {
		name  string
		alpha []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"label", []byte("acct:0123456789abcdef0123456789abcdef")},
		{"handle", []byte("handle:alice")},
		{"long", long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proof, beta := k.Prove(tc.alpha)
			got, err := pk.Verify(tc.alpha, proof[:])
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != beta {
				t.Fatalf("Verify beta %x, Prove beta %x", got, beta)
			}
			if h, err := ProofToHash(proof[:]); err != nil || h != beta {
				t.Fatalf("ProofToHash = %x, %v", h, err)
			}
			// Deterministic: the same key, from the same seed, gives the
			// same proof.
			k2, _ := NewPrivateKeyFromSeed(k.Seed())
			proof2, beta2 := k2.Prove(tc.alpha)
			if proof2 != proof || beta2 != beta {
				t.Fatal("Prove is not deterministic")
			}
		})
	}
	// nil and empty alpha are the same input.
	p1, _ := k.Prove(nil)
	p2, _ := k.Prove([]byte{})
	if p1 != p2 {
		t.Error("nil and empty alpha differ")
	}
}

// TestOutputsDiffer checks that different inputs and different keys give
// different outputs (a collision of 64-byte outputs would be a bug).
func TestOutputsDiffer(t *testing.T) {
	seen := map[[OutputSize]byte]string{}
	for i := range 4 {
		k := testKey(t, uint64(100+i))
		for _, alpha := range []string{"", "a", "b", "acct:1", "acct:2"} {
			_, beta := k.Prove([]byte(alpha))
			id := string(rune('0'+i)) + "/" + alpha
			if prev, ok := seen[beta]; ok {
				t.Fatalf("%s and %s have the same output", prev, id)
			}
			seen[beta] = id
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	k := testKey(t, 4)
	other := testKey(t, 5)
	alpha := []byte("acct:alice")
	proof, _ := k.Prove(alpha)
	pk := k.Public()

	t.Run("wrong key", func(t *testing.T) {
		if _, err := other.Public().Verify(alpha, proof[:]); err == nil {
			t.Fatal("verified under another key")
		}
	})
	t.Run("wrong alpha", func(t *testing.T) {
		for _, a := range [][]byte{nil, []byte("acct:alicf"), []byte("acct:alice "), []byte("acct:alic")} {
			if _, err := pk.Verify(a, proof[:]); err == nil {
				t.Fatalf("verified for alpha %q", a)
			}
		}
	})
	t.Run("other key's proof", func(t *testing.T) {
		op, _ := other.Prove(alpha)
		if _, err := pk.Verify(alpha, op[:]); err == nil {
			t.Fatal("verified another key's proof")
		}
	})
	t.Run("every bit flipped", func(t *testing.T) {
		for i := range ProofSize {
			for bit := range 8 {
				p := proof
				p[i] ^= 1 << bit
				if beta, err := pk.Verify(alpha, p[:]); err == nil {
					t.Fatalf("verified with byte %d bit %d flipped", i, bit)
				} else if beta != ([OutputSize]byte{}) {
					t.Fatal("failed verification returned an output")
				}
			}
		}
	})
	t.Run("wrong length", func(t *testing.T) {
		for _, n := range []int{0, 1, ProofSize - 1, ProofSize + 1, 2 * ProofSize} {
			p := make([]byte, n)
			copy(p, proof[:])
			if _, err := pk.Verify(alpha, p); err == nil {
				t.Fatalf("verified a %d-byte proof", n)
			}
			if _, err := ProofToHash(p); err == nil {
				t.Fatalf("ProofToHash took a %d-byte proof", n)
			}
		}
	})
	t.Run("zero public key", func(t *testing.T) {
		var zero PublicKey
		if _, err := zero.Verify(alpha, proof[:]); err == nil {
			t.Fatal("the zero PublicKey verified a proof")
		}
		if zero.Bytes() != nil {
			t.Fatal("the zero PublicKey has an encoding")
		}
	})
	t.Run("all zero and all ones", func(t *testing.T) {
		for _, b := range []byte{0x00, 0xff} {
			p := bytes.Repeat([]byte{b}, ProofSize)
			if _, err := pk.Verify(alpha, p); err == nil {
				t.Fatalf("verified %x", p)
			}
		}
	})
}

// TestVerifyRejectsSPlusL checks that s is rejected unless s < L (RFC 9381,
// Section 5.4.4: "if s >= q, output INVALID and stop"). s + L is a
// different encoding of the same scalar: reduced mod L, the proof would
// verify, which is why the check matters.
func TestVerifyRejectsSPlusL(t *testing.T) {
	for _, tv := range loadRFCVectors(t) {
		pk, err := ParsePublicKey(tv.PK)
		if err != nil {
			t.Fatal(err)
		}
		s := leInt(tv.Pi[ptLen+cLen:])
		for _, m := range []int64{1, 2, 8} {
			big2 := new(big.Int).Add(s, new(big.Int).Mul(big.NewInt(m), groupOrder))
			if big2.BitLen() > 8*qLen {
				continue
			}
			p := slices.Clone([]byte(tv.Pi))
			copy(p[ptLen+cLen:], leBytes(big2, qLen))
			// The same scalar mod L: a verifier that reduced s would accept.
			wide := make([]byte, 64)
			copy(wide, p[ptLen+cLen:])
			red, _ := edwards25519.NewScalar().SetUniformBytes(wide)
			if !bytes.Equal(red.Bytes(), tv.Pi[ptLen+cLen:]) {
				t.Fatal("test bug: s + mL does not reduce to s")
			}
			if _, err := pk.Verify(tv.Alpha, p); err == nil {
				t.Errorf("example %d: verified with s + %d*L", tv.Example, m)
			}
			if _, err := ProofToHash(p); err == nil {
				t.Errorf("example %d: ProofToHash took s + %d*L", tv.Example, m)
			}
		}
	}
	// s = L and s = 2^256 - 1 are rejected; s = L - 1 decodes.
	var g edwards25519.Point
	var sc edwards25519.Scalar
	base := edwards25519.NewGeneratorPoint().Bytes()
	for _, tc := range []struct {
		s  *big.Int
		ok bool
	}{
		{new(big.Int).Sub(groupOrder, big.NewInt(1)), true},
		{groupOrder, false},
		{new(big.Int).Add(groupOrder, big.NewInt(1)), false},
		{new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), false},
	} {
		p := append(append(slices.Clone(base), make([]byte, cLen)...), leBytes(tc.s, qLen)...)
		if err := decodeProof(&g, &sc, p); (err == nil) != tc.ok {
			t.Errorf("decodeProof with s = %v: err = %v, want ok = %v", tc.s, err, tc.ok)
		}
	}
}

// nonCanonicalEncodings returns every encoding that RFC 8032's decoding
// rejects as non-canonical but that edwards25519's lenient SetBytes accepts,
// with the canonical encoding of the point each one decodes to. They are
// the y coordinates p..2^255-1 (y - p < 19) that lie on the curve, with
// either sign bit, and the encodings of x = 0 with the sign bit set.
func nonCanonicalEncodings(t testing.TB) (encs, canon [][]byte) {
	t.Helper()
	for y := range 19 {
		for _, sign := range []byte{0, 0x80} {
			b := bytes.Repeat([]byte{0xff}, 32)
			b[0] = byte(0xed + y)
			b[31] = 0x7f | sign
			p, err := new(edwards25519.Point).SetBytes(b)
			if err != nil {
				continue // y - p is not the y coordinate of a point
			}
			encs = append(encs, b)
			canon = append(canon, p.Bytes())
		}
	}
	for _, s := range []string{
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign bit set
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, sign bit set
	} {
		b := mustHex(t, s)
		p, err := new(edwards25519.Point).SetBytes(b)
		if err != nil {
			t.Fatalf("SetBytes(%s): %v", s, err)
		}
		encs = append(encs, b)
		canon = append(canon, p.Bytes())
	}
	if len(encs) < 10 {
		t.Fatalf("only %d non-canonical encodings found", len(encs))
	}
	for i := range encs {
		if bytes.Equal(encs[i], canon[i]) {
			t.Fatalf("test bug: %x is canonical", encs[i])
		}
	}
	return encs, canon
}

func TestStringToPointRejectsNonCanonical(t *testing.T) {
	encs, canon := nonCanonicalEncodings(t)
	var p edwards25519.Point
	for i, b := range encs {
		if err := stringToPoint(&p, b); err == nil {
			t.Errorf("accepted non-canonical %x", b)
		}
		if err := stringToPoint(&p, canon[i]); err != nil {
			t.Errorf("rejected canonical %x: %v", canon[i], err)
		}
	}
}

// TestStringToPointMatchesReencoding checks the byte-level canonicality test
// against its definition: an encoding is canonical when it is the encoding
// of the point it decodes to.
func TestStringToPointMatchesReencoding(t *testing.T) {
	r := detRand(9)
	var cases [][]byte
	encs, canon := nonCanonicalEncodings(t)
	cases = append(cases, encs...)
	cases = append(cases, canon...)
	for range 2000 {
		b := make([]byte, 32)
		r.Read(b)
		cases = append(cases, b)
		// Near the top of the field too, where y >= p can happen.
		c := bytes.Repeat([]byte{0xff}, 32)
		c[0] = byte(r.Uint64())
		c[31] = 0x7f | byte(r.Uint64())&0x80
		cases = append(cases, c)
	}
	for _, b := range cases {
		checkStringToPoint(t, b)
	}
}

func checkStringToPoint(t *testing.T, b []byte) {
	t.Helper()
	var p edwards25519.Point
	err := stringToPoint(&p, b)
	q, lerr := new(edwards25519.Point).SetBytes(b)
	want := lerr == nil && bytes.Equal(q.Bytes(), b)
	if (err == nil) != want {
		t.Fatalf("stringToPoint(%x) = %v, want ok = %v", b, err, want)
	}
	if err == nil && p.Equal(q) != 1 {
		t.Fatalf("stringToPoint(%x) decoded another point", b)
	}
}

// smallOrderCanonical are the encodings of the eight points of order 1, 2, 4
// and 8 on edwards25519.
var smallOrderCanonical = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
}

// smallOrderNonCanonical are the other encodings that decode (leniently) to
// points of small order.
var smallOrderNonCanonical = []string{
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = -0
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p + 1
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // identity, y = p + 1, x = -0
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = -0
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 4, y = p
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 4, y = p
}

// TestSmallOrderLists checks the two lists above independently of the
// package: the canonical list is exactly {i*T : 0 <= i < 8} for a point T of
// order 8, and every non-canonical entry decodes to one of them.
func TestSmallOrderLists(t *testing.T) {
	T, err := new(edwards25519.Point).SetBytes(mustHex(t, smallOrderCanonical[6]))
	if err != nil {
		t.Fatal(err)
	}
	var multiples []string
	acc := edwards25519.NewIdentityPoint()
	for range 8 {
		multiples = append(multiples, hex.EncodeToString(acc.Bytes()))
		acc.Add(acc, T)
	}
	if acc.Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("T does not have order dividing 8")
	}
	slices.Sort(multiples)
	want := slices.Sorted(slices.Values(smallOrderCanonical))
	if !slices.Equal(multiples, want) || len(slices.Compact(multiples)) != 8 {
		t.Fatalf("multiples of T %v, want %v", multiples, want)
	}
	for _, s := range smallOrderNonCanonical {
		p, err := new(edwards25519.Point).SetBytes(mustHex(t, s))
		if err != nil {
			t.Fatalf("%s does not decode: %v", s, err)
		}
		if !slices.Contains(smallOrderCanonical, hex.EncodeToString(p.Bytes())) || hex.EncodeToString(p.Bytes()) == s {
			t.Fatalf("%s is not a non-canonical encoding of a small-order point", s)
		}
	}
	// Every lenient encoding of a small-order point is in one of the lists.
	encs, canon := nonCanonicalEncodings(t)
	for i, b := range encs {
		if slices.Contains(smallOrderCanonical, hex.EncodeToString(canon[i])) &&
			!slices.Contains(smallOrderNonCanonical, hex.EncodeToString(b)) {
			t.Errorf("%x decodes to a small-order point but is not listed", b)
		}
	}
}

func TestParsePublicKeyRejectsSmallOrder(t *testing.T) {
	var p edwards25519.Point
	for _, s := range smallOrderCanonical {
		b := mustHex(t, s)
		// Canonical: string_to_point accepts it, so the rejection below
		// comes from the cofactor check of ECVRF_validate_key.
		if err := stringToPoint(&p, b); err != nil {
			t.Fatalf("stringToPoint(%s): %v", s, err)
		}
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("accepted small-order key %s", s)
		}
	}
	for _, s := range smallOrderNonCanonical {
		if _, err := ParsePublicKey(mustHex(t, s)); err == nil {
			t.Errorf("accepted small-order key %s", s)
		}
	}
}

// TestParsePublicKeyMixedOrder checks that the key check is for small order
// only: Y + T, a point of mixed order, is a valid key (RFC 9381
// does not require Y to lie in the prime-order subgroup), but a proof made
// for Y does not verify under it.
func TestParsePublicKeyMixedOrder(t *testing.T) {
	k := testKey(t, 6)
	T, _ := new(edwards25519.Point).SetBytes(mustHex(t, smallOrderCanonical[4]))
	y := new(edwards25519.Point).Add(&k.pub.y, T)
	pk, err := ParsePublicKey(y.Bytes())
	if err != nil {
		t.Fatalf("rejected a point of mixed order: %v", err)
	}
	proof, _ := k.Prove([]byte("x"))
	if _, err := pk.Verify([]byte("x"), proof[:]); err == nil {
		t.Fatal("a proof for Y verified under Y + T")
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKey(t, 10)
	good := k.Public().Bytes()
	pk, err := ParsePublicKey(good)
	if err != nil || !pk.Equal(k.Public()) || !bytes.Equal(pk.Bytes(), good) {
		t.Fatalf("ParsePublicKey(%x) = %x, %v", good, pk.Bytes(), err)
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := ParsePublicKey(make([]byte, n)); err == nil {
			t.Errorf("accepted %d bytes", n)
		}
	}
	encs, _ := nonCanonicalEncodings(t)
	for _, b := range encs {
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("accepted non-canonical %x", b)
		}
	}
	// A y coordinate with no x on the curve.
	notOnCurve := mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000")
	if _, err := new(edwards25519.Point).SetBytes(notOnCurve); err == nil {
		t.Fatal("test bug: y = 2 is on the curve")
	}
	if _, err := ParsePublicKey(notOnCurve); err == nil {
		t.Error("accepted a point not on the curve")
	}
}

// TestDecodeProofRejectsNonCanonicalGamma checks that a Gamma that decodes
// only leniently is refused (RFC 9381, Section 5.4.4, through
// string_to_point). Accepting it would give each such proof a second
// encoding.
func TestDecodeProofRejectsNonCanonicalGamma(t *testing.T) {
	encs, canon := nonCanonicalEncodings(t)
	var g edwards25519.Point
	var s edwards25519.Scalar
	k := testKey(t, 11)
	for i, b := range encs {
		p := make([]byte, ProofSize)
		copy(p, canon[i])
		if err := decodeProof(&g, &s, p); err != nil {
			t.Fatalf("canonical Gamma %x rejected: %v", canon[i], err)
		}
		copy(p, b)
		if err := decodeProof(&g, &s, p); err == nil {
			t.Errorf("non-canonical Gamma %x accepted", b)
		}
		if _, err := ProofToHash(p); err == nil {
			t.Errorf("ProofToHash took non-canonical Gamma %x", b)
		}
		if _, err := k.Public().Verify(nil, p); err == nil {
			t.Errorf("Verify took non-canonical Gamma %x", b)
		}
	}
	// Gamma not on the curve.
	p := make([]byte, ProofSize)
	p[0] = 2
	if err := decodeProof(&g, &s, p); err == nil {
		t.Error("Gamma off the curve accepted")
	}
}

// TestEncodeToCurveOutput checks properties of H that the vectors exercise
// only three times: H is cofactor-cleared (in the prime-order subgroup, not
// the identity), its reported encoding is its own, and the counter matches
// a search done here from the definition.
func TestEncodeToCurveOutput(t *testing.T) {
	salt := testKey(t, 12).Public().Bytes()
	ctrs := map[int]int{}
	lScalarMinus1 := edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())
	for i := range 300 {
		alpha := []byte{byte(i), byte(i >> 8)}
		var h edwards25519.Point
		var hs [ptLen]byte
		ctr, err := encodeToCurve(&h, &hs, salt, alpha)
		if err != nil {
			t.Fatal(err)
		}
		ctrs[ctr]++
		if !bytes.Equal(h.Bytes(), hs[:]) {
			t.Fatal("h_string is not the encoding of H")
		}
		if isSmallOrder(&h) {
			t.Fatal("H has small order")
		}
		// (L-1)*H = -H holds only for H of order L.
		m := new(edwards25519.Point).ScalarMult(lScalarMinus1, &h)
		if m.Equal(new(edwards25519.Point).Negate(&h)) != 1 {
			t.Fatal("H is not in the prime-order subgroup")
		}
		// The first counter whose hash decodes strictly is the one used.
		want := -1
		for c := 0; c <= maxCtr && want < 0; c++ {
			in := append(append([]byte{0x03, 0x01}, salt...), alpha...)
			in = append(in, byte(c), 0x00)
			sum := sha512.Sum512(in)
			q, err := new(edwards25519.Point).SetBytes(sum[:32])
			if err == nil && bytes.Equal(q.Bytes(), sum[:32]) {
				want = c
			}
		}
		if ctr != want {
			t.Fatalf("alpha %x: ctr %d, want %d", alpha, ctr, want)
		}
	}
	// About half of the attempts succeed: with 300 inputs, counters above 0
	// must occur.
	if ctrs[0] == 300 || ctrs[0] < 100 {
		t.Errorf("counter distribution %v is implausible", ctrs)
	}
}

func scalarOne() *edwards25519.Scalar {
	b := make([]byte, 32)
	b[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b)
	return s
}

// TestVerifyErrorsSayOnlyFailed checks that every rejection of a well-formed
// proof is the same error.
func TestVerifyErrorsSayOnlyFailed(t *testing.T) {
	k := testKey(t, 13)
	proof, _ := k.Prove([]byte("a"))
	bad := proof
	bad[ptLen] ^= 1 // c
	_, err1 := k.Public().Verify([]byte("a"), bad[:])
	bad = proof
	bad[0] = 2 // Gamma off the curve (y = 2 ...)
	bad[31] = 0
	for i := 1; i < 31; i++ {
		bad[i] = 0
	}
	_, err2 := k.Public().Verify([]byte("a"), bad[:])
	if err1 == nil || err2 == nil || !errors.Is(err1, errVerify) || !errors.Is(err2, errVerify) {
		t.Fatalf("errors %v and %v, want both %v", err1, err2, errVerify)
	}
}
