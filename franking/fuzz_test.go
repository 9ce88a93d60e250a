package franking

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzOpen(f *testing.F) {
	r := detRand(30)
	for _, content := range [][]byte{nil, {0}, []byte("hello")} {
		pt, c, _ := Frank(r, content, Commitment{1}, Commitment{})
		f.Add(pt, c[:])
	}
	f.Add([]byte{}, make([]byte, 32))
	f.Add([]byte{1}, make([]byte, 32))
	f.Add(append([]byte{1}, make([]byte, 100)...), make([]byte, 32))
	f.Fuzz(func(t *testing.T, pt, c []byte) {
		if len(c) != CommitmentSize {
			return
		}
		p, perr := ParsePlaintext(pt)
		o, oerr := Open(pt, Commitment(c))
		if perr != nil {
			if oerr == nil {
				t.Fatal("Open accepted what ParsePlaintext rejected")
			}
			return
		}
		enc, err := p.Marshal()
		if err != nil || !bytes.Equal(enc, pt) {
			t.Fatalf("plaintext does not round-trip: %v", err)
		}
		if oerr == nil {
			if o.Commitment() != Commitment(c) {
				t.Fatal("opened with a commitment that does not match")
			}
		} else if !errors.Is(oerr, ErrCommitmentMismatch) {
			t.Fatalf("parseable plaintext failed with %v", oerr)
		}
	})
}

func FuzzParseContext(f *testing.F) {
	for _, ctx := range []Context{testContext(Commitment{1}), {Kind: Group, Conversation: []byte{1}}} {
		b, _ := ctx.Marshal()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, err := ParseContext(b)
		if err != nil {
			return
		}
		enc, err := ctx.Marshal()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("context does not round-trip: %v", err)
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	r := detRand(31)
	kr, _ := GenerateKeyring(r)
	b, _ := kr.Marshal()
	f.Add(b)
	kr.Rotate(r, 9)
	b, _ = kr.Marshal()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		kr, err := ParseKeyring(b)
		if err != nil {
			return
		}
		enc, err := kr.Marshal()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("keyring does not round-trip: %v", err)
		}
		if _, err := kr.Tag(testContext(Commitment{})); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzVerifyReport parses arbitrary report bytes and verifies them against a
// fixed keyring: parsing must round-trip, and verification must never panic
// nor accept a report whose items were not tagged by the keyring.
func FuzzVerifyReport(f *testing.F) {
	w := chat(f, 4)
	b, _ := MarshalReport(w.all())
	f.Add(b)
	b, _ = MarshalReport(w.pick(2))
	f.Add(b)
	f.Add([]byte{1, 0, 1})
	f.Add([]byte{})
	kr := w.kr
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := ParseReport(b)
		if err != nil {
			return
		}
		enc, err := MarshalReport(items)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("report does not round-trip: %v", err)
		}
		for _, reporter := range [][16]byte{alice, bob} {
			tr, err := VerifyReport(kr, reporter, items)
			if err != nil {
				var ie *ItemError
				if !errors.As(err, &ie) || ie.Index < 0 || ie.Index >= len(items) {
					t.Fatalf("error %v names no item", err)
				}
				continue
			}
			if len(tr.Items) != len(items) {
				t.Fatal("transcript lost items")
			}
			for _, it := range tr.Items {
				if err := kr.Verify(items[it.ReportIndex].Tag, it.Context); err != nil {
					t.Fatal("accepted an item whose tag does not verify")
				}
			}
		}
	})
}
