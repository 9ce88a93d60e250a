package safety

import (
	"bytes"
	"testing"
)

func TestDefaultPolicyCompiles(t *testing.T) {
	e, err := Compile(DefaultPolicyFile, DefaultPolicy(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.Warnings(); len(w) != 0 {
		t.Errorf("default policy has warnings: %q", w)
	}
	if !bytes.Equal(DefaultPolicy(), defaultPolicy) || Default().Digest() != e.Digest() {
		t.Error("Default() is not the embedded policy")
	}
	for _, r := range e.Rules() {
		if r.OnError != "match" {
			t.Errorf("default rule %s does not fail closed", r.Name)
		}
	}
	// docs/SAFETY.md: the costliest default rule estimates at most 20.
	if _, err := Compile(DefaultPolicyFile, DefaultPolicy(), Options{CostLimit: 20}); err != nil {
		t.Errorf("default policy under a cost limit of 20: %v", err)
	}
}

// ruleCase is one input at one point and whether a rule must match.
type ruleCase struct {
	name  string
	rule  string
	point Point
	in    Input
	want  bool
	// outcome, when set, is the decision's expected outcome.
	outcome *Action
}

func outcome(a Action) *Action { return &a }

// defaultRuleCases exercises every rule of the default policy on both sides
// of each threshold. Inputs carry the actor's earlier events; the engine
// adds the event under decision to the attempt and reactive counters.
func defaultRuleCases() []ruleCase {
	var (
		adult    = acct(1, Adult, 24*365)
		adult2   = acct(2, Adult, 24*365)
		teen     = acct(3, Teen, 24*365)
		teen2    = acct(4, Teen, 24*365)
		newAdult = acct(5, Adult, 71)
	)
	with := func(a Account, f func(*Account)) Account { f(&a); return a }
	status := func(a Account, s string) Account { return with(a, func(a *Account) { a.Status = s }) }
	ageH := func(a Account, h int) Account { return acct(a.ID[0], a.AgeBand, h) }
	ptr := func(a Account) *Account { return &a }
	contact := Relation{IsContact: true, HasReplied: true}
	rep := func(verified bool, cat string) *ReportInfo { return &ReportInfo{Verified: verified, Category: cat} }

	return []ruleCase{
		// suspended-account
		{"suspended sender", "suspended-account", FirstContact, Input{Actor: status(adult, "suspended"), Target: &adult2}, true, outcome(SuspendPendingReview)},
		{"banned looks up", "suspended-account", Lookup, Input{Actor: status(adult, "banned"), Target: &adult2}, true, nil},
		{"active sender", "suspended-account", FirstContact, Input{Actor: adult, Target: &adult2}, false, nil},

		// restricted-account
		{"restricted to stranger", "restricted-account", FirstContact, Input{Actor: status(adult, "restricted"), Target: &adult2}, true, outcome(RestrictNewConversations)},
		{"restricted to contact", "restricted-account", FirstContact, Input{Actor: status(adult, "restricted"), Target: &adult2, Relation: contact}, false, outcome(Allow)},

		// adult-contacts-unconnected-teen
		{"adult to teen", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: adult, Target: &teen}, true, outcome(DenyContactWithTeens)},
		{"adult adds teen", "adult-contacts-unconnected-teen", GroupAdd, Input{Actor: adult, Target: &teen}, true, outcome(DenyContactWithTeens)},
		{"unknown band to teen", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: with(adult, func(a *Account) { a.AgeBand = "" }), Target: &teen}, true, outcome(DenyContactWithTeens)},
		{"adult to unknown band", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: adult, Target: ptr(with(adult2, func(a *Account) { a.AgeBand = "child" }))}, true, outcome(DenyContactWithTeens)},
		{"adult to teen contact", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: adult, Target: &teen, Relation: contact}, false, outcome(Allow)},
		{"teen to teen", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: teen, Target: &teen2}, false, outcome(RouteToRequests)},
		{"adult to adult", "adult-contacts-unconnected-teen", FirstContact, Input{Actor: adult, Target: &adult2}, false, outcome(RouteToRequests)},

		// teen-not-discoverable
		{"adult finds teen", "teen-not-discoverable", Lookup, Input{Actor: adult, Target: &teen}, true, outcome(DenyContactWithTeens)},
		{"adult finds teen contact", "teen-not-discoverable", Lookup, Input{Actor: adult, Target: &teen, Relation: contact}, false, outcome(Allow)},
		{"teen finds teen", "teen-not-discoverable", Lookup, Input{Actor: teen, Target: &teen2}, false, outcome(Allow)},
		{"adult finds adult", "teen-not-discoverable", Lookup, Input{Actor: adult, Target: &adult2}, false, outcome(Allow)},

		// adult-mass-outreach-to-teens: this attempt is the fifth.
		{"fifth teen attempt", "adult-mass-outreach-to-teens", FirstContact, Input{Actor: adult, Target: &teen, Signals: sig(TeenOutreachAttempts, Day, 4)}, true, outcome(SuspendPendingReview)},
		{"fifth teen add", "adult-mass-outreach-to-teens", GroupAdd, Input{Actor: adult, Target: &teen, Signals: sig(TeenOutreachAttempts, Day, 4)}, true, outcome(SuspendPendingReview)},
		{"fourth teen attempt", "adult-mass-outreach-to-teens", FirstContact, Input{Actor: adult, Target: &teen, Signals: sig(TeenOutreachAttempts, Day, 3)}, false, outcome(DenyContactWithTeens)},
		{"teen actor", "adult-mass-outreach-to-teens", FirstContact, Input{Actor: teen, Target: &teen2, Signals: sig(TeenOutreachAttempts, Day, 4)}, false, nil},
		{"adult target", "adult-mass-outreach-to-teens", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(TeenOutreachAttempts, Day, 4)}, false, nil},

		// adult-teen-outreach-sweep
		{"sweep 5 in a week", "adult-teen-outreach-sweep", Sweep, Input{Actor: adult, Signals: sig(TeenOutreachAttempts, Week, 5)}, true, outcome(SuspendPendingReview)},
		{"sweep 4 in a week", "adult-teen-outreach-sweep", Sweep, Input{Actor: adult, Signals: sig(TeenOutreachAttempts, Week, 4)}, false, outcome(Allow)},
		{"sweep already suspended", "adult-teen-outreach-sweep", Sweep, Input{Actor: status(adult, "suspended"), Signals: sig(TeenOutreachAttempts, Week, 9)}, false, nil},
		{"sweep teen", "adult-teen-outreach-sweep", Sweep, Input{Actor: teen, Signals: sig(TeenOutreachAttempts, Week, 9)}, false, nil},

		// teen-mass-outreach-to-teens: the tenth attempt with fewer than half answered.
		{"tenth, 4 replies", "teen-mass-outreach-to-teens", FirstContact, Input{Actor: teen, Target: &teen2, Signals: sig(TeenOutreachAttempts, Day, 9, RepliesReceived, Day, 4)}, true, outcome(RestrictNewConversations)},
		{"tenth, 5 replies", "teen-mass-outreach-to-teens", FirstContact, Input{Actor: teen, Target: &teen2, Signals: sig(TeenOutreachAttempts, Day, 9, RepliesReceived, Day, 5)}, false, outcome(RouteToRequests)},
		{"ninth, no replies", "teen-mass-outreach-to-teens", FirstContact, Input{Actor: teen, Target: &teen2, Signals: sig(TeenOutreachAttempts, Day, 8)}, false, nil},
		{"tenth to a contact", "teen-mass-outreach-to-teens", FirstContact, Input{Actor: teen, Target: &teen2, Relation: contact, Signals: sig(TeenOutreachAttempts, Day, 12)}, false, outcome(Allow)},

		// new-account-notice-to-teen
		{"167h-old account to teen", "new-account-notice-to-teen", FirstContact, Input{Actor: ageH(teen, 167), Target: &teen2}, true, outcome(RouteToRequests)},
		{"168h-old account to teen", "new-account-notice-to-teen", FirstContact, Input{Actor: ageH(teen, 168), Target: &teen2}, false, nil},
		{"new account to adult", "new-account-notice-to-teen", FirstContact, Input{Actor: ageH(teen, 1), Target: &adult2}, false, nil},
		{"new account to teen contact", "new-account-notice-to-teen", FirstContact, Input{Actor: ageH(teen, 1), Target: &teen2, Relation: contact}, false, nil},

		// adult-probing-teen-handles
		{"10 refused look-ups", "adult-probing-teen-handles", Sweep, Input{Actor: adult, Signals: sig(HandleLookupsRefused, Day, 10)}, true, outcome(Allow)},
		{"9 refused look-ups", "adult-probing-teen-handles", Sweep, Input{Actor: adult, Signals: sig(HandleLookupsRefused, Day, 9)}, false, nil},
		{"teen refused look-ups", "adult-probing-teen-handles", Sweep, Input{Actor: teen, Signals: sig(HandleLookupsRefused, Day, 10)}, false, nil},

		// verified-child-safety-report
		{"verified child safety", "verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2, Report: rep(true, "child_safety")}, true, outcome(Allow)},
		{"unverified child safety", "verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2, Report: rep(false, "child_safety")}, false, nil},
		{"verified spam", "verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2, Report: rep(true, "spam")}, false, nil},
		{"unknown category reads other", "verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2, Report: rep(true, "Child_Safety")}, false, nil},
		{"no report info", "verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2}, false, nil},

		// teen-verified-child-safety-report
		{"teen reports adult", "teen-verified-child-safety-report", Report, Input{Actor: adult, Target: &teen, Report: rep(true, "child_safety")}, true, outcome(SuspendPendingReview)},
		{"adult reports adult", "teen-verified-child-safety-report", Report, Input{Actor: adult, Target: &adult2, Report: rep(true, "child_safety")}, false, nil},
		{"teen reports teen", "teen-verified-child-safety-report", Report, Input{Actor: teen2, Target: &teen, Report: rep(true, "child_safety")}, false, nil},
		{"teen, unverified", "teen-verified-child-safety-report", Report, Input{Actor: adult, Target: &teen, Report: rep(false, "child_safety")}, false, nil},

		// new-account-outreach-pace: the 11th attempt within the hour.
		{"11th attempt", "new-account-outreach-pace", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 10, OutreachAttempts, Day, 10)}, true, outcome(RateLimit)},
		{"11th attempt, 1 reply", "new-account-outreach-pace", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 10, RepliesReceived, Day, 1)}, false, nil},
		{"12th attempt, no reply", "new-account-outreach-pace", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 11)}, true, nil},
		{"10th attempt", "new-account-outreach-pace", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 9, OutreachAttempts, Day, 9)}, false, outcome(RouteToRequests)},
		{"72h-old account", "new-account-outreach-pace", FirstContact, Input{Actor: ageH(adult, 72), Target: &adult2, Signals: sig(OutreachAttempts, Hour, 10)}, false, nil},
		{"new account to contact", "new-account-outreach-pace", FirstContact, Input{Actor: newAdult, Target: &adult2, Relation: contact, Signals: sig(OutreachAttempts, Hour, 20)}, false, outcome(Allow)},

		// new-account-ignoring-limits
		{"5 refusals", "new-account-ignoring-limits", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(RefusedOutreach, Hour, 5)}, true, outcome(RestrictNewConversations)},
		{"4 refusals", "new-account-ignoring-limits", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(RefusedOutreach, Hour, 4)}, false, nil},
		{"5 refusals, old account", "new-account-ignoring-limits", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(RefusedOutreach, Hour, 5)}, false, nil},

		// new-account-unanswered-outreach: 15th attempt, under a quarter answered.
		{"15th, 3 replies", "new-account-unanswered-outreach", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 14, RepliesReceived, Week, 3)}, true, outcome(RestrictNewConversations)},
		{"15th, 4 replies", "new-account-unanswered-outreach", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 14, RepliesReceived, Week, 4)}, false, outcome(RouteToRequests)},
		{"14th, no replies", "new-account-unanswered-outreach", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 13)}, false, nil},

		// outreach-pace
		{"31st attempt", "outreach-pace", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 30, OutreachAttempts, Day, 30)}, true, outcome(RateLimit)},
		{"31st attempt, 1 reply", "outreach-pace", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 30, RepliesReceived, Day, 1)}, false, nil},
		{"32nd attempt, 1 reply", "outreach-pace", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 31, RepliesReceived, Day, 1)}, true, nil},
		{"30th attempt", "outreach-pace", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(OutreachAttempts, Hour, 29, OutreachAttempts, Day, 29)}, false, outcome(RouteToRequests)},

		// unanswered-outreach
		{"40th, 9 replies", "unanswered-outreach", FirstContact, Input{Actor: ageH(adult, 72), Target: &adult2, Signals: sig(OutreachAttempts, Day, 39, RepliesReceived, Day, 9)}, true, outcome(RestrictNewConversations)},
		{"40th, 10 replies", "unanswered-outreach", FirstContact, Input{Actor: ageH(adult, 72), Target: &adult2, Signals: sig(OutreachAttempts, Day, 39, RepliesReceived, Day, 10)}, false, outcome(RouteToRequests)},
		{"39th, no replies", "unanswered-outreach", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 38)}, false, nil},

		// blocked-after-outreach
		{"third block, 15 contacted", "blocked-after-outreach", Block, Input{Actor: adult, Target: &adult2, Signals: sig(BlocksReceived, Day, 2, FirstContactsToNonContacts, Day, 15)}, true, outcome(RestrictNewConversations)},
		{"third block by a contact", "blocked-after-outreach", Block, Input{Actor: adult, Target: &adult2, Relation: contact, Signals: sig(BlocksReceived, Day, 2)}, true, nil},
		{"third block, 16 contacted", "blocked-after-outreach", Block, Input{Actor: adult, Target: &adult2, Signals: sig(BlocksReceived, Day, 2, FirstContactsToNonContacts, Day, 16)}, false, outcome(Allow)},
		{"third report, 2 blocks, 25 contacted", "blocked-after-outreach", Report, Input{Actor: adult, Target: &adult2, Report: rep(false, "spam"), Signals: sig(BlocksReceived, Day, 2, ReportsReceived, Day, 2, FirstContactsToNonContacts, Day, 25)}, true, outcome(RestrictNewConversations)},
		{"third report, 2 blocks, 26 contacted", "blocked-after-outreach", Report, Input{Actor: adult, Target: &adult2, Report: rep(false, "spam"), Signals: sig(BlocksReceived, Day, 2, ReportsReceived, Day, 2, FirstContactsToNonContacts, Day, 26)}, false, nil},
		{"second report, 2 blocks", "blocked-after-outreach", Report, Input{Actor: adult, Target: &adult2, Report: rep(false, "spam"), Signals: sig(BlocksReceived, Day, 2, ReportsReceived, Day, 1)}, false, nil},
		{"second block", "blocked-after-outreach", Block, Input{Actor: adult, Target: &adult2, Signals: sig(BlocksReceived, Day, 1)}, false, nil},
		{"blocked account reaches out", "blocked-after-outreach", FirstContact, Input{Actor: adult, Target: &adult2, Signals: sig(BlocksReceived, Day, 3, FirstContactsToNonContacts, Day, 15)}, true, outcome(RestrictNewConversations)},
		{"blocked account writes a contact", "blocked-after-outreach", FirstContact, Input{Actor: adult, Target: &adult2, Relation: contact, Signals: sig(BlocksReceived, Day, 3)}, false, outcome(Allow)},

		// declined-requests
		{"fifth decline of 10", "declined-requests", Decline, Input{Actor: adult, Target: &adult2, Signals: sig(RequestsDeclined, Day, 4, FirstContactsToNonContacts, Day, 10)}, true, outcome(RestrictNewConversations)},
		{"fifth decline of 11", "declined-requests", Decline, Input{Actor: adult, Target: &adult2, Signals: sig(RequestsDeclined, Day, 4, FirstContactsToNonContacts, Day, 11)}, false, outcome(Allow)},
		{"fourth decline", "declined-requests", Decline, Input{Actor: adult, Target: &adult2, Signals: sig(RequestsDeclined, Day, 3, FirstContactsToNonContacts, Day, 4)}, false, nil},

		// verified-reports
		{"third verified report", "verified-reports", Report, Input{Actor: adult, Target: &adult2, Report: rep(true, "harassment"), Signals: sig(ReportsReceivedVerified, Week, 2)}, true, outcome(RestrictNewConversations)},
		{"unverified after two", "verified-reports", Report, Input{Actor: adult, Target: &adult2, Report: rep(false, "harassment"), Signals: sig(ReportsReceivedVerified, Week, 2)}, false, nil},

		// new-account-high-outreach-notice
		{"8th attempt, new", "new-account-high-outreach-notice", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 7)}, true, outcome(RouteToRequests)},
		{"7th attempt, new", "new-account-high-outreach-notice", FirstContact, Input{Actor: newAdult, Target: &adult2, Signals: sig(OutreachAttempts, Day, 6)}, false, nil},
		{"8th attempt, 72h old", "new-account-high-outreach-notice", FirstContact, Input{Actor: ageH(adult, 72), Target: &adult2, Signals: sig(OutreachAttempts, Day, 7)}, false, nil},

		// lookup-pace
		{"61st look-up", "lookup-pace", Lookup, Input{Actor: adult, Target: &adult2, Signals: sig(HandleLookups, Hour, 60)}, true, outcome(RateLimit)},
		{"60th look-up", "lookup-pace", Lookup, Input{Actor: adult, Target: &adult2, Signals: sig(HandleLookups, Hour, 59)}, false, outcome(Allow)},

		// sustained-unanswered-outreach
		{"100 attempts, 19 replies", "sustained-unanswered-outreach", Sweep, Input{Actor: adult, Signals: sig(OutreachAttempts, Week, 100, RepliesReceived, Week, 19)}, true, outcome(Allow)},
		{"100 attempts, 20 replies", "sustained-unanswered-outreach", Sweep, Input{Actor: adult, Signals: sig(OutreachAttempts, Week, 100, RepliesReceived, Week, 20)}, false, nil},
		{"99 attempts", "sustained-unanswered-outreach", Sweep, Input{Actor: adult, Signals: sig(OutreachAttempts, Week, 99)}, false, nil},

		// device-churn
		{"10 devices added", "device-churn", Sweep, Input{Actor: adult, Signals: sig(DevicesAdded, Week, 10)}, true, outcome(Allow)},
		{"10 devices removed", "device-churn", Sweep, Input{Actor: adult, Signals: sig(DevicesRemoved, Week, 10)}, true, nil},
		{"9 of each", "device-churn", Sweep, Input{Actor: adult, Signals: sig(DevicesAdded, Week, 9, DevicesRemoved, Week, 9)}, false, nil},

		// non-contact-to-requests
		{"stranger", "non-contact-to-requests", FirstContact, Input{Actor: adult, Target: &adult2}, true, outcome(RouteToRequests)},
		{"group invite", "non-contact-to-requests", GroupAdd, Input{Actor: adult, Target: &adult2}, true, outcome(RouteToRequests)},
		{"contact", "non-contact-to-requests", FirstContact, Input{Actor: adult, Target: &adult2, Relation: contact}, false, outcome(Allow)},
	}
}

