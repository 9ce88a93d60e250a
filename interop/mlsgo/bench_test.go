package interop

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// benchSizes are the group sizes of the benchmarks.
var benchSizes = []int{10, 100, 1000, 10000}

// benchGroup is a group of n members of which only a few are live clients:
// the committer (leaf 0) and, for every level k of the committer's copath,
// the member at leaf 2^k, which fills the root of that copath subtree with
// its own commit. The other n-1-log2(n) members exist only as leaves.
//
// Building it: every member but the committer makes a KeyPackage; the
// committer adds all of them in one commit; the live members join from its
// Welcome; then each copath member, from level 0 up, commits with a path
// and the live members process it. The result is the tree a long-lived
// group has: the committer's copath resolves to one node per level, so a
// commit encrypts log2(n) path secrets, not n-1. (A group built by adds
// alone would have blank parents everywhere and every commit would encrypt
// to every leaf.)
type benchGroup struct {
	impl      Implementation
	suite     Suite
	n         int
	committer *member
	receiver  *member   // leaf 1, the copath member at level 0
	refiller  *member   // the copath member whose subtree holds leaf n
	live      []*member // committer first, then the copath members
	joined    int       // members added (and removed) after setup
}

func newBenchGroup(b *testing.B, impl Implementation, suite Suite, n int) *benchGroup {
	b.Helper()
	start := time.Now()
	g := &benchGroup{impl: impl, suite: suite, n: n}
	name := func(i int) string { return fmt.Sprintf("m%d", i) }
	g.committer = newMember(b, name(0), impl, suite)
	must(b, g.committer, "create group", g.committer.c.CreateGroup([]byte(fmt.Sprintf("bench-%d", n))))

	isLive := map[int]bool{}
	for k := 1; k < n; k *= 2 {
		isLive[k] = true
	}
	adds := make([][]byte, 0, n-1)
	var joiners []*member
	for i := 1; i < n; i++ {
		m := newMember(b, name(i), impl, suite)
		kp, err := m.c.KeyPackage()
		must(b, m, "key package", err)
		adds = append(adds, kp)
		if isLive[i] {
			joiners = append(joiners, m)
		}
	}
	out, err := g.committer.c.Commit(CommitOptions{Adds: adds})
	must(b, g.committer, "bulk add", err)
	g.live = []*member{g.committer}
	for _, j := range joiners {
		must(b, j, "join", j.c.Join(out.Welcome, nil))
		g.live = append(g.live, j)
	}
	g.receiver = g.live[1]
	g.refiller = g.live[len(g.live)-1]
	roster := g.committer.c.Members()
	if len(roster) != n {
		b.Fatalf("bulk add: %d members, want %d", len(roster), n)
	}
	for _, m := range g.live {
		var leaf int
		fmt.Sscanf(m.name, "m%d", &leaf)
		if !bytes.Equal(roster[leaf], []byte(m.name)) {
			b.Fatalf("leaf %d holds %q, want %q", leaf, roster[leaf], m.name)
		}
	}
	for _, m := range g.live[1:] {
		out, err := m.c.Commit(CommitOptions{ForcePath: true})
		must(b, m, "copath commit", err)
		for _, o := range g.live {
			if o != m {
				_, err := o.c.Process(out.Commit)
				must(b, o, "process copath commit", err)
			}
		}
	}
	agree(b, "bench setup", g.live...)
	b.Logf("%s: setup of %d members (%d live) took %v", impl.Name(), n, len(g.live), time.Since(start).Round(time.Millisecond))
	return g
}

// followers are the live members kept in step with every untimed commit:
// the receiver and the refiller (the others fall behind after setup, which
// the benchmarks do not need).
func (g *benchGroup) followers() []*member {
	if g.refiller == g.receiver {
		return []*member{g.receiver}
	}
	return []*member{g.receiver, g.refiller}
}

// deliver hands a commit to every follower except the sender.
func (g *benchGroup) deliver(b *testing.B, from *member, commit []byte) {
	for _, m := range append([]*member{g.committer}, g.followers()...) {
		if m == from {
			continue
		}
		if _, err := m.c.Process(commit); err != nil {
			must(b, m, "process", err)
		}
	}
}

