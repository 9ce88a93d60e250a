package safety

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// cpuMeter reports process CPU time per operation (cpu-ns/op) and, when
// rules > 0, per evaluated rule (cpu-ns/rule) beside the wall-clock
// figures. Start it after setup.
func cpuMeter(b *testing.B, rules int) func() {
	start := processCPUTime()
	return func() {
		if b.N == 0 {
			return
		}
		per := float64(processCPUTime()-start) / float64(b.N)
		b.ReportMetric(per, "cpu-ns/op")
		if rules > 0 {
			b.ReportMetric(per/float64(rules), "cpu-ns/rule")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rules), "ns/rule")
		}
	}
}

// benchInputs are typical inputs per point: an established adult writing
// to a stranger, a block, a sweep with some history.
func benchInput(p Point) Input {
	a, b := acct(1, Adult, 24*400), acct(2, Adult, 24*400)
	in := Input{Now: t0, Actor: a, Signals: sig(OutreachAttempts, Hour, 2, OutreachAttempts, Day, 6, OutreachAttempts, Week, 20, RepliesReceived, Day, 4, RepliesReceived, Week, 15)}
	if p.HasTarget() {
		in.Target = &b
	}
	if p == Report {
		in.Report = &ReportInfo{Verified: true, Category: "spam"}
	}
	return in
}

// BenchmarkDecide measures one decision with the default policy at each
// point and reports the cost per evaluated rule (ns/rule).
func BenchmarkDecide(b *testing.B) {
	e := Default()
	for p := range NumPoints {
		pt := Point(p)
		b.Run(pt.String(), func(b *testing.B) {
			in := benchInput(pt)
			n := len(e.byPoint[pt])
			b.ReportMetric(float64(n), "rules")
			b.ReportAllocs()
			defer cpuMeter(b, n)()
			for b.Loop() {
				if _, err := e.Decide(pt, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecideTeenRefusal is the adult-to-unconnected-teen first
// contact: two rules match and the decision carries their values.
func BenchmarkDecideTeenRefusal(b *testing.B) {
	e := Default()
	in := benchInput(FirstContact)
	teen := acct(3, Teen, 24*400)
	in.Target = &teen
	b.ReportAllocs()
	defer cpuMeter(b, len(e.byPoint[FirstContact]))()
	for b.Loop() {
		if d, _ := e.Decide(FirstContact, in); d.Outcome != DenyContactWithTeens {
			b.Fatal(d.Outcome)
		}
	}
}

// BenchmarkRule is one rule alone, a typical three-variable condition, to
// compare with the design's budget of about 8 µs per rule.
func BenchmarkRule(b *testing.B) {
	e := mustCompile(b, Header+`
rule r
  at first_contact
  when actor.is_adult && target.is_teen && !relation.is_contact
  action deny_contact_with_teens
  reason "x"
`)
	in := benchInput(FirstContact)
	b.ReportAllocs()
	defer cpuMeter(b, 1)()
	for b.Loop() {
		e.Decide(FirstContact, in)
	}
}

func BenchmarkFold(b *testing.B) {
	bk := DefaultBuckets
	cur := bk.Start(t0)
	var rows []Row
	for h := range 168 { // a busy account: 4 kinds in every hour of the week
		for _, k := range []Kind{OutreachAttempts, FirstContactsToNonContacts, RepliesReceived, ConversationsStarted} {
			rows = append(rows, Row{k, cur.Add(-time.Duration(h) * time.Hour), 3})
		}
	}
	b.ReportAllocs()
	defer cpuMeter(b, 0)()
	for b.Loop() {
		bk.Fold(rows, t0)
	}
}

func BenchmarkObserve(b *testing.B) {
	in := benchInput(FirstContact)
	d := Decision{Outcome: RouteToRequests}
	bucket := DefaultBuckets.Start(t0)
	b.ReportAllocs()
	defer cpuMeter(b, 0)()
	for b.Loop() {
		Observe(FirstContact, in, d, bucket)
	}
}

// BenchmarkDecisionJSON is the cost of storing a decision (done for
// refusals and flagged decisions, not for every allowed message).
func BenchmarkDecisionJSON(b *testing.B) {
	in := benchInput(FirstContact)
	teen := acct(3, Teen, 24*400)
	in.Target = &teen
	d, _ := Default().Decide(FirstContact, in)
	b.ReportAllocs()
	defer cpuMeter(b, 0)()
	for b.Loop() {
		if _, err := json.Marshal(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	src := DefaultPolicy()
	b.ReportAllocs()
	defer cpuMeter(b, 0)()
	for b.Loop() {
		if _, err := Compile(DefaultPolicyFile, src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadSignals(b *testing.B) {
	st := NewTestStore()
	ctx := context.Background()
	bk := DefaultBuckets
	for h := range 168 {
		st.Increment(ctx, []Delta{{AccountID{1}, OutreachAttempts, bk.Start(t0.Add(-time.Duration(h) * time.Hour)), 2}})
	}
	b.ReportAllocs()
	defer cpuMeter(b, 0)()
	for b.Loop() {
		LoadSignals(ctx, st, bk, AccountID{1}, t0)
	}
}
