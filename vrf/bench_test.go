package vrf

import (
	"crypto/ed25519"
	"testing"

	"filippo.io/edwards25519"
)

// benchAlpha is a key-transparency label of typical length.
var benchAlpha = []byte("acct:0123456789abcdef0123456789abcdef")

func BenchmarkProve(b *testing.B) {
	k := testKey(b, 1)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		k.Prove(benchAlpha)
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKey(b, 1)
	proof, _ := k.Prove(benchAlpha)
	pk := k.Public()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := pk.Verify(benchAlpha, proof[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParse is what a client does with a pinned key it keeps as
// bytes: parse it, then verify.
func BenchmarkVerifyParse(b *testing.B) {
	k := testKey(b, 1)
	proof, _ := k.Prove(benchAlpha)
	enc := k.Public().Bytes()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		pk, err := ParsePublicKey(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pk.Verify(benchAlpha, proof[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProofToHash(b *testing.B) {
	k := testKey(b, 1)
	proof, _ := k.Prove(benchAlpha)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := ProofToHash(proof[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePublicKey(b *testing.B) {
	enc := testKey(b, 1).Public().Bytes()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := ParsePublicKey(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewPrivateKeyFromSeed(b *testing.B) {
	seed := testKey(b, 1).Seed()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := NewPrivateKeyFromSeed(seed); err != nil {
			b.Fatal(err)
		}
	}
}

// Floors. Prove cannot do less than three constant-time scalar
// multiplications: Gamma = x*H, U = k*B (fixed base) and V = k*H. Verify
// cannot do less than U = s*B - c*Y and V = s*H - c*Gamma, one
// variable-time double-base multiplication with B and one two-point
// multiscalar multiplication. The benchmarks below do exactly those, on
// scalars and points like Prove's and Verify's, and nothing else (no
// hashing, no encoding, no decoding).

func floorInputs(b *testing.B) (x, k, c, s *edwards25519.Scalar, y, h, gamma *edwards25519.Point) {
	b.Helper()
	key := testKey(b, 1)
	var hp edwards25519.Point
	var hs [ptLen]byte
	if _, err := encodeToCurve(&hp, &hs, key.pub.enc[:], benchAlpha); err != nil {
		b.Fatal(err)
	}
	proof, _ := key.Prove(benchAlpha)
	var g edwards25519.Point
	var sc edwards25519.Scalar
	if err := decodeProof(&g, &sc, proof[:]); err != nil {
		b.Fatal(err)
	}
	return &key.x, key.nonce(hs[:]), challengeScalar((*[cLen]byte)(proof[ptLen:])), &sc, &key.pub.y, &hp, &g
}

// BenchmarkScalarBaseMultFloor is one fixed-base scalar multiplication, the
// cost of deriving a public key and the cheapest of Prove's three.
func BenchmarkScalarBaseMultFloor(b *testing.B) {
	_, k, _, _, _, _, _ := floorInputs(b)
	var p edwards25519.Point
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		p.ScalarBaseMult(k)
	}
}

// BenchmarkProveFloor is Prove's three constant-time scalar
// multiplications.
func BenchmarkProveFloor(b *testing.B) {
	x, k, _, _, _, h, _ := floorInputs(b)
	var gamma, u, v edwards25519.Point
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		gamma.ScalarMult(x, h)
		u.ScalarBaseMult(k)
		v.ScalarMult(k, h)
	}
}

// BenchmarkVarTimeDoubleScalarBaseMultFloor is U = s*B - c*Y alone: one
// variable-time double-base multiplication (the core of an Ed25519
// verification).
func BenchmarkVarTimeDoubleScalarBaseMultFloor(b *testing.B) {
	_, _, c, s, y, _, _ := floorInputs(b)
	var negC edwards25519.Scalar
	negC.Negate(c)
	var u edwards25519.Point
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		u.VarTimeDoubleScalarBaseMult(&negC, y, s)
	}
}

// BenchmarkVerifyFloor is Verify's two multiscalar multiplications.
func BenchmarkVerifyFloor(b *testing.B) {
	_, _, c, s, y, h, gamma := floorInputs(b)
	var negC edwards25519.Scalar
	negC.Negate(c)
	var u, v edwards25519.Point
	scalars := []*edwards25519.Scalar{s, &negC}
	points := []*edwards25519.Point{h, gamma}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		u.VarTimeDoubleScalarBaseMult(&negC, y, s)
		v.VarTimeMultiScalarMult(scalars, points)
	}
}

// BenchmarkEd25519VerifyReference is a standard-library Ed25519
// verification of a message as long as benchAlpha, for comparison.
func BenchmarkEd25519VerifyReference(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(testKey(b, 1).Seed())
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, benchAlpha)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if !ed25519.Verify(pub, benchAlpha, sig) {
			b.Fatal("verify failed")
		}
	}
}

// reportCPU starts measuring the process CPU time; the function it returns,
// deferred, reports it per operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPUTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPUTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
