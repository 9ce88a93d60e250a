package mls

import (
	"bytes"
	"testing"
	"testing/cryptotest"
)

// With the injected reader and the standard library's implicit randomness
// (HPKE encapsulation, ECDSA nonces) both fixed, a scenario produces the
// same bytes twice: every random choice goes through one of the two.
func TestDeterministicWithInjectedRandomness(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 0xF001} {
		run := func(t *testing.T) [][]byte {
			cryptotest.SetGlobalRandom(t, 7)
			alice, bob := newClient(t, cs, "alice"), newClient(t, cs, "bob")
			ga, err := NewGroup(cs, []byte("det"), alice.sig, alice.cred, nil, alice.cfg)
			if err != nil {
				t.Fatal(err)
			}
			kp := bob.keyPackage(t)
			res, err := ga.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}, ForcePath: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ga.MergePendingCommit(); err != nil {
				t.Fatal(err)
			}
			gb, err := JoinGroup(res.Welcome, kp, ga.RatchetTree(), bob.cfg)
			if err != nil {
				t.Fatal(err)
			}
			app, err := gb.Protect([]byte("hi"), nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := ga.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return [][]byte{kp.KeyPackage(), res.Commit, res.Welcome, app, st}
		}
		var first [][]byte
		for i := 0; i < 2; i++ {
			t.Run(cs.String(), func(t *testing.T) {
				out := run(t)
				if first == nil {
					first = out
					return
				}
				for j := range out {
					if !bytes.Equal(out[j], first[j]) {
						t.Fatalf("output %d differs between identical runs", j)
					}
				}
			})
		}
	}
}
