package identity

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type safetyNumberVector struct {
	Name            string `json:"name"`
	LocalAccountID  string `json:"local_account_id"`
	LocalAIKSeed    string `json:"local_aik_seed"`
	LocalAIK        string `json:"local_aik"`
	RemoteAccountID string `json:"remote_account_id"`
	RemoteAIKSeed   string `json:"remote_aik_seed"`
	RemoteAIK       string `json:"remote_aik"`
	Digits          string `json:"digits"`
	Display         string `json:"display"`
	QRPayload       string `json:"qr_payload"`
}

// TestSafetyNumberVectors checks the vectors of testdata/safety_numbers.json,
// made once by the independent Python implementation gen_safety_numbers.py.
func TestSafetyNumberVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/safety_numbers.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []safetyNumberVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	party := func(t *testing.T, aidHex, seedHex, aikHex string) (AccountID, AccountPublicKey) {
		t.Helper()
		aid, err := ParseAccountID(aidHex)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseAccountKey(append([]byte{1}, fromHex(t, seedHex)...))
		if err != nil {
			t.Fatal(err)
		}
		if k.Public().String() != aikHex {
			t.Fatalf("seed gives AIK %s, vector says %s", k.Public(), aikHex)
		}
		return aid, k.Public()
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			la, lk := party(t, v.LocalAccountID, v.LocalAIKSeed, v.LocalAIK)
			ra, rk := party(t, v.RemoteAccountID, v.RemoteAIKSeed, v.RemoteAIK)
			for _, swap := range []bool{false, true} {
				var sn *SafetyNumber
				if swap {
					sn, err = NewSafetyNumber(ra, rk, la, lk)
				} else {
					sn, err = NewSafetyNumber(la, lk, ra, rk)
				}
				if err != nil {
					t.Fatal(err)
				}
				if sn.Digits() != v.Digits {
					t.Errorf("swap=%v: digits %s, want %s", swap, sn.Digits(), v.Digits)
				}
				if sn.String() != v.Display {
					t.Errorf("swap=%v: display %q, want %q", swap, sn.String(), v.Display)
				}
				if hex.EncodeToString(sn.QRPayload()) != v.QRPayload {
					t.Errorf("swap=%v: QR %x, want %s", swap, sn.QRPayload(), v.QRPayload)
				}
			}
		})
	}
}

func TestSafetyNumberProperties(t *testing.T) {
	r := testRand("sn")
	alice, bob := mustAccountID(t, r), mustAccountID(t, r)
	ak, bk, ck := mustAccountKey(t, r).Public(), mustAccountKey(t, r).Public(), mustAccountKey(t, r).Public()
	base, err := NewSafetyNumber(alice, ak, bob, bk)
	if err != nil {
		t.Fatal(err)
	}
	// Bob's side.
	other, err := NewSafetyNumber(bob, bk, alice, ak)
	if err != nil {
		t.Fatal(err)
	}
	if base.String() != other.String() || !bytes.Equal(base.QRPayload(), other.QRPayload()) {
		t.Fatal("the two sides disagree")
	}
	d := base.Digits()
	if len(d) != SafetyNumberDigits || strings.Trim(d, "0123456789") != "" {
		t.Fatalf("digits %q", d)
	}
	groups := strings.Split(base.String(), " ")
	if len(groups) != 12 {
		t.Fatalf("%d groups", len(groups))
	}
	for _, g := range groups {
		if len(g) != 5 {
			t.Fatalf("group %q", g)
		}
	}

	// Any change of a key or an ID changes the number and the QR payload.
	flipped := bob
	flipped[15] ^= 1
	for name, args := range map[string][4]any{
		"remote key":      {alice, ak, bob, ck},
		"local key":       {alice, ck, bob, bk},
		"remote id":       {alice, ak, flipped, bk},
		"local id":        {flipped, ak, bob, bk},
		"keys swapped":    {alice, bk, bob, ak},
		"remote is local": {alice, ak, alice, ak},
	} {
		sn, err := NewSafetyNumber(args[0].(AccountID), args[1].(AccountPublicKey), args[2].(AccountID), args[3].(AccountPublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if sn.Digits() == base.Digits() {
			t.Errorf("%s: same digits", name)
		}
		if ok, err := sn.CompareQR(base.QRPayload()); ok || err != nil {
			t.Errorf("%s: CompareQR = %v, %v", name, ok, err)
		}
	}

	for _, tc := range []struct {
		name string
		f    func() (*SafetyNumber, error)
	}{
		{"zero local id", func() (*SafetyNumber, error) { return NewSafetyNumber(AccountID{}, ak, bob, bk) }},
		{"zero remote id", func() (*SafetyNumber, error) { return NewSafetyNumber(alice, ak, AccountID{}, bk) }},
		{"zero local key", func() (*SafetyNumber, error) { return NewSafetyNumber(alice, AccountPublicKey{}, bob, bk) }},
		{"zero remote key", func() (*SafetyNumber, error) { return NewSafetyNumber(alice, ak, bob, AccountPublicKey{}) }},
	} {
		if _, err := tc.f(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestCompareQR(t *testing.T) {
	r := testRand("qr")
	alice, bob := mustAccountID(t, r), mustAccountID(t, r)
	ak, bk := mustAccountKey(t, r).Public(), mustAccountKey(t, r).Public()
	a, _ := NewSafetyNumber(alice, ak, bob, bk)
	b, _ := NewSafetyNumber(bob, bk, alice, ak)
	qr := b.QRPayload()
	if len(qr) != 65 || qr[0] != SafetyNumberVersion {
		t.Fatalf("payload %x", qr)
	}
	if ok, err := a.CompareQR(qr); !ok || err != nil {
		t.Fatalf("CompareQR(own peer) = %v, %v", ok, err)
	}
	for i := 1; i < len(qr); i++ {
		bad := bytes.Clone(qr)
		bad[i] ^= 0x40
		if ok, err := a.CompareQR(bad); ok || err != nil {
			t.Errorf("byte %d flipped: %v, %v", i, ok, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, qr[1:]...)},
		{"version 2", append([]byte{2}, qr[1:]...)},
		{"short", qr[:64]},
		{"trailing", append(bytes.Clone(qr), 0)},
	} {
		if ok, err := a.CompareQR(tc.in); ok || err == nil {
			t.Errorf("%s: CompareQR = %v, %v; want an error", tc.name, ok, err)
		}
	}
}
