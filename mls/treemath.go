package mls

import "math/bits"

// Array-based tree math, RFC 9420 Appendix C. Nodes are numbered in-order:
// leaves have even indices, parents odd ones. A tree of n leaves (n a power
// of two) has 2n-1 nodes.

// nodeIndex is the index of a node in the array representation.
type nodeIndex uint32

// leafIndex is the index of a leaf (member) in the tree.
type leafIndex uint32

func (l leafIndex) node() nodeIndex { return nodeIndex(2 * l) }

func (x nodeIndex) isLeaf() bool { return x&1 == 0 }

func (x nodeIndex) leaf() leafIndex { return leafIndex(x / 2) }

// level is the number of trailing one bits: 0 for leaves.
func level(x nodeIndex) uint { return uint(bits.TrailingZeros32(^uint32(x))) }

// nodeWidth is the number of nodes of a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// root is the root of a tree with n leaves (n a power of two).
func root(n uint32) nodeIndex {
	w := nodeWidth(n)
	return nodeIndex((uint32(1) << log2(w)) - 1)
}

func log2(x uint32) uint {
	if x == 0 {
		return 0
	}
	return uint(bits.Len32(x) - 1)
}

func left(x nodeIndex) nodeIndex {
	k := level(x)
	if k == 0 {
		panic("mls: leaf has no children")
	}
	return x ^ (1 << (k - 1))
}

func right(x nodeIndex) nodeIndex {
	k := level(x)
	if k == 0 {
		panic("mls: leaf has no children")
	}
	return x ^ (3 << (k - 1))
}

// parent of x in a tree with n leaves; x must not be the root.
func parent(x nodeIndex, n uint32) nodeIndex {
	if x == root(n) {
		panic("mls: root has no parent")
	}
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1))
}

func sibling(x nodeIndex, n uint32) nodeIndex {
	p := parent(x, n)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath of x, from its parent up to and including the root.
func directPath(x nodeIndex, n uint32) []nodeIndex {
	r := root(n)
	if x == r {
		return nil
	}
	var d []nodeIndex
	for x != r {
		x = parent(x, n)
		d = append(d, x)
	}
	return d
}

// isAncestor reports whether a is an ancestor of (or equal to) d.
func isAncestor(a, d nodeIndex) bool {
	k := level(a)
	return (a >> (k + 1)) == (d >> (k + 1))
}

// commonAncestor returns the lowest common ancestor of two nodes
// (RFC 9420 Appendix C, common_ancestor_semantic).
func commonAncestor(x, y nodeIndex) nodeIndex {
	lx, ly := level(x)+1, level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	} else if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn := x, y
	k := uint(0)
	for xn != yn {
		xn, yn = xn>>1, yn>>1
		k++
	}
	return nodeIndex((uint32(xn) << k) + (1 << (k - 1)) - 1)
}
