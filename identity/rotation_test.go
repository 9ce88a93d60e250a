package identity

import (
	"bytes"
	"errors"
	"testing"
)

func TestAccountKeyRotation(t *testing.T) {
	r := testRand("rotation")
	aid := mustAccountID(t, r)
	k0, k1, k2 := mustAccountKey(t, r), mustAccountKey(t, r), mustAccountKey(t, r)
	rot1, err := RotateAccountKey(aid, 1, k0, k1)
	if err != nil {
		t.Fatal(err)
	}
	enc1 := mustMarshal(t, rot1.Marshal)
	if len(enc1) != 1+16+8+32+32+64+64 {
		t.Fatalf("encoding is %d bytes", len(enc1))
	}
	back, err := ParseAccountKeyRotation(enc1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, back.Marshal), enc1) {
		t.Fatal("encode(decode(x)) != x")
	}

	// A client follows a chain of rotations k0 -> k1 -> k2.
	got, err := VerifyAccountKeyRotation(enc1, aid, k0.Public(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.NewKey != k1.Public() || got.Counter != 1 {
		t.Fatalf("rotation %+v", got)
	}
	rot2, _ := RotateAccountKey(aid, 2, k1, k2)
	enc2 := mustMarshal(t, rot2.Marshal)
	if got, err = VerifyAccountKeyRotation(enc2, aid, got.NewKey, got.Counter); err != nil || got.NewKey != k2.Public() {
		t.Fatalf("second rotation: %v", err)
	}

	// Only the new key signed / only the old key signed.
	onlyOld := *rot1
	onlyOld.NewSignature = sign(k2.priv, ContextRotationNew, rot1.tbs())
	onlyNew := *rot1
	onlyNew.OldSignature = sign(k2.priv, ContextRotationOld, rot1.tbs())
	swapped := *rot1
	swapped.OldSignature, swapped.NewSignature = rot1.NewSignature, rot1.OldSignature
	otherAccount, _ := RotateAccountKey(mustAccountID(t, r), 1, k0, k1)

	for _, tc := range []struct {
		name    string
		data    []byte
		trusted AccountPublicKey
		last    uint64
		wantErr error
	}{
		{"replay", enc1, k0.Public(), 1, ErrRollback},
		{"older counter", enc1, k0.Public(), 5, ErrRollback},
		{"untrusted old key", enc2, k0.Public(), 0, ErrUntrustedSigner},
		{"other account", mustMarshal(t, otherAccount.Marshal), k0.Public(), 0, ErrAccountMismatch},
		{"new key did not sign", mustMarshal(t, onlyOld.Marshal), k0.Public(), 0, nil},
		{"old key did not sign", mustMarshal(t, onlyNew.Marshal), k0.Public(), 0, nil},
		{"signatures swapped", mustMarshal(t, swapped.Marshal), k0.Public(), 0, nil},
		{"no trusted key", enc1, AccountPublicKey{}, 0, nil},
		{"trailing byte", append(bytes.Clone(enc1), 0), k0.Public(), 0, nil},
		{"truncated", enc1[:len(enc1)-1], k0.Public(), 0, nil},
		{"version 2", append([]byte{2}, enc1[1:]...), k0.Public(), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyAccountKeyRotation(tc.data, aid, tc.trusted, tc.last)
			if err == nil {
				t.Fatal("verified")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}

	flipEachByte(enc1, func(i int, bad []byte) {
		if _, err := VerifyAccountKeyRotation(bad, aid, k0.Public(), 0); err == nil {
			t.Errorf("flipped byte %d accepted", i)
		}
	})
}

func TestRotateAccountKeyRejects(t *testing.T) {
	r := testRand("rotation")
	aid := mustAccountID(t, r)
	k0, k1 := mustAccountKey(t, r), mustAccountKey(t, r)
	if _, err := RotateAccountKey(aid, 0, k0, k1); err == nil {
		t.Error("counter 0 accepted")
	}
	if _, err := RotateAccountKey(AccountID{}, 1, k0, k1); err == nil {
		t.Error("zero account accepted")
	}
	if _, err := RotateAccountKey(aid, 1, k0, k0); err == nil {
		t.Error("rotation to the same key accepted")
	}
	// A statement with equal keys is rejected by the decoder too.
	rot, _ := RotateAccountKey(aid, 1, k0, k1)
	same := *rot
	same.NewKey = same.OldKey
	var b = mustMarshalRaw(t, &same)
	if _, err := ParseAccountKeyRotation(b); err == nil {
		t.Error("decoder accepted equal keys")
	}
}

// mustMarshalRaw encodes r without the checks of Marshal.
func mustMarshalRaw(t *testing.T, r *AccountKeyRotation) []byte {
	t.Helper()
	return append(append(r.tbs(), r.OldSignature...), r.NewSignature...)
}
