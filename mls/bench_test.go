package mls

import (
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Benchmarks run on a synthetic but fully valid group of n members: every
// parent node is populated with valid parent-hash chains and every leaf is
// signed, as after a long history of commits. Member A sits at leaf 0,
// member B at leaf n-1; the other members exist only in the tree.

var benchSizes = []int{10, 100, 1000, 10000}

type benchFixture struct {
	a, b   []byte // serialized states of A and B
	cfgA   Config
	cfgB   Config
	joiner *testClient
}

var (
	fixtureMu sync.Mutex
	fixtures  = map[int]*benchFixture{}
)

func fullGroupFixture(tb testing.TB, n int) *benchFixture {
	tb.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if f, ok := fixtures[n]; ok {
		return f
	}
	cs := MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	s, _ := getSuite(cs)
	groupID := []byte(fmt.Sprintf("bench-%d", n))
	leaves := uint32(1)
	for leaves < uint32(n) {
		leaves *= 2
	}
	tree := newRatchetTree(s, leaves)
	privs := map[nodeIndex]hpke.PrivateKey{}
	sigs := make([]*SignaturePrivateKey, n)
	r := newDetRand(fmt.Sprint("fixture", n))
	newKey := func(x nodeIndex) []byte {
		k, err := s.generateHPKEKey(r)
		if err != nil {
			tb.Fatal(err)
		}
		privs[x] = k
		return k.PublicKey().Bytes()
	}
	nonBlank := func(x nodeIndex) bool {
		// A subtree is non-blank when its leftmost leaf is a member.
		lo := uint32(x) >> (level(x) + 1) << level(x) // first leaf of the subtree
		return lo < uint32(n)
	}
	// finalize sets node x with parent hash ph: right subtrees first, as
	// they feed the parent hash of the left child (Section 7.9).
	var finalize func(x nodeIndex, ph []byte)
	finalize = func(x nodeIndex, ph []byte) {
		if !nonBlank(x) {
			return
		}
		if x.isLeaf() {
			l := x.leaf()
			sig, err := GenerateSignatureKey(cs, r)
			if err != nil {
				tb.Fatal(err)
			}
			sigs[l] = sig
			ln := &leafNode{encryptionKey: newKey(x), signatureKey: sig.PublicKey(),
				credential:   Credential{Type: CredentialBasic, Identity: []byte(fmt.Sprint("member", l))},
				capabilities: defaultCapabilities(cs)}
			var gid []byte
			if len(ph) > 0 {
				ln.source, ln.parentHash, gid = leafSourceCommit, ph, groupID
			} else {
				ln.source, ln.notAfter = leafSourceKeyPackage, ^uint64(0)
			}
			if err := ln.sign(s, sig, gid, l); err != nil {
				tb.Fatal(err)
			}
			tree.nodes[x] = node{leaf: ln}
			return
		}
		p := &parentNode{encryptionKey: newKey(x), parentHash: ph}
		tree.nodes[x] = node{parent: p}
		finalize(right(x), []byte{})
		finalize(left(x), tree.parentHash(p, tree.treeHash(right(x))))
	}
	finalize(root(leaves), []byte{})
	for i := range tree.hashes {
		tree.hashes[i] = nil
	}
	if n <= 100 {
		if err := tree.verifyStructure(groupID); err != nil {
			tb.Fatalf("fixture tree invalid: %v", err)
		}
	}
	gc := groupContext{cipherSuite: cs, groupID: groupID, epoch: 1, treeHash: tree.rootHash(), confirmedTranscriptHash: make([]byte, s.nh)}
	es := s.epochSecretsFrom(make([]byte, s.nh))
	member := func(l leafIndex, cfg Config) []byte {
		g := &Group{cfg: cfg, s: s, tree: tree.clone(), self: l, sigKey: sigs[l], privKeys: map[nodeIndex]hpke.PrivateKey{},
			resumptionPSKs: map[uint64][]byte{}, pendingUpdates: map[string]hpke.PrivateKey{}}
		g.gc = gc
		for _, x := range append([]nodeIndex{l.node()}, directPath(l.node(), leaves)...) {
			if k, ok := privs[x]; ok {
				g.privKeys[x] = k
			}
		}
		g.installEpoch(es, encode(&gc))
		g.confirmationTag = s.mac(es.confirmationKey, gc.confirmedTranscriptHash)
		g.interimTranscriptHash = s.interimTranscriptHash(gc.confirmedTranscriptHash, g.confirmationTag)
		st, err := g.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		return st
	}
	f := &benchFixture{cfgA: Config{Rand: newDetRand("A")}, cfgB: Config{Rand: newDetRand("B")}}
	f.a = member(0, f.cfgA)
	f.b = member(leafIndex(n-1), f.cfgB)
	f.joiner = newClient(tb, cs, "joiner")
	fixtures[n] = f
	return f
}

func (f *benchFixture) groups(tb testing.TB) (*Group, *Group) {
	tb.Helper()
	a, err := UnmarshalGroup(f.a, f.cfgA)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := UnmarshalGroup(f.b, f.cfgB)
	if err != nil {
		tb.Fatal(err)
	}
	// A restored state hashes its tree once, lazily; do it before timing.
	a.tree.rootHash()
	b.tree.rootHash()
	return a, b
}

// The fixture is a working group: A and B agree after commits both ways.
func TestBenchFixture(t *testing.T) {
	f := fullGroupFixture(t, 100)
	a, b := f.groups(t)
	for _, pair := range [][2]*Group{{a, b}, {b, a}} {
		res, err := pair[0].Commit(CommitOptions{ForcePath: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pair[0].MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		if _, err := pair[1].ProcessMessage(res.Commit); err != nil {
			t.Fatal(err)
		}
		if string(a.EpochAuthenticator()) != string(b.EpochAuthenticator()) {
			t.Fatal("members disagree")
		}
	}
	kp := f.joiner.keyPackage(t)
	res, err := a.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	j, err := JoinGroup(res.Welcome, kp, a.RatchetTree(), f.joiner.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.EpochAuthenticator()) != string(j.EpochAuthenticator()) {
		t.Fatal("joiner disagrees")
	}
}

func BenchmarkCommitWithPath(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a, _ := fullGroupFixture(b, n).groups(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Commit(CommitOptions{ForcePath: true}); err != nil {
					b.Fatal(err)
				}
				a.ClearPendingCommit()
			}
		})
	}
}

