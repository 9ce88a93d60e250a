package safety

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsStart(t *testing.T) {
	tests := []struct {
		width time.Duration
		in    time.Time
		want  time.Time
	}{
		{time.Hour, t0, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)},
		{time.Hour, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)},
		{time.Hour, time.Date(2026, 3, 1, 9, 59, 59, 999999999, time.UTC), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		{10 * time.Minute, t0.Add(9*time.Minute + 59*time.Second), time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)},
		{15 * time.Minute, t0, time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)},
		// Other zones give the same instant, in UTC.
		{time.Hour, t0.In(time.FixedZone("x", 5*3600+1800)), time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)},
		// Before the epoch rounds down, not toward zero.
		{time.Hour, time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		got := Buckets{Width: tc.width, Retention: 8 * 24 * time.Hour}.Start(tc.in)
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("Start(%v, width %v) = %v, want %v", tc.in, tc.width, got, tc.want)
		}
	}
}

func TestBucketsValidate(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, b := range []Buckets{DefaultBuckets, {time.Minute, week}, {20 * time.Minute, 30 * 24 * time.Hour}, {time.Hour, week}} {
		if err := b.Validate(); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
	for _, b := range []Buckets{{}, {30 * time.Second, week}, {7 * time.Minute, week}, {2 * time.Hour, week}, {time.Hour, week - time.Hour}} {
		if err := b.Validate(); err == nil {
			t.Errorf("%+v accepted", b)
		}
	}
}

func TestFoldWindows(t *testing.T) {
	b := DefaultBuckets
	cur := b.Start(t0) // 10:00; now is 10:20
	h := time.Hour
	rows := []Row{
		{OutreachAttempts, cur, 1},                      // current bucket: every window
		{OutreachAttempts, cur.Add(-h), 2},              // 09:00: still in the 1h window (covers 09:20-10:20)
		{OutreachAttempts, cur.Add(-2 * h), 4},          // 08:00: out of 1h
		{OutreachAttempts, cur.Add(-24 * h), 8},         // yesterday 10:00: in 24h
		{OutreachAttempts, cur.Add(-25 * h), 16},        // yesterday 09:00: out of 24h
		{OutreachAttempts, cur.Add(-168 * h), 32},       // a week ago 10:00: in 7d
		{OutreachAttempts, cur.Add(-169 * h), 64},       // out of everything
		{OutreachAttempts, cur.Add(h), 128},             // a future bucket: ignored
		{BlocksReceived, cur.Add(-30 * h), 5},           // another kind
		{BlocksReceived, cur, -3},                       // negative: ignored
		{Kind(200), cur, 7},                             // unknown kind (newer server): ignored
		{BlocksReceived, cur.Add(-90 * time.Minute), 1}, // not aligned: by its start, 1.5h back: out of 1h
	}
	s := b.Fold(rows, t0)
	if got, want := s[OutreachAttempts], [NumWindows]int64{1 + 2, 1 + 2 + 4 + 8, 1 + 2 + 4 + 8 + 16 + 32}; got != want {
		t.Errorf("outreach windows %v, want %v", got, want)
	}
	if got, want := s[BlocksReceived], [NumWindows]int64{0, 1, 6}; got != want {
		t.Errorf("blocks windows %v, want %v", got, want)
	}
	// The same rows one hour later: everything shifts by one bucket.
	s = b.Fold(rows, t0.Add(time.Hour))
	if got, want := s[OutreachAttempts], [NumWindows]int64{1 + 128, 1 + 2 + 4 + 128, 1 + 2 + 4 + 8 + 16 + 128}; got != want {
		t.Errorf("an hour later: %v, want %v", got, want)
	}
	// Saturation instead of overflow.
	s = b.Fold([]Row{{DevicesAdded, cur, math.MaxInt64}, {DevicesAdded, cur.Add(-h), math.MaxInt64}}, t0)
	if s[DevicesAdded][Week] != math.MaxInt64 {
		t.Errorf("saturation: %d", s[DevicesAdded][Week])
	}
	s.Add(DevicesAdded, 1)
	if s[DevicesAdded][Hour] != math.MaxInt64 {
		t.Errorf("Add does not saturate: %d", s[DevicesAdded][Hour])
	}
	// A zero width does not divide by zero.
	if got := (Buckets{}).Start(t0); !got.Equal(cur) {
		t.Errorf("zero-width Start = %v", got)
	}
}

func TestFoldSmallBuckets(t *testing.T) {
	b := Buckets{Width: 10 * time.Minute, Retention: 8 * 24 * time.Hour}
	cur := b.Start(t0) // 10:20 exactly
	var rows []Row
	for i := range 10 { // 10:20, 10:10, ..., 08:50
		rows = append(rows, Row{HandleLookups, cur.Add(-time.Duration(i) * 10 * time.Minute), 1})
	}
	// The 1h window covers the current bucket and the six before it.
	if got := b.Fold(rows, t0.Add(5*time.Minute))[HandleLookups][Hour]; got != 7 {
		t.Errorf("1h window over 10-minute buckets = %d, want 7", got)
	}
}

// TestRetention checks that pruning at PruneBefore never changes what Fold
// computes at the same or a later time, and that rows are not kept longer
// than the retention plus one bucket.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range []Buckets{DefaultBuckets, {Width: 15 * time.Minute, Retention: 7 * 24 * time.Hour}, {Width: time.Hour, Retention: 30 * 24 * time.Hour}} {
		st := NewTestStore()
		acctID := AccountID{9}
		start := t0.Add(-20 * 24 * time.Hour)
		for range 3000 {
			at := start.Add(time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
			k := Kind(rng.IntN(NumKinds))
			if err := st.Increment(ctx, []Delta{{acctID, k, b.Start(at), 1}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, now := range []time.Time{t0, t0.Add(37 * time.Minute), t0.Add(-3 * 24 * time.Hour)} {
			before, err := LoadSignals(ctx, st, b, acctID, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Prune(ctx, b.PruneBefore(now)); err != nil {
				t.Fatal(err)
			}
			after, _ := LoadSignals(ctx, st, b, acctID, now)
			if before != after {
				t.Errorf("%+v: pruning at %v changed the signals", b, now)
			}
		}
		rows, _ := st.Window(ctx, acctID, time.Time{})
		for _, r := range rows {
			if t0.Sub(r.Start) > b.Retention+b.Width {
				t.Errorf("%+v: row at %v survived pruning at %v", b, r.Start, t0)
			}
		}
	}
}

func TestSignalsJSON(t *testing.T) {
	s := sig(OutreachAttempts, Day, 3, DevicesRemoved, Week, 1<<40)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(m) != 2 || m["outreach_attempts_24h"] != 3 || m["devices_removed_7d"] != 1<<40 {
		t.Errorf("signals JSON %s", b)
	}
	if b, _ := json.Marshal(Signals{}); string(b) != "{}" {
		t.Errorf("zero signals JSON %s", b)
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := range NumKinds {
		n := Kind(k).String()
		if n == "" || seen[n] {
			t.Errorf("kind %d has name %q", k, n)
		}
		seen[n] = true
		if got, err := ParseKind(n); err != nil || got != Kind(k) {
			t.Errorf("ParseKind(%q) = %v, %v", n, got, err)
		}
	}
	if _, err := ParseKind("conversations"); err == nil {
		t.Error("ParseKind accepted an unknown name")
	}
	if SignalName(TeenOutreachAttempts, Week) != "teen_outreach_attempts_7d" {
		t.Error(SignalName(TeenOutreachAttempts, Week))
	}
}

type failingStore struct{ SignalStore }

func (failingStore) Window(context.Context, AccountID, time.Time) ([]Row, error) {
	return nil, context.DeadlineExceeded
}

func TestLoadSignalsError(t *testing.T) {
	_, err := LoadSignals(context.Background(), failingStore{}, DefaultBuckets, AccountID{}, t0)
	if err == nil || err.Error() != "safety: loading signals: context deadline exceeded" {
		t.Errorf("err = %v", err)
	}
}
