package interop

import (
	"bytes"
	"fmt"
	"testing"
)

// roles are the four members of the mixed-group scenario.
var roles = []string{"alice", "bob", "charlie", "dave"}

// assignments returns every assignment of implementations to roles.
func assignments(n int) [][]Implementation {
	out := [][]Implementation{{}}
	for range n {
		var next [][]Implementation
		for _, prefix := range out {
			for _, impl := range implementations {
				next = append(next, append(append([]Implementation(nil), prefix...), impl))
			}
		}
		out = next
	}
	return out
}

func assignmentName(a []Implementation) string {
	var b bytes.Buffer
	for i, impl := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", roles[i], impl.Name())
	}
	return b.String()
}

// TestMixedGroup runs the life of a four-member group for every assignment
// of implementations to members, on suites 1 and 3: create, add by Welcome
// (committed by the creator and by a joiner), an Update proposal committed
// by another member, a path-only update commit, an external join, a remove,
// and application messages from every member to every other member before
// and after. After every commit all members must agree on the epoch, the
// epoch authenticator and the roster.
func TestMixedGroup(t *testing.T) {
	for _, suite := range suites {
		for _, a := range assignments(len(roles)) {
			t.Run(fmt.Sprintf("suite%d/%s", suite, assignmentName(a)), func(t *testing.T) {
				mixedGroup(t, suite, a)
			})
		}
	}
}

func mixedGroup(t *testing.T, suite Suite, a []Implementation) {
	alice := newMember(t, "alice", a[0], suite)
	bob := newMember(t, "bob", a[1], suite)
	charlie := newMember(t, "charlie", a[2], suite)
	dave := newMember(t, "dave", a[3], suite)

	// Create, and add bob by Welcome (committed by the creator).
	must(t, alice, "create group", alice.c.CreateGroup([]byte("mixed-group")))
	kp, err := bob.c.KeyPackage()
	must(t, bob, "key package", err)
	out, err := alice.c.Commit(CommitOptions{Adds: [][]byte{kp}})
	must(t, alice, "commit add bob", err)
	if out.Welcome == nil {
		t.Fatalf("%s: commit adding bob has no Welcome", alice)
	}
	must(t, bob, "join", bob.c.Join(out.Welcome, nil))
	agree(t, "add bob", alice, bob)

	// bob, a joiner, adds charlie; alice processes the commit.
	kp, err = charlie.c.KeyPackage()
	must(t, charlie, "key package", err)
	out, err = bob.c.Commit(CommitOptions{Adds: [][]byte{kp}})
	must(t, bob, "commit add charlie", err)
	process(t, out.Commit, CommitApplied, alice)
	must(t, charlie, "join", charlie.c.Join(out.Welcome, nil))
	agree(t, "add charlie", alice, bob, charlie)
	chat(t, "after adds", alice, bob, charlie)

	// alice proposes an Update of her leaf; charlie commits it by reference.
	prop, err := alice.c.ProposeUpdate()
	must(t, alice, "propose update", err)
	process(t, prop, ProposalStored, bob, charlie)
	out, err = charlie.c.Commit(CommitOptions{})
	must(t, charlie, "commit update", err)
	process(t, out.Commit, CommitApplied, alice, bob)
	agree(t, "update proposal", alice, bob, charlie)

	// bob updates his own path in an otherwise empty commit.
	out, err = bob.c.Commit(CommitOptions{ForcePath: true})
	must(t, bob, "path update", err)
	process(t, out.Commit, CommitApplied, alice, charlie)
	agree(t, "path update", alice, bob, charlie)

	// dave joins by external commit from charlie's GroupInfo.
	gi, _, err := charlie.c.GroupInfo(false)
	must(t, charlie, "group info", err)
	commit, err := dave.c.ExternalJoin(gi, ExternalJoinOptions{})
	must(t, dave, "external join", err)
	process(t, commit, CommitApplied, alice, bob, charlie)
	agree(t, "external join", alice, bob, charlie, dave)
	chat(t, "after external join", alice, bob, charlie, dave)

	// dave removes alice; alice learns she is out.
	out, err = dave.c.Commit(CommitOptions{Removes: [][]byte{[]byte("alice")}})
	must(t, dave, "commit remove alice", err)
	process(t, out.Commit, CommitApplied, bob, charlie)
	process(t, out.Commit, Removed, alice)
	agree(t, "remove alice", bob, charlie, dave)
	if got := len(dave.c.Members()); got != 3 {
		t.Fatalf("after removing alice the roster has %d members, want 3", got)
	}
	chat(t, "after remove", bob, charlie, dave)

	// alice, removed, can no longer read the group's messages.
	ct, err := bob.c.Protect(nil, []byte("not for alice"))
	must(t, bob, "protect", err)
	if _, _, err := alice.c.Unprotect(ct); err == nil {
		t.Fatalf("removed member %s decrypted a message of the next epoch", alice)
	}
}

// process hands msg to every member and checks the kind of event.
func process(t *testing.T, msg []byte, want EventKind, ms ...*member) {
	t.Helper()
	for _, m := range ms {
		got, err := m.c.Process(msg)
		must(t, m, "process", err)
		if got != want {
			t.Fatalf("%s: process returned event %d, want %d", m, got, want)
		}
	}
}

// chat sends one message from every member, with authenticated data, and has
// every other member decrypt it.
func chat(t *testing.T, step string, ms ...*member) {
	t.Helper()
	for _, from := range ms {
		aad := []byte("aad from " + from.name)
		pt := []byte(step + ": hello from " + from.name)
		ct, err := from.c.Protect(aad, pt)
		must(t, from, "protect", err)
		for _, to := range ms {
			if to == from {
				continue
			}
			gotAAD, gotPT, err := to.c.Unprotect(ct)
			must(t, to, "unprotect", err)
			if !bytes.Equal(gotPT, pt) || !bytes.Equal(gotAAD, aad) {
				t.Fatalf("%s: %s -> %s: got (%q, %q), want (%q, %q)", step, from, to, gotAAD, gotPT, aad, pt)
			}
		}
	}
}