func TestDefaultRules(t *testing.T) {
	e := Default()
	covered, uncovered := map[string]bool{}, map[string]bool{}
	for _, c := range defaultRuleCases() {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			c.in.Now = t0
			d := mustDecide(t, e, c.point, c.in)
			if got := matched(d, c.rule); got != c.want {
				t.Errorf("rule %s matched = %v, want %v\n%s", c.rule, got, c.want, d.Explain())
			}
			if c.outcome != nil && d.Outcome != *c.outcome {
				t.Errorf("outcome = %s, want %s\n%s", d.Outcome, *c.outcome, d.Explain())
			}
		})
		if c.want {
			covered[c.rule] = true
		} else {
			uncovered[c.rule] = true
		}
	}
	for _, r := range e.Rules() {
		if !covered[r.Name] || !uncovered[r.Name] {
			t.Errorf("default rule %s lacks a test case in which it matches (%v) or one in which it does not (%v)", r.Name, covered[r.Name], uncovered[r.Name])
		}
	}
}

// TestDefaultSideEffects checks the flags and notices the default policy's
// rules produce.
func TestDefaultSideEffects(t *testing.T) {
	e := Default()
	adult, teen, newTeen := acct(1, Adult, 24*365), acct(2, Teen, 24*365), acct(3, Teen, 5)

	d := mustDecide(t, e, FirstContact, Input{Now: t0, Actor: adult, Target: &teen, Signals: sig(TeenOutreachAttempts, Day, 4)})
	if !d.Suspend || len(d.Flags) != 1 || d.Flags[0] != (Flag{"adult-mass-outreach-to-teens", "child_safety", "critical"}) {
		t.Errorf("mass outreach to teens: suspend %v, flags %+v", d.Suspend, d.Flags)
	}

	d = mustDecide(t, e, FirstContact, Input{Now: t0, Actor: newTeen, Target: &teen})
	if d.Outcome != RouteToRequests || len(d.Notices) != 1 || d.Notices[0].Rule != "new-account-notice-to-teen" {
		t.Errorf("new teen account to teen: outcome %s, notices %+v", d.Outcome, d.Notices)
	}

	// A refused send carries no notice: nothing reaches the target.
	d = mustDecide(t, e, FirstContact, Input{Now: t0, Actor: acct(4, Adult, 5), Target: &teen})
	if d.Outcome != DenyContactWithTeens || len(d.Notices) != 0 || !matched(d, "new-account-notice-to-teen") {
		t.Errorf("new adult to teen: outcome %s, notices %+v", d.Outcome, d.Notices)
	}

	d = mustDecide(t, e, Block, Input{Now: t0, Actor: adult, Target: &teen, Signals: sig(BlocksReceived, Day, 2)})
	if d.RestrictFor != 72*60*60*1e9 || len(d.Flags) != 1 || d.Flags[0].Category != "spam" {
		t.Errorf("blocked: restrict for %v, flags %+v", d.RestrictFor, d.Flags)
	}
}
