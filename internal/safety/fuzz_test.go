package safety

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzCompile feeds arbitrary bytes to the policy parser and compiler. It
// must never panic; a rejected file must be rejected with *PolicyErrors
// that point into the file; an accepted one must decide at every point
// without error.
func FuzzCompile(f *testing.F) {
	f.Add(DefaultPolicy())
	f.Add([]byte(Header + "\n" + rule0))
	f.Add([]byte(""))
	f.Add([]byte(Header))
	f.Add([]byte(Header + "\nrule a\n  at sweep\n  when 1 / signals.devices_added_1h > 0\n  action flag_for_moderators other low\n  reason \"x\"\n"))
	f.Add([]byte(Header + "\nrule a\n  at first_contact, lookup\n  when actor.age_band.matches('^t.*n$') && target.status in ['a', 'b']\n    || [1,2,3].exists(x, x == relation.shared_groups)\n  action rate_limit for 1d\n  reason \"\\u00e9\"\n  priority -1000\n"))
	f.Add([]byte(Header + "\nrule a\n  at report\n  when ((((((((((report.verified))))))))))\n  action safety_notice\n  notice \"n\"\n  reason \"r\"\n"))
	f.Add([]byte(Header + "\nrule a\n  at sweep\n  when \"\xff\"\n"))
	f.Add([]byte("ward-safety-policy 1\r\nrule a\r\n\tat block\r\n\twhen decision == 'block'\r\n\taction restrict_new_conversations for 59m\r\n\treason \"x\"\r\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		e, err := Compile("fuzz.policy", src, Options{})
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PolicyError", err)
			}
			if lines := strings.Count(string(src), "\n") + 1; pe.Line < 1 || pe.Line > lines {
				t.Fatalf("error on line %d of a %d-line file: %v", pe.Line, lines, err)
			}
			return
		}
		a, b := acct(1, Adult, 5), acct(2, Teen, 5)
		for p := range NumPoints {
			in := Input{Now: t0, Actor: a, Target: &b, Report: &ReportInfo{}, Signals: sig(OutreachAttempts, Day, 3)}
			if !Point(p).HasTarget() {
				in.Target = nil
			}
			d, err := e.Decide(Point(p), in)
			if err != nil {
				t.Fatalf("Decide(%s): %v", Point(p), err)
			}
			if !d.Outcome.IsOutcome() {
				t.Fatalf("outcome %s", d.Outcome)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzDecide checks invariants of the default policy on arbitrary inputs:
// an adult (or an account of unknown band) never reaches or finds a teen
// (or an account of unknown band) that is not a contact, and the outcome is
// always the highest-ranked action of the matching rules.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(0), "adult", "teen", "active", int64(100), int64(0), false, int64(0), int64(0), int64(0), int64(0))
	f.Add(uint8(1), "", "child", "restricted", int64(1), int64(-5), false, int64(1<<62), int64(-1), int64(7), int64(3))
	f.Add(uint8(2), "adult", "", "suspended", int64(1<<40), int64(1<<40), true, int64(9), int64(9), int64(9), int64(9))
	f.Add(uint8(6), "teen", "teen", "banned", int64(0), int64(1), false, int64(-1<<63), int64(1<<63-1), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, point uint8, actorBand, targetBand, status string, actorAgeH, targetAgeH int64, contact bool, s1, s2, s3, s4 int64) {
		p := Point(point % uint8(NumPoints))
		hours := func(h int64) time.Time {
			h = max(min(h, 1<<20), -(1 << 20))
			return t0.Add(-time.Duration(h) * time.Hour)
		}
		actor := Account{ID: AccountID{1}, AgeBand: AgeBand(actorBand), Status: status, CreatedAt: hours(actorAgeH)}
		target := Account{ID: AccountID{2}, AgeBand: AgeBand(targetBand), Status: "active", CreatedAt: hours(targetAgeH)}
		in := Input{Now: t0, Actor: actor, Relation: Relation{IsContact: contact}, Report: &ReportInfo{Verified: s1%2 == 0, Category: status}}
		vals := []int64{s1, s2, s3, s4}
		for k := range NumKinds {
			for w := range NumWindows {
				in.Signals[k][w] = vals[(k+w)%4]
			}
		}
		if p.HasTarget() {
			in.Target = &target
		}
		d, err := Default().Decide(p, in)
		if err != nil {
			t.Fatal(err)
		}
		gating := p == FirstContact || p == GroupAdd || p == Lookup
		if gating && AgeBand(actorBand) != Teen && AgeBand(targetBand) != Adult && !contact && !d.Refused() {
			t.Fatalf("an adult reached a teen:\n%s", d.Explain())
		}
		want := Allow
		for _, m := range d.Matches {
			for _, a := range m.Actions {
				if a.Action.IsOutcome() && a.Action > want {
					want = a.Action
				}
			}
		}
		if d.Outcome != want {
			t.Fatalf("outcome %s, highest matching action %s", d.Outcome, want)
		}
		if d.Refused() && len(d.Notices) > 0 {
			t.Fatal("notices on a refused decision")
		}
		if (d.RetryAfter > 0) != (d.Outcome == RateLimit) {
			t.Fatalf("retry after %v with outcome %s", d.RetryAfter, d.Outcome)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}
	})
}
