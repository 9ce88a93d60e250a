// Package safetytest is the contract suite for implementations of
// [safety.SignalStore]. A store's tests call [Run] with a function that
// opens an empty store:
//
//	func TestSignalStore(t *testing.T) {
//		safetytest.Run(t, func(t *testing.T) safety.SignalStore { return openEmpty(t) })
//	}
package safetytest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/safety"
)

// Run runs every contract test against stores returned by open, which must
// return a new, empty store on each call and arrange its cleanup with
// t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) safety.SignalStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, safety.SignalStore)
	}{
		{"IncrementAndWindow", testIncrementAndWindow},
		{"SameCounterInOneCall", testSameCounterInOneCall},
		{"SinceIsInclusive", testSinceIsInclusive},
		{"Prune", testPrune},
		{"ConcurrentIncrements", testConcurrent},
		{"UnknownKind", testUnknownKind},
		{"EmptyAccount", testEmptyAccount},
		{"Precision", testPrecision},
		{"LoadSignals", testLoadSignals},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var (
	a1 = safety.AccountID{1}
	a2 = safety.AccountID{2}
	// t0 is a bucket start with one-hour buckets.
	t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
)

func inc(t *testing.T, st safety.SignalStore, deltas ...safety.Delta) {
	t.Helper()
	if err := st.Increment(context.Background(), deltas); err != nil {
		t.Fatalf("Increment: %v", err)
	}
}

// rows returns account's rows since as sorted "kind@start=count" strings.
func rows(t *testing.T, st safety.SignalStore, account safety.AccountID, since time.Time) []string {
	t.Helper()
	rs, err := st.Window(context.Background(), account, since)
	if err != nil {
		t.Fatalf("Window: %v", err)
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.Count == 0 {
			continue // zero rows may be omitted
		}
		out = append(out, fmt.Sprintf("%s@%s=%d", r.Kind, r.Start.UTC().Format(time.RFC3339Nano), r.Count))
	}
	slices.Sort(out)
	return out
}

func row(k safety.Kind, start time.Time, n int64) string {
	return fmt.Sprintf("%s@%s=%d", k, start.UTC().Format(time.RFC3339Nano), n)
}

func check(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %q\nwant %q", got, want)
	}
}

func testIncrementAndWindow(t *testing.T, st safety.SignalStore) {
	h := time.Hour
	inc(t, st,
		safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: t0, N: 1},
		safety.Delta{Account: a1, Kind: safety.RepliesReceived, Start: t0, N: 2},
		safety.Delta{Account: a2, Kind: safety.OutreachAttempts, Start: t0, N: 5},
	)
	inc(t, st, safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: t0, N: 3})
	inc(t, st, safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: t0.Add(-h), N: 1 << 40})
	check(t, rows(t, st, a1, t0.Add(-24*h)),
		row(safety.OutreachAttempts, t0, 4),
		row(safety.RepliesReceived, t0, 2),
		row(safety.OutreachAttempts, t0.Add(-h), 1<<40))
	check(t, rows(t, st, a2, t0.Add(-24*h)), row(safety.OutreachAttempts, t0, 5))
}

func testSameCounterInOneCall(t *testing.T, st safety.SignalStore) {
	d := safety.Delta{Account: a1, Kind: safety.BlocksReceived, Start: t0, N: 1}
	inc(t, st, d, d, d)
	check(t, rows(t, st, a1, t0), row(safety.BlocksReceived, t0, 3))
}

func testSinceIsInclusive(t *testing.T, st safety.SignalStore) {
	for i := range 3 {
		inc(t, st, safety.Delta{Account: a1, Kind: safety.HandleLookups, Start: t0.Add(time.Duration(i) * time.Hour), N: 1})
	}
	check(t, rows(t, st, a1, t0.Add(time.Hour)),
		row(safety.HandleLookups, t0.Add(time.Hour), 1),
		row(safety.HandleLookups, t0.Add(2*time.Hour), 1))
}

