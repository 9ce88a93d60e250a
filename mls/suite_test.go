package mls

import (
	"bytes"
	"crypto/hkdf"
	"testing"
)

func TestLabeledExpander(t *testing.T) {
	for id, s := range suites {
		secret := bytes.Repeat([]byte{byte(id)}, s.nh)
		e := s.newExpander(secret)
		for _, n := range []int{s.nk, s.nn, s.nh, 1} {
			for _, ctx := range [][]byte{nil, []byte("context"), bytes.Repeat([]byte{7}, 300)} {
				want := s.expandWithLabel(secret, "label", ctx, n)
				if got := e.expand("label", ctx, n); !bytes.Equal(got, want) {
					t.Fatalf("suite %v length %d: expander %x, ExpandWithLabel %x", id, n, got, want)
				}
			}
		}
		// And ExpandWithLabel itself is crypto/hkdf.Expand over KDFLabel.
		out, err := hkdf.Expand(s.newHash, secret, "\x00\x10\x0dMLS 1.0 label\x00", 16)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, s.expandWithLabel(secret, "label", nil, 16)) {
			t.Fatalf("suite %v: KDFLabel encoding differs", id)
		}
	}
}