// commitToReceiver has the committer make a commit (opts) and delivers it to
// the followers.
func (g *benchGroup) commitToReceiver(b *testing.B, opts CommitOptions) *CommitOutput {
	out, err := g.committer.c.Commit(opts)
	must(b, g.committer, "commit", err)
	g.deliver(b, g.committer, out.Commit)
	return out
}

// remove takes a member added by a benchmark out again so that every
// iteration sees the same group. The added member took leaf n, inside the
// refiller's copath subtree; removing it blanks its direct path
// (RFC 9420 Section 12.1.3), including that subtree's root, so the refiller
// then commits with a path to fill the root again, as after setup.
func (g *benchGroup) remove(b *testing.B, m *member) {
	g.commitToReceiver(b, CommitOptions{Removes: [][]byte{[]byte(m.name)}})
	if got := len(g.committer.c.Members()); got != g.n {
		b.Fatalf("after removing %s the group has %d members, want %d", m, got, g.n)
	}
	out, err := g.refiller.c.Commit(CommitOptions{ForcePath: true})
	must(b, g.refiller, "refill commit", err)
	g.deliver(b, g.refiller, out.Commit)
}

func (g *benchGroup) freshKeyPackage(b *testing.B) (*member, []byte) {
	g.joined++
	m := newMember(b, fmt.Sprintf("new%d", g.joined), g.impl, g.suite)
	kp, err := m.c.KeyPackage()
	must(b, m, "key package", err)
	return m, kp
}

// BenchmarkGroup measures, for every implementation side by side and every
// group size, on suite 1:
//
//   - protect+unprotect: one 100-byte application message, sender and receiver;
//   - process-commit: the receiver applying a path commit from the committer;
//   - add-member: the committer committing an Add of one KeyPackage, with the
//     Welcome (the member is removed again, untimed, after each iteration);
//   - join: a new member joining from such a Welcome (likewise removed);
//   - commit: the committer making and applying a commit with an UpdatePath.
//
// Setup is described at benchGroup and is not timed. The 10,000-member
// setup takes minutes; select sizes with an anchored pattern, e.g.
// -bench 'Group/members=(10|100)$/'.
func BenchmarkGroup(b *testing.B) {
	payload := bytes.Repeat([]byte{0x5a}, 100)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for _, impl := range implementations {
				b.Run(impl.Name(), func(b *testing.B) {
					g := newBenchGroup(b, impl, Suite1, n)

					b.Run("protect+unprotect", func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							ct, err := g.committer.c.Protect(nil, payload)
							if err != nil {
								b.Fatal(err)
							}
							if _, pt, err := g.receiver.c.Unprotect(ct); err != nil || !bytes.Equal(pt, payload) {
								b.Fatalf("unprotect: %v", err)
							}
						}
					})

					b.Run("process-commit", func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							b.StopTimer()
							out, err := g.committer.c.Commit(CommitOptions{ForcePath: true})
							if err != nil {
								b.Fatal(err)
							}
							if g.refiller != g.receiver {
								if _, err := g.refiller.c.Process(out.Commit); err != nil {
									b.Fatal(err)
								}
							}
							b.StartTimer()
							if _, err := g.receiver.c.Process(out.Commit); err != nil {
								b.Fatal(err)
							}
						}
					})

					b.Run("add-member", func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							b.StopTimer()
							m, kp := g.freshKeyPackage(b)
							b.StartTimer()
							out, err := g.committer.c.Commit(CommitOptions{Adds: [][]byte{kp}})
							if err != nil {
								b.Fatal(err)
							}
							b.StopTimer()
							g.deliver(b, g.committer, out.Commit)
							g.remove(b, m)
							b.StartTimer()
						}
					})

					b.Run("join", func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							b.StopTimer()
							m, kp := g.freshKeyPackage(b)
							out := g.commitToReceiver(b, CommitOptions{Adds: [][]byte{kp}})
							b.StartTimer()
							if err := m.c.Join(out.Welcome, nil); err != nil {
								b.Fatal(err)
							}
							b.StopTimer()
							g.remove(b, m)
							b.StartTimer()
						}
					})

					// Last: the receiver stops following the committer here.
					b.Run("commit", func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							if _, err := g.committer.c.Commit(CommitOptions{ForcePath: true}); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		})
	}
}