func testPrune(t *testing.T, st safety.SignalStore) {
	for i := range 4 {
		start := t0.Add(time.Duration(i) * time.Hour)
		inc(t, st,
			safety.Delta{Account: a1, Kind: safety.DevicesAdded, Start: start, N: 1},
			safety.Delta{Account: a2, Kind: safety.DevicesAdded, Start: start, N: 1})
	}
	if err := st.Prune(context.Background(), t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	for _, acct := range []safety.AccountID{a1, a2} {
		check(t, rows(t, st, acct, time.Time{}),
			row(safety.DevicesAdded, t0.Add(2*time.Hour), 1),
			row(safety.DevicesAdded, t0.Add(3*time.Hour), 1))
	}
	// Counting into a pruned bucket again starts from zero.
	inc(t, st, safety.Delta{Account: a1, Kind: safety.DevicesAdded, Start: t0, N: 1})
	check(t, rows(t, st, a1, t0),
		row(safety.DevicesAdded, t0, 1),
		row(safety.DevicesAdded, t0.Add(2*time.Hour), 1),
		row(safety.DevicesAdded, t0.Add(3*time.Hour), 1))
}

func testConcurrent(t *testing.T, st safety.SignalStore) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := st.Increment(context.Background(), []safety.Delta{
					{Account: a1, Kind: safety.OutreachAttempts, Start: t0, N: 1},
					{Account: a2, Kind: safety.RequestsReceived, Start: t0, N: 2},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Increment: %v", err)
	}
	check(t, rows(t, st, a1, t0), row(safety.OutreachAttempts, t0, workers*each))
	check(t, rows(t, st, a2, t0), row(safety.RequestsReceived, t0, 2*workers*each))
}

func testUnknownKind(t *testing.T, st safety.SignalStore) {
	inc(t, st, safety.Delta{Account: a1, Kind: safety.Kind(200), Start: t0, N: 7})
	rs, err := st.Window(context.Background(), a1, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Kind != 200 || rs[0].Count != 7 {
		t.Errorf("rows %+v, want kind 200 count 7 returned as is", rs)
	}
}

func testEmptyAccount(t *testing.T, st safety.SignalStore) {
	inc(t, st, safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: t0, N: 1})
	rs, err := st.Window(context.Background(), safety.AccountID{0xff}, time.Time{})
	if err != nil || len(rs) != 0 {
		t.Errorf("Window of an account without rows = %v, %v", rs, err)
	}
}

func testPrecision(t *testing.T, st safety.SignalStore) {
	start := t0.Add(123 * time.Millisecond)
	inc(t, st, safety.Delta{Account: a1, Kind: safety.ReportsReceived, Start: start, N: 1})
	rs, err := st.Window(context.Background(), a1, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || !rs[0].Start.Equal(start) {
		t.Errorf("rows %+v, want one starting at %v", rs, start)
	}
}

// testLoadSignals runs the engine's read path over the store.
func testLoadSignals(t *testing.T, st safety.SignalStore) {
	b := safety.DefaultBuckets
	now := t0.Add(20 * time.Minute)
	inc(t, st,
		safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: b.Start(now), N: 2},
		safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: b.Start(now.Add(-3 * time.Hour)), N: 3},
		safety.Delta{Account: a1, Kind: safety.OutreachAttempts, Start: b.Start(now.Add(-8 * 24 * time.Hour)), N: 100},
	)
	s, err := safety.LoadSignals(context.Background(), st, b, a1, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{s.Get(safety.OutreachAttempts, safety.Hour), s.Get(safety.OutreachAttempts, safety.Day), s.Get(safety.OutreachAttempts, safety.Week)}; got != [3]int64{2, 5, 5} {
		t.Errorf("outreach attempts 1h/24h/7d = %v, want [2 5 5]", got)
	}
}
