package interop

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
)

// implementations is every implementation the tests mix. A role given to an
// implementation that cannot play it skips with the reason.
var implementations = []Implementation{MLSGo{}, Ward{}}

var suites = []Suite{Suite1, Suite3}

// detRand is a deterministic randomness source for the implementations that
// accept one: SHA-256 in counter mode over a label. It is for tests only.
type detRand struct {
	seed [32]byte
	ctr  uint64
	buf  []byte
}

func newDetRand(label string) *detRand {
	return &detRand{seed: sha256.Sum256([]byte(label))}
}

func (r *detRand) Read(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(r.buf) == 0 {
			var block [40]byte
			copy(block[:], r.seed[:])
			for i := range 8 {
				block[32+i] = byte(r.ctr >> (8 * i))
			}
			r.ctr++
			sum := sha256.Sum256(block[:])
			r.buf = sum[:]
		}
		k := copy(p, r.buf)
		p, r.buf = p[k:], r.buf[k:]
	}
	return n, nil
}

var _ io.Reader = (*detRand)(nil)

// skipIfUnsupported turns an ErrUnsupported into a skip naming the role.
func skipIfUnsupported(tb testing.TB, who string, err error) {
	tb.Helper()
	if errors.Is(err, ErrUnsupported) {
		tb.Skipf("%s cannot play this role: %v", who, err)
	}
}

// member is a named client in a test, with the implementation playing it.
type member struct {
	name string
	impl Implementation
	c    Client
}

func (m *member) String() string { return fmt.Sprintf("%s(%s)", m.name, m.impl.Name()) }

func newMember(tb testing.TB, name string, impl Implementation, suite Suite) *member {
	tb.Helper()
	c, err := impl.NewClient([]byte(name), suite, newDetRand(name+"/"+impl.Name()))
	if err != nil {
		skipIfUnsupported(tb, impl.Name(), err)
		tb.Fatalf("%s: new client: %v", name, err)
	}
	return &member{name: name, impl: impl, c: c}
}

// must fails the test on err, or skips it when err says the implementation
// cannot perform the operation.
func must(tb testing.TB, m *member, op string, err error) {
	tb.Helper()
	if err != nil {
		skipIfUnsupported(tb, m.String()+" "+op, err)
		tb.Fatalf("%s %s: %v", m, op, err)
	}
}

// agree checks that all members are at the same epoch with the same epoch
// authenticator and the same roster.
func agree(tb testing.TB, step string, ms ...*member) {
	tb.Helper()
	first := ms[0]
	ea, ep, roster := first.c.EpochAuthenticator(), first.c.Epoch(), first.c.Members()
	if len(ea) == 0 {
		tb.Fatalf("%s: %s has an empty epoch authenticator", step, first)
	}
	for _, m := range ms[1:] {
		if got := m.c.Epoch(); got != ep {
			tb.Fatalf("%s: %s at epoch %d, %s at epoch %d", step, first, ep, m, got)
		}
		if got := m.c.EpochAuthenticator(); !bytes.Equal(got, ea) {
			tb.Fatalf("%s: epoch %d authenticator differs: %s %x, %s %x", step, ep, first, ea, m, got)
		}
		if got := m.c.Members(); !equalRoster(got, roster) {
			tb.Fatalf("%s: roster differs: %s %q, %s %q", step, first, roster, m, got)
		}
	}
}

func equalRoster(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
