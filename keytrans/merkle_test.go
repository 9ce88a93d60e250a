package keytrans

import (
	"crypto/sha256"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// mth is the Merkle Tree Hash of RFC 6962, Section 2.1, written from the
// RFC's recursive definition as an independent reference for the roots our
// sequencer stores through x/mod/sumdb/tlog.
func mth(leaves [][]byte) tlog.Hash {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		l, r := mth(leaves[:k]), mth(leaves[k:])
		return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
	}
}

// Every size and index pair up to 40 leaves: roots match the RFC
// definition, and every inclusion and consistency proof verifies and fails
// for a wrong leaf or root.
func TestMerkleAllSizes(t *testing.T) {
	const n = 40
	var seq Sequencer
	var hs memHashes
	var leaves [][]byte
	roots := []tlog.Hash{sha256.Sum256(nil)}
	for i := range n {
		b, err := seq.Append(hs, []AppendRequest{{Kind: KindAccountState, LabelID: LabelID{byte(i)}}}, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, b.Hashes...)
		leaves = append(leaves, b.Encoded[0])
		if want := mth(leaves); b.Root != want {
			t.Fatalf("size %d: root %v, RFC 6962 MTH %v", i+1, b.Root, want)
		}
		roots = append(roots, b.Root)
	}
	for size := int64(1); size <= n; size++ {
		for i := range size {
			p, err := ProveInclusion(hs, size, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, size, roots[size], i, LeafHash(leaves[i])); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
			if tlog.CheckRecord(p, size, roots[size], i, LeafHash(leaves[(i+1)%size])) == nil && size > 1 {
				t.Fatalf("inclusion %d in %d verified for another leaf", i, size)
			}
		}
		for old := int64(0); old <= size; old++ {
			p, err := ProveConsistency(hs, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if old == 0 {
				if len(p) != 0 {
					t.Fatal("non-empty proof from 0")
				}
				continue
			}
			if err := tlog.CheckTree(p, size, roots[size], old, roots[old]); err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
			if old < size && tlog.CheckTree(p, size, roots[size], old, roots[old-1]) == nil {
				t.Fatalf("consistency %d→%d verified for a wrong old root", old, size)
			}
		}
	}
}
