package safety

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	adult, adult2, teen := acct(1, Adult, 1000), acct(2, Adult, 1000), acct(3, Teen, 1000)
	contact := Relation{IsContact: true}
	tests := []struct {
		p       Point
		in      Input
		outcome Action
		want    string // "account:kind" sorted, comma-separated
	}{
		{FirstContact, Input{Actor: adult, Target: &adult2}, RouteToRequests,
			"1:conversations_started,1:first_contacts_to_non_contacts,1:outreach_attempts,2:requests_received"},
		{FirstContact, Input{Actor: adult, Target: &adult2, Relation: contact}, Allow, "1:conversations_started"},
		{FirstContact, Input{Actor: adult, Target: &adult2}, RateLimit, "1:outreach_attempts,1:refused_outreach"},
		{FirstContact, Input{Actor: adult, Target: &teen}, DenyContactWithTeens, "1:outreach_attempts,1:refused_outreach,1:teen_outreach_attempts"},
		{FirstContact, Input{Actor: teen, Target: &teen}, RouteToRequests,
			"3:conversations_started,3:first_contacts_to_non_contacts,3:first_contacts_to_teens,3:outreach_attempts,3:requests_received,3:teen_outreach_attempts"},
		{FirstContact, Input{Actor: adult, Target: &teen, Relation: contact}, Allow, "1:conversations_started"},
		{GroupAdd, Input{Actor: teen, Target: &teen}, RouteToRequests,
			"3:group_adds_of_non_contacts,3:group_adds_of_teens,3:outreach_attempts,3:requests_received,3:teen_outreach_attempts"},
		{GroupAdd, Input{Actor: adult, Target: &adult2, Relation: contact}, Allow, ""},
		{GroupAdd, Input{Actor: adult, Target: &teen}, SuspendPendingReview, "1:outreach_attempts,1:refused_outreach,1:teen_outreach_attempts"},
		{Lookup, Input{Actor: adult, Target: &teen}, DenyContactWithTeens, "1:handle_lookups,1:handle_lookups_refused"},
		{Lookup, Input{Actor: adult, Target: &adult2}, Allow, "1:handle_lookups"},
		{Accept, Input{Actor: adult, Target: &adult2}, Allow, "1:replies_received"},
		{Decline, Input{Actor: adult, Target: &adult2}, RestrictNewConversations, "1:requests_declined"},
		{Block, Input{Actor: adult, Target: &adult2}, Allow, "1:blocks_received"},
		{Report, Input{Actor: adult, Target: &adult2}, Allow, "1:reports_received"},
		{Report, Input{Actor: adult, Target: &adult2, Report: &ReportInfo{Verified: true}}, Allow, "1:reports_received,1:reports_received_verified"},
		{Sweep, Input{Actor: adult}, SuspendPendingReview, ""},
	}
	bucket := DefaultBuckets.Start(t0)
	for _, tc := range tests {
		tc.in.Now = t0
		deltas := Observe(tc.p, tc.in, Decision{Outcome: tc.outcome}, bucket)
		var got []string
		for _, d := range deltas {
			if !d.Start.Equal(bucket) || d.N != 1 {
				t.Errorf("%s: delta %+v", tc.p, d)
			}
			got = append(got, fmt.Sprintf("%d:%s", d.Account[0], d.Kind))
		}
		slices.Sort(got)
		if s := strings.Join(got, ","); s != tc.want {
			t.Errorf("Observe(%s, outcome %s) = %s\nwant %s", tc.p, tc.outcome, s, tc.want)
		}
	}
}

// TestCurrentEventMatchesObserve checks that what the engine adds for the
// event under decision is exactly what Observe records whatever the
// outcome: the next decision sees the same count from storage.
func TestCurrentEventMatchesObserve(t *testing.T) {
	adult, teen := acct(1, Adult, 1000), acct(3, Teen, 1000)
	for p := range NumPoints {
		for _, target := range []*Account{&adult, &teen} {
			for _, rel := range []Relation{{}, {IsContact: true}} {
				in := Input{Now: t0, Actor: adult, Target: target, Relation: rel, Report: &ReportInfo{Verified: true}}
				if !Point(p).HasTarget() {
					in.Target, in.Relation = nil, Relation{}
				}
				cur := currentEvent(Point(p), &in)
				for a := range numActions {
					if !Action(a).IsOutcome() {
						continue
					}
					for _, k := range cur {
						if !slices.ContainsFunc(Observe(Point(p), in, Decision{Outcome: Action(a)}, t0), func(d Delta) bool {
							return d.Kind == k && d.Account == adult.ID
						}) {
							t.Errorf("%s, outcome %s: engine counts %s but Observe does not record it", Point(p), Action(a), k)
						}
					}
				}
			}
		}
	}
}

// sim drives the default engine the way the server will: load signals,
// decide, apply standing effects, record counters.
type sim struct {
	t      *testing.T
	e      *Engine
	st     SignalStore
	now    time.Time
	status map[AccountID]string
	until  map[AccountID]time.Time
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, e: Default(), st: NewTestStore(), now: t0,
		status: map[AccountID]string{}, until: map[AccountID]time.Time{}}
}

