package interop

import "testing"

// TestPrivateMessageEpoch checks the epoch reader used to tell a late
// message from a foreign one against real PrivateMessages of both
// implementations, and against truncations of them.
func TestPrivateMessageEpoch(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.Name(), func(t *testing.T) {
			a := newMember(t, "alice", impl, Suite1)
			must(t, a, "create group", a.c.CreateGroup([]byte("epoch-reader")))
			for want := uint64(0); want < 3; want++ {
				ct, err := a.c.Protect(nil, []byte("x"))
				must(t, a, "protect", err)
				got, ok := privateMessageEpoch(ct)
				if !ok || got != want {
					t.Fatalf("epoch %d message: read (%d, %v)", want, got, ok)
				}
				for n := range len(ct) {
					if n < 4+1+len("epoch-reader")+8 {
						if _, ok := privateMessageEpoch(ct[:n]); ok {
							t.Fatalf("read an epoch from a %d-byte prefix", n)
						}
					}
				}
				_, err = a.c.Commit(CommitOptions{ForcePath: true})
				must(t, a, "commit", err)
			}
		})
	}
}

// FuzzPrivateMessageEpoch checks the reader never panics and never reads
// past its input.
func FuzzPrivateMessageEpoch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 2, 0})
	f.Add([]byte{0, 1, 0, 2, 0xc0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 2, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, ok := privateMessageEpoch(b); ok && len(b) < 4+1+8 {
			t.Fatalf("epoch %d read from %d bytes", e, len(b))
		}
	})
}
