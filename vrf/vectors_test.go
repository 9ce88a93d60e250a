package vrf

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"filippo.io/edwards25519"
)

// hexBytes is a byte string written in JSON as lowercase hex.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// rfcVector is one example of RFC 9381, Appendix B.3. K is the RFC's k: the
// 64-byte k_string of Section 5.4.2.2 before reduction mod q. X is the
// clamped secret scalar before reduction mod q, as the RFC prints it.
type rfcVector struct {
	Example int      `json:"example"`
	SK      hexBytes `json:"sk"`
	PK      hexBytes `json:"pk"`
	Alpha   hexBytes `json:"alpha"`
	X       hexBytes `json:"x"`
	Ctr     int      `json:"ctr"`
	H       hexBytes `json:"h"`
	K       hexBytes `json:"k"`
	U       hexBytes `json:"u"`
	V       hexBytes `json:"v"`
	Pi      hexBytes `json:"pi"`
	Beta    hexBytes `json:"beta"`
}

func loadRFCVectors(t testing.TB) []rfcVector {
	t.Helper()
	data, err := os.ReadFile("testdata/rfc9381_b3.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		SuiteString string      `json:"suite_string"`
		Vectors     []rfcVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if file.SuiteString != "03" {
		t.Fatalf("vector file is for suite %s, want 03", file.SuiteString)
	}
	if len(file.Vectors) != 3 {
		t.Fatalf("got %d vectors, want the 3 examples of Appendix B.3", len(file.Vectors))
	}
	return file.Vectors
}

// TestRFC9381Vectors checks every value that Appendix B.3 prints, the
// intermediate ones included, byte for byte.
func TestRFC9381Vectors(t *testing.T) {
	for _, tv := range loadRFCVectors(t) {
		t.Run(fmt.Sprintf("example%d", tv.Example), func(t *testing.T) {
			sk, err := NewPrivateKeyFromSeed(tv.SK)
			if err != nil {
				t.Fatal(err)
			}
			// Key expansion (RFC 8032, Section 5.1.5).
			h := sha512.Sum512(tv.SK)
			clamped := append([]byte(nil), h[:32]...)
			clamped[0] &= 248
			clamped[31] &= 127
			clamped[31] |= 64
			if !bytes.Equal(clamped, tv.X) {
				t.Errorf("x = %x, want %x", clamped, tv.X)
			}
			wantX, _ := edwards25519.NewScalar().SetBytesWithClamping(tv.X)
			if sk.x.Equal(wantX) != 1 {
				t.Errorf("secret scalar differs from x mod L")
			}
			if got := sk.Public().Bytes(); !bytes.Equal(got, tv.PK) {
				t.Errorf("PK = %x, want %x", got, tv.PK)
			}
			pk, err := ParsePublicKey(tv.PK)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !pk.Equal(sk.Public()) {
				t.Error("parsed key differs from derived key")
			}

			// H = ECVRF_encode_to_curve(PK, alpha) and its counter.
			var hp edwards25519.Point
			var hString [ptLen]byte
			ctr, err := encodeToCurve(&hp, &hString, tv.PK, tv.Alpha)
			if err != nil {
				t.Fatal(err)
			}
			if ctr != tv.Ctr {
				t.Errorf("try_and_increment succeeded on ctr = %d, want %d", ctr, tv.Ctr)
			}
			if !bytes.Equal(hString[:], tv.H) {
				t.Errorf("H = %x, want %x", hString, tv.H)
			}

			// k_string, then U = k*B and V = k*H.
			kString := nonceString(&sk.prefix, hString[:])
			if !bytes.Equal(kString[:], tv.K) {
				t.Errorf("k = %x, want %x", kString, tv.K)
			}
			nonce := sk.nonce(hString[:])
			u := new(edwards25519.Point).ScalarBaseMult(nonce).Bytes()
			if !bytes.Equal(u, tv.U) {
				t.Errorf("U = %x, want %x", u, tv.U)
			}
			v := new(edwards25519.Point).ScalarMult(nonce, &hp).Bytes()
			if !bytes.Equal(v, tv.V) {
				t.Errorf("V = %x, want %x", v, tv.V)
			}

			// pi and beta, from the prover and from the verifier.
			proof, beta := sk.Prove(tv.Alpha)
			if !bytes.Equal(proof[:], tv.Pi) {
				t.Errorf("pi = %x, want %x", proof, tv.Pi)
			}
			if !bytes.Equal(beta[:], tv.Beta) {
				t.Errorf("Prove beta = %x, want %x", beta, tv.Beta)
			}
			vbeta, err := pk.Verify(tv.Alpha, tv.Pi)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(vbeta[:], tv.Beta) {
				t.Errorf("Verify beta = %x, want %x", vbeta, tv.Beta)
			}
			hbeta, err := ProofToHash(tv.Pi)
			if err != nil {
				t.Fatalf("ProofToHash: %v", err)
			}
			if !bytes.Equal(hbeta[:], tv.Beta) {
				t.Errorf("ProofToHash = %x, want %x", hbeta, tv.Beta)
			}
		})
	}
}
