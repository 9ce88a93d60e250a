package keytrans

import (
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestVerifierKeys(t *testing.T) {
	w := newWorld(t, "keys")
	lk := w.logKey()
	// Our log vkey is the one x/mod's note package produces and accepts.
	if lk.String() != w.signer.VerifierKey() {
		t.Fatalf("%s != %s", lk.String(), w.signer.VerifierKey())
	}
	if _, err := note.NewVerifier(lk.String()); err != nil {
		t.Fatal(err)
	}
	got, err := ParseLogKey(lk.String())
	if err != nil || got.Origin != lk.Origin || !got.Key.Equal(lk.Key) {
		t.Fatalf("log key round trip: %v", err)
	}
	wk := w.witnesses[0].Cosigner().Public()
	gw, err := ParseWitnessKey(wk.String())
	if err != nil || gw.Name != wk.Name || !gw.Key.Equal(wk.Key) {
		t.Fatalf("witness key round trip: %v", err)
	}
	// A witness key is not a log key and vice versa; a wrong ID fails.
	if _, err := ParseLogKey(wk.String()); err == nil {
		t.Fatal("witness key parsed as log key")
	}
	if _, err := ParseWitnessKey(lk.String()); err == nil {
		t.Fatal("log key parsed as witness key")
	}
	s := lk.String()
	bad := s[:len(testOrigin)+1] + "00000000" + s[len(testOrigin)+9:]
	if _, err := ParseLogKey(bad); err == nil {
		t.Fatal("wrong key ID accepted")
	}
	for _, b := range []string{"", "a+b", "a+0000000+AQ==", testOrigin + "+ZZZZZZZZ+AQ=="} {
		if _, err := ParseLogKey(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

func TestParseWitnessSize(t *testing.T) {
	if n, err := ParseWitnessSize([]byte("20852014\n")); err != nil || n != 20852014 {
		t.Fatal(n, err)
	}
	for _, b := range []string{"", "1", "01\n", "-1\n", "1\n\n", "x\n"} {
		if _, err := ParseWitnessSize([]byte(b)); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}

func FuzzParseVerifierKey(f *testing.F) {
	w := newWorld(f, "fuzz-keys")
	f.Add(w.logKey().String())
	f.Add(w.witnesses[0].Cosigner().Public().String())
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseLogKey(s); err == nil && k.String() != s {
			t.Fatalf("log key round trip %q != %q", k.String(), s)
		}
		if k, err := ParseWitnessKey(s); err == nil && k.String() != s {
			t.Fatalf("witness key round trip %q != %q", k.String(), s)
		}
	})
}