func BenchmarkProcessCommit(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a, m := fullGroupFixture(b, n).groups(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				res, err := a.Commit(CommitOptions{ForcePath: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := a.MergePendingCommit(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := m.ProcessMessage(res.Commit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAddMember(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := fullGroupFixture(b, n)
			a, _ := f.groups(b)
			kp := f.joiner.keyPackage(b).KeyPackage()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Commit(CommitOptions{Add: [][]byte{kp}}); err != nil {
					b.Fatal(err)
				}
				a.ClearPendingCommit()
			}
		})
	}
}

func BenchmarkJoinFromWelcome(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := fullGroupFixture(b, n)
			a, _ := f.groups(b)
			kp := f.joiner.keyPackage(b)
			res, err := a.Commit(CommitOptions{Add: [][]byte{kp.KeyPackage()}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := a.MergePendingCommit(); err != nil {
				b.Fatal(err)
			}
			tree := a.RatchetTree()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := JoinGroup(res.Welcome, kp, tree, f.joiner.cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplicationMessage protects 100 bytes at A and unprotects them
// at B; compare with BenchmarkApplicationFloor.
func BenchmarkApplicationMessage(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a, m := fullGroupFixture(b, n).groups(b)
			data := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				msg, err := a.Protect(data, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.ProcessMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplicationFloor is the floor for an application message: one
// Ed25519 sign and verify plus one AES-128-GCM seal and open of 100 bytes.
func BenchmarkApplicationFloor(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	s, _ := getSuite(1)
	key := make([]byte, 16)
	nonce := make([]byte, 12)
	data := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		sig := ed25519.Sign(priv, data)
		aead, _ := s.newAEAD(key)
		ct := aead.Seal(nil, nonce, data, nil)
		aead2, _ := s.newAEAD(key)
		pt, err := aead2.Open(nil, nonce, ct, nil)
		if err != nil || !ed25519.Verify(pub, pt, sig) {
			b.Fatal("floor failed")
		}
	}
}

// BenchmarkApplicationVsFloor alternates one application message (protect
// at A, unprotect at B, 100 bytes) with one floor operation (Ed25519 sign +
// verify, AES-128-GCM seal + open) and reports their time ratio, which is
// robust to load from other processes on a shared machine.
func BenchmarkApplicationVsFloor(b *testing.B) {
	a, m := fullGroupFixture(b, 100).groups(b)
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	s, _ := getSuite(1)
	key, nonce, data := make([]byte, 16), make([]byte, 12), make([]byte, 100)
	var app, floor time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		msg, err := a.Protect(data, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.ProcessMessage(msg); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		sig := ed25519.Sign(priv, data)
		aead, _ := s.newAEAD(key)
		ct := aead.Seal(nil, nonce, data, nil)
		aead2, _ := s.newAEAD(key)
		pt, err := aead2.Open(nil, nonce, ct, nil)
		if err != nil || !ed25519.Verify(pub, pt, sig) {
			b.Fatal("floor failed")
		}
		t2 := time.Now()
		app += t1.Sub(t0)
		floor += t2.Sub(t1)
	}
	b.ReportMetric(float64(app)/float64(floor), "app/floor")
	b.ReportMetric(float64(app.Nanoseconds())/float64(b.N), "app-ns/op")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N), "floor-ns/op")
}