func (s *sim) decide(p Point, actor Account, target *Account, rel Relation) Decision {
	s.t.Helper()
	ctx := context.Background()
	if u, ok := s.until[actor.ID]; ok && !s.now.Before(u) {
		delete(s.until, actor.ID)
		delete(s.status, actor.ID)
	}
	if st, ok := s.status[actor.ID]; ok {
		actor.Status = st
	}
	sigs, err := LoadSignals(ctx, s.st, DefaultBuckets, actor.ID, s.now)
	if err != nil {
		s.t.Fatal(err)
	}
	in := Input{Now: s.now, Actor: actor, Target: target, Relation: rel, Signals: sigs}
	d := mustDecide(s.t, s.e, p, in)
	switch {
	case d.Suspend:
		s.status[actor.ID] = "suspended"
		delete(s.until, actor.ID)
	case d.RestrictFor > 0 && s.status[actor.ID] != "suspended":
		s.status[actor.ID] = "restricted"
		s.until[actor.ID] = s.now.Add(d.RestrictFor)
	}
	if err := s.st.Increment(ctx, Observe(p, in, d, DefaultBuckets.Start(s.now))); err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *sim) restricted(id AccountID) bool {
	st := s.status[id]
	return st == "restricted" || st == "suspended"
}

func TestScenarioBenignNewUser(t *testing.T) {
	// A new user messages 12 friends over the first afternoon; 9 of them
	// accept within the hour. Nothing may refuse them.
	s := newSim(t)
	me := acct(1, Adult, 0)
	me.CreatedAt = s.now
	for i := range 12 {
		friend := acct(byte(10+i), Adult, 5000)
		d := s.decide(FirstContact, me, &friend, Relation{})
		if d.Refused() {
			t.Fatalf("message %d refused:\n%s", i+1, d.Explain())
		}
		s.now = s.now.Add(4 * time.Minute)
		if i%4 != 3 {
			s.decide(Accept, me, &friend, Relation{})
		}
	}
	if s.restricted(me.ID) {
		t.Error("benign new user restricted")
	}
}

func TestScenarioNewAccountSpammer(t *testing.T) {
	// A new account messages strangers every 30 seconds, ignoring every
	// refusal; 1 in 20 answers.
	s := newSim(t)
	bot := acct(1, Adult, 0)
	bot.CreatedAt = s.now
	for i := range 20 {
		victim := acct(byte(10+i), Adult, 5000)
		d := s.decide(FirstContact, bot, &victim, Relation{})
		if !d.Refused() && i%20 == 7 {
			s.decide(Accept, bot, &victim, Relation{})
		}
		s.now = s.now.Add(30 * time.Second)
		if s.restricted(bot.ID) {
			t.Logf("restricted at attempt %d by %s", i+1, d.Rule)
			return
		}
	}
	t.Error("a new account messaging strangers was not restricted within 20 attempts")
}

func TestScenarioSlowSpammer(t *testing.T) {
	// The same, paced under the hourly limit (9 an hour), nobody answers.
	s := newSim(t)
	bot := acct(1, Adult, 0)
	bot.CreatedAt = s.now
	for i := range 20 {
		victim := acct(byte(10+i), Adult, 5000)
		d := s.decide(FirstContact, bot, &victim, Relation{})
		s.now = s.now.Add(time.Hour / 9)
		if s.restricted(bot.ID) {
			t.Logf("restricted at attempt %d by %s", i+1, d.Rule)
			return
		}
	}
	t.Error("a paced new-account spammer was not restricted within 20 attempts")
}

func TestScenarioAdultMassOutreachToTeens(t *testing.T) {
	s := newSim(t)
	adult := acct(1, Adult, 24*365)
	for i := range 20 {
		teen := acct(byte(10+i), Teen, 5000)
		d := s.decide(FirstContact, adult, &teen, Relation{})
		if !d.Refused() {
			t.Fatalf("adult reached an unconnected teen:\n%s", d.Explain())
		}
		s.now = s.now.Add(10 * time.Minute)
		if s.status[adult.ID] == "suspended" {
			if i+1 != 5 || len(d.Flags) != 1 || d.Flags[0].Category != "child_safety" {
				t.Errorf("suspended at attempt %d with flags %v, want at 5 with a child_safety flag", i+1, d.Flags)
			}
			return
		}
	}
	t.Error("mass outreach to teens was not suspended")
}

func TestScenarioTeenMassOutreachToTeens(t *testing.T) {
	// A "teen" account (possibly an adult who lied) messages teens it does
	// not know, one every 10 minutes; 1 in 10 answers.
	s := newSim(t)
	fake := acct(1, Teen, 24*30)
	for i := range 20 {
		teen := acct(byte(10+i), Teen, 5000)
		d := s.decide(FirstContact, fake, &teen, Relation{})
		if !d.Refused() && i%10 == 3 {
			s.decide(Accept, fake, &teen, Relation{})
		}
		s.now = s.now.Add(10 * time.Minute)
		if s.restricted(fake.ID) {
			t.Logf("restricted at attempt %d by %s", i+1, d.Rule)
			return
		}
	}
	t.Error("mass outreach to teens by a teen account was not restricted within 20 attempts")
}

func TestScenarioBlockedAndReportedSpammer(t *testing.T) {
	// An established account spams strangers; every fourth blocks and
	// reports it shortly after.
	s := newSim(t)
	spammer := acct(1, Adult, 24*365)
	for i := range 20 {
		victim := acct(byte(10+i), Adult, 5000)
		d := s.decide(FirstContact, spammer, &victim, Relation{})
		s.now = s.now.Add(2 * time.Minute)
		if !d.Refused() && i%4 == 1 {
			s.decide(Block, spammer, &victim, Relation{})
			s.decide(Report, spammer, &victim, Relation{})
		}
		if s.restricted(spammer.ID) {
			t.Logf("restricted after attempt %d", i+1)
			return
		}
	}
	t.Error("a blocked-and-reported spammer was not restricted within 20 attempts")
}
