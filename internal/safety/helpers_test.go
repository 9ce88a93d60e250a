package safety

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// t0 is 20 minutes into an hour bucket, so that windowing effects show.
var t0 = time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)

// acct returns an active account of the given band and age in hours at t0.
func acct(id byte, band AgeBand, ageHours int) Account {
	return Account{
		ID:        AccountID{id},
		AgeBand:   band,
		Status:    "active",
		CreatedAt: t0.Add(-time.Duration(ageHours) * time.Hour),
		Contacts:  10,
		Devices:   1,
	}
}

// sig builds signals from (kind, window, value) triples.
func sig(triples ...any) Signals {
	if len(triples)%3 != 0 {
		panic("sig: want (kind, window, value) triples")
	}
	var s Signals
	for i := 0; i < len(triples); i += 3 {
		s[triples[i].(Kind)][triples[i+1].(Window)] = int64(triples[i+2].(int))
	}
	return s
}

func matched(d Decision, rule string) bool {
	return slices.ContainsFunc(d.Matches, func(m Match) bool { return m.Rule == rule })
}

func mustCompile(t testing.TB, src string) *Engine {
	t.Helper()
	e, err := Compile("test.policy", []byte(src), Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return e
}

func mustDecide(t testing.TB, e *Engine, p Point, in Input) Decision {
	t.Helper()
	d, err := e.Decide(p, in)
	if err != nil {
		t.Fatalf("Decide(%s): %v", p, err)
	}
	return d
}

// testStore is the test-only in-memory SignalStore; NewTestStore exports it
// to the external test package that runs the safetytest contract suite.
type testStore struct {
	mu   sync.Mutex
	rows map[storeKey]int64
}

type storeKey struct {
	account AccountID
	kind    Kind
	start   int64 // Unix milliseconds, like the SQL stores
}

// NewTestStore returns an empty in-memory SignalStore.
func NewTestStore() SignalStore { return &testStore{rows: map[storeKey]int64{}} }

func (s *testStore) Increment(ctx context.Context, deltas []Delta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range deltas {
		s.rows[storeKey{d.Account, d.Kind, d.Start.UnixMilli()}] += d.N
	}
	return nil
}

func (s *testStore) Window(ctx context.Context, account AccountID, since time.Time) ([]Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Row
	for k, n := range s.rows {
		if k.account == account && k.start >= since.UnixMilli() {
			out = append(out, Row{Kind: k.kind, Start: time.UnixMilli(k.start).UTC(), Count: n})
		}
	}
	return out, nil
}

func (s *testStore) Prune(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.rows {
		if k.start < before.UnixMilli() {
			delete(s.rows, k)
		}
	}
	return nil
}
