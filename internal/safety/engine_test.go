package safety

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// precedencePolicy has one rule per outcome; rule i matches when bit i of
// relation.shared_groups is set, so every subset of outcomes can be asked
// for at once.
func precedencePolicy() string {
	var b strings.Builder
	b.WriteString(Header + "\n")
	acts := []string{"allow", "route_to_requests", "rate_limit for 1h", "restrict_new_conversations for 2h", "deny_contact_with_teens", "suspend_pending_review"}
	for i, a := range acts {
		fmt.Fprintf(&b, "rule r%d\n  at first_contact\n  when relation.shared_groups / %d %% 2 == 1\n  action %s\n  reason \"reason %d\"\n", i, 1<<i, a, i)
	}
	return b.String()
}

func TestPrecedence(t *testing.T) {
	e := mustCompile(t, precedencePolicy())
	a, b := acct(1, Adult, 1000), acct(2, Adult, 1000)
	for mask := range 1 << 6 {
		d := mustDecide(t, e, FirstContact, Input{Now: t0, Actor: a, Target: &b, Relation: Relation{SharedGroups: mask}})
		want, wantRule := Allow, ""
		for i := 5; i >= 0; i-- {
			if mask&(1<<i) != 0 {
				want, wantRule = Action(i), fmt.Sprintf("r%d", i)
				break
			}
		}
		if d.Outcome != want || d.Rule != wantRule {
			t.Errorf("mask %06b: outcome %s by %q, want %s by %q", mask, d.Outcome, d.Rule, want, wantRule)
		}
		if wantRule != "" && d.Reason != "reason "+wantRule[1:] {
			t.Errorf("mask %06b: reason %q", mask, d.Reason)
		}
		if len(d.Matches) != popcount(mask) {
			t.Errorf("mask %06b: %d matches", mask, len(d.Matches))
		}
		if d.Suspend != (mask&(1<<5) != 0) {
			t.Errorf("mask %06b: suspend %v", mask, d.Suspend)
		}
		if (d.RestrictFor == 2*time.Hour) != (mask&(1<<3) != 0) {
			t.Errorf("mask %06b: restrict for %v", mask, d.RestrictFor)
		}
		if (d.RetryAfter == time.Hour) != (want == RateLimit) {
			t.Errorf("mask %06b: retry after %v with outcome %s", mask, d.RetryAfter, d.Outcome)
		}
		if d.Refused() != (want >= RateLimit) {
			t.Errorf("mask %06b: refused %v", mask, d.Refused())
		}
	}
}

func popcount(x int) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestPrecedenceTiesAndDurations(t *testing.T) {
	e := mustCompile(t, Header+`
rule second
  at first_contact
  when true
  action rate_limit for 10m
  action restrict_new_conversations for 1d
  reason "second"
rule first
  at first_contact
  when true
  action rate_limit for 2h
  action restrict_new_conversations for 3h
  action flag_for_moderators spam high
  reason "first"
  priority 10
rule limiter
  at first_contact
  when true
  action rate_limit for 30m
  action flag_for_moderators other
  reason "third"
  priority -10
`)
	a, b := acct(1, Adult, 1000), acct(2, Adult, 1000)
	d := mustDecide(t, e, FirstContact, Input{Now: t0, Actor: a, Target: &b})
	if d.Outcome != RestrictNewConversations || d.Rule != "first" {
		t.Errorf("outcome %s by %s, want restrict_new_conversations by first (higher priority wins ties)", d.Outcome, d.Rule)
	}
	if d.RestrictFor != 24*time.Hour || d.RetryAfter != 0 {
		t.Errorf("restrict for %v (want the longest, 24h), retry after %v (want 0: outcome is not rate_limit)", d.RestrictFor, d.RetryAfter)
	}
	want := []Flag{{"first", "spam", "high"}, {"limiter", "other", "medium"}}
	if !slices.Equal(d.Flags, want) {
		t.Errorf("flags %v, want %v", d.Flags, want)
	}
	if got := []string{d.Matches[0].Rule, d.Matches[1].Rule, d.Matches[2].Rule}; !slices.Equal(got, []string{"first", "second", "limiter"}) {
		t.Errorf("match order %v", got)
	}
}

// failPolicy's rules fail to evaluate when signals.devices_added_1h is 0
// (division by zero) and match otherwise.
const failPolicy = Header + `
rule teen-guard
  at first_contact
  when actor.is_adult && target.is_teen && 10 / signals.devices_added_1h >= 0
  action deny_contact_with_teens
  reason "teen guard"
rule skipper
  at first_contact
  when 10 / signals.devices_added_1h >= 0
  action rate_limit for 1h
  reason "skipper"
  on_error skip
rule overflow
  at sweep
  when signals.devices_added_1h * 9223372036854775807 > 0
  action flag_for_moderators other
  reason "overflow"
`

func TestFailClosed(t *testing.T) {
	e := mustCompile(t, failPolicy)
	adult, teen := acct(1, Adult, 1000), acct(2, Teen, 1000)

	// Division by zero: the teen rule fails closed and still refuses; the
	// rule that opted into on_error skip is skipped.
	d := mustDecide(t, e, FirstContact, Input{Now: t0, Actor: adult, Target: &teen})
	if d.Outcome != DenyContactWithTeens || d.Rule != "teen-guard" {
		t.Fatalf("outcome %s by %s, want deny_contact_with_teens by teen-guard", d.Outcome, d.Rule)
	}
	if len(d.Matches) != 1 || !strings.Contains(d.Matches[0].Err, "division by zero") {
		t.Errorf("matches %+v", d.Matches)
	}
	if len(d.Errors) != 2 || !d.Errors[0].Matched || d.Errors[1].Matched || d.Errors[1].Rule != "skipper" {
		t.Errorf("errors %+v", d.Errors)
	}
	ex := d.Explain()
	for _, want := range []string{"counted as matched, the rule fails closed", "skipped rule skipper", "on_error skip"} {
		if !strings.Contains(ex, want) {
			t.Errorf("explanation lacks %q:\n%s", want, ex)
		}
	}

	// Without the error both rules evaluate normally.
	d = mustDecide(t, e, FirstContact, Input{Now: t0, Actor: adult, Target: &teen, Signals: sig(DevicesAdded, Hour, 1)})
	if d.Outcome != DenyContactWithTeens || len(d.Errors) != 0 || len(d.Matches) != 2 {
		t.Errorf("no error: outcome %s, errors %v, %d matches", d.Outcome, d.Errors, len(d.Matches))
	}

	// Integer overflow is an error too, and fails closed.
	d = mustDecide(t, e, Sweep, Input{Now: t0, Actor: adult, Signals: sig(DevicesAdded, Hour, 2)})
	if len(d.Flags) != 1 || len(d.Errors) != 1 || !strings.Contains(d.Errors[0].Err, "overflow") {
		t.Errorf("overflow: flags %v errors %v", d.Flags, d.Errors)
	}
}

func TestExplain(t *testing.T) {
	e := Default()
	newAdult, other := acct(1, Adult, 10), acct(2, Adult, 1000)
	d := mustDecide(t, e, FirstContact, Input{
		Now: t0, Actor: newAdult, Target: &other,
		Signals: sig(OutreachAttempts, Hour, 10, OutreachAttempts, Day, 10, RepliesReceived, Week, 1),
	})
	if d.Outcome != RateLimit {
		t.Fatalf("outcome %s", d.Outcome)
	}
	ex := d.Explain()
	for _, want := range []string{
		"first_contact at 2026-03-01T10:20:00Z: rate_limit (refused)",
		`decided by rule "new-account-outreach-pace" (default.policy:`,
		"New accounts can contact up to 10 new people an hour",
		"retry after 1h\n",
		"new-account-outreach-pace (line ",
		"-> rate_limit for 1h",
		"when !relation.is_contact && actor.account_age_hours < 72 && signals.outreach_attempts_1h - signals.replies_received_24h > 10",
		// The values the rule read, the current attempt included (10 + 1).
		"saw  relation.is_contact = false, actor.account_age_hours = 10, signals.outreach_attempts_1h = 11, signals.replies_received_24h = 0",
		"new-account-high-outreach-notice",
		"saw  relation.is_contact = false, actor.account_age_hours = 10, signals.outreach_attempts_24h = 11",
		"policy default.policy sha256:",
	} {
		if !strings.Contains(ex, want) {
			t.Errorf("explanation lacks %q:\n%s", want, ex)
		}
	}
	// A notice that was not delivered is not announced.
	if strings.Contains(ex, "safety notice to the other party") {
		t.Errorf("refused decision announces a notice:\n%s", ex)
	}

	d = mustDecide(t, e, Block, Input{Now: t0, Actor: newAdult, Target: &other, Signals: sig(BlocksReceived, Day, 2)})
	ex = d.Explain()
	for _, want := range []string{"new conversations restricted for 3d", "flag for moderators: spam, medium (rule blocked-after-outreach)", `decision = "block"`, "signals.blocks_received_24h = 3"} {
		if !strings.Contains(ex, want) {
			t.Errorf("explanation lacks %q:\n%s", want, ex)
		}
	}
	d = mustDecide(t, e, FirstContact, Input{Now: t0, Actor: acct(3, Teen, 2), Target: &Account{ID: AccountID{4}, AgeBand: Teen}})
	if ex := d.Explain(); !strings.Contains(ex, `safety notice to the other party: "This account was created less than a week ago`) || !strings.Contains(ex, "(delivered to message requests)") {
		t.Errorf("explanation:\n%s", ex)
	}
	d = mustDecide(t, e, Sweep, Input{Now: t0, Actor: other})
	if ex := d.Explain(); !strings.Contains(ex, "sweep at 2026-03-01T10:20:00Z: allow (allowed)\n  no rule matched\n") {
		t.Errorf("explanation:\n%s", ex)
	}
}

func TestDecisionJSON(t *testing.T) {
	newAdult, other := acct(1, Adult, 10), acct(2, Adult, 1000)
	d := mustDecide(t, Default(), FirstContact, Input{
		Now: t0, Actor: newAdult, Target: &other,
		Signals: sig(OutreachAttempts, Hour, 10, OutreachAttempts, Day, 10),
	})
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Point       string         `json:"point"`
		Outcome     string         `json:"outcome"`
		Rule        string         `json:"rule"`
		RetryAfter  string         `json:"retry_after"`
		Digest      string         `json:"policy_digest"`
		Vars        map[string]any `json:"vars"`
		Explanation string         `json:"explanation"`
		Matches     []struct {
			Rule    string `json:"rule"`
			Actions []struct {
				Action string `json:"action"`
				For    string `json:"for"`
			} `json:"actions"`
			Values []Var `json:"values"`
		} `json:"matches"`
		Input struct {
			Actor struct {
				ID string `json:"id"`
			} `json:"actor"`
			Signals map[string]int64 `json:"signals"`
		} `json:"input"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Point != "first_contact" || got.Outcome != "rate_limit" || got.Rule != "new-account-outreach-pace" || got.RetryAfter != "1h" || got.Digest != Default().Digest() {
		t.Errorf("decision JSON header: %+v", got)
	}
	if got.Explanation != d.Explain() {
		t.Error("JSON explanation differs from Explain()")
	}
	// vars is the whole snapshot as the rules saw it (the attempt counted),
	// input.signals the signals as given.
	if got.Vars["signals.outreach_attempts_1h"] != 11.0 || got.Input.Signals["outreach_attempts_1h"] != 10 {
		t.Errorf("vars %v / input signals %v", got.Vars["signals.outreach_attempts_1h"], got.Input.Signals["outreach_attempts_1h"])
	}
	// Every fact (no report.* at first_contact) and the non-zero counters:
	// the attempts in 1h and 24h, plus this attempt in 7d.
	if want := int(varSignals) - 2 + 3; len(got.Vars) != want {
		t.Errorf("vars has %d entries, want %d: %v", len(got.Vars), want, got.Vars)
	}
	if len(got.Input.Signals) != 2 {
		t.Errorf("input signals %v", got.Input.Signals)
	}
	if got.Input.Actor.ID != newAdult.ID.String() {
		t.Errorf("actor id %q", got.Input.Actor.ID)
	}
	if got.Matches[0].Rule != "new-account-outreach-pace" || got.Matches[0].Actions[0].For != "1h" || got.Matches[0].Values[2].Name != "signals.outreach_attempts_1h" {
		t.Errorf("first match %+v", got.Matches[0])
	}
}

func TestDecideInvalidInput(t *testing.T) {
	e := Default()
	a, b := acct(1, Adult, 100), acct(2, Teen, 100)
	tests := []struct {
		p  Point
		in Input
	}{
		{Point(NumPoints), Input{Now: t0, Actor: a, Target: &b}},
		{FirstContact, Input{Actor: a, Target: &b}},
		{FirstContact, Input{Now: t0, Actor: a}},
		{Report, Input{Now: t0, Actor: a}},
		{Sweep, Input{Now: t0, Actor: a, Target: &b}},
	}
	for _, tc := range tests {
		d, err := e.Decide(tc.p, tc.in)
		if !errors.Is(err, ErrInput) || !strings.HasPrefix(err.Error(), "safety: invalid input") {
			t.Errorf("Decide(%s, %+v): err = %v", tc.p, tc.in, err)
		}
		if !d.Refused() || d.Suspend || d.RestrictFor != 0 {
			t.Errorf("Decide(%s) on invalid input: %+v, want a refusal without standing effects", tc.p, d)
		}
		if _, err := json.Marshal(d); err != nil {
			t.Errorf("the record of an invalid-input decision does not marshal: %v", err)
		}
	}
}

func TestWarnings(t *testing.T) {
	e := mustCompile(t, Header+"\nrule nothing\n  at sweep\n  when false\n  action allow\n  reason \"x\"\n")
	w := strings.Join(e.Warnings(), "\n")
	for _, want := range []string{
		"an adult can start a conversation with a teen account that is not a contact",
		"an adult can add a teen account that is not a contact to a group",
		"an adult can find a teen account that is not a contact by its handle",
		"messages from non-contacts go to the inbox",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "its own contacts") {
		t.Errorf("an empty policy does not over-restrict, but warns:\n%s", w)
	}
	e = mustCompile(t, Header+"\nrule all\n  at first_contact, group_add, lookup\n  when true\n  action rate_limit for 1h\n  reason \"x\"\n")
	if w := e.Warnings(); len(w) != 1 || !strings.Contains(w[0], "cannot freely message its own contacts") {
		t.Errorf("over-restrictive policy warnings: %q", w)
	}
}

// TestEveryVariable evaluates every variable at every point it exists, so
// a declared type that differs from the value the frame produces shows up
// as an evaluation error.
func TestEveryVariable(t *testing.T) {
	var b strings.Builder
	b.WriteString(Header + "\n")
	for i, v := range vars {
		for p := range NumPoints {
			if !varID(i).available(Point(p)) {
				continue
			}
			fmt.Fprintf(&b, "rule v%d-%d\n  at %s\n  when %s == %s\n  action flag_for_moderators other\n  reason \"x\"\n", i, p, Point(p), v.name, v.name)
		}
	}
	e := mustCompile(t, b.String())
	a, c := acct(1, Adult, 100), acct(2, Teen, 5)
	var s Signals
	for k := range NumKinds {
		for w := range NumWindows {
			s[k][w] = int64(1000*k + w) // beyond the small-integer cache
		}
	}
	for p := range NumPoints {
		in := Input{Now: t0, Actor: a, Signals: s}
		if Point(p).HasTarget() {
			in.Target = &c
		}
		if Point(p) == Report {
			in.Report = &ReportInfo{Verified: true, Category: "spam"}
		}
		d := mustDecide(t, e, Point(p), in)
		if len(d.Errors) != 0 {
			t.Errorf("%s: %v", Point(p), d.Errors)
		}
		for _, m := range d.Matches {
			if len(m.Values) != 1 {
				t.Errorf("%s: rule %s read %v", Point(p), m.Rule, m.Values)
			}
		}
	}
}

func TestSnapshotValues(t *testing.T) {
	in := Input{
		Now:      t0,
		Actor:    Account{ID: AccountID{1}, AgeBand: Teen, Status: strings.Repeat("x", 65), CreatedAt: t0.Add(-90 * time.Minute), Contacts: 3, Devices: 2},
		Target:   &Account{ID: AccountID{2}, AgeBand: Adult, Status: "active", CreatedAt: t0.Add(time.Hour)},
		Relation: Relation{IsContact: false, HasReplied: true, Blocked: true, SharedGroups: 4},
		Report:   &ReportInfo{Verified: true, Category: "made-up"},
		Signals:  sig(BlocksReceived, Day, 7),
	}
	d := mustDecide(t, mustCompile(t, Header+"\nrule r\n  at report\n  when false\n  action allow\n  reason \"x\"\n"), Report, in)
	got := map[string]any{}
	for _, v := range d.Vars() {
		got[v.Name] = v.Value
	}
	want := map[string]any{
		"decision":                             "report",
		"actor.age_band":                       "teen",
		"actor.is_teen":                        true,
		"actor.is_adult":                       false,
		"actor.status":                         "invalid", // longer than 64 bytes
		"actor.account_age_hours":              int64(1),
		"actor.contacts_count":                 int64(3),
		"actor.devices_count":                  int64(2),
		"target.is_adult":                      true,
		"target.account_age_hours":             int64(0), // created in the future
		"relation.has_replied":                 true,
		"relation.blocked":                     true,
		"relation.shared_groups":               int64(4),
		"report.verified":                      true,
		"report.category":                      "other", // unknown categories read as other
		"signals.blocks_received_24h":          int64(7),
		"signals.reports_received_24h":         int64(1), // the report under decision
		"signals.reports_received_verified_7d": int64(1),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	sweep := mustDecide(t, Default(), Sweep, Input{Now: t0, Actor: in.Actor})
	for _, v := range sweep.Vars() {
		if strings.HasPrefix(v.Name, "target.") || strings.HasPrefix(v.Name, "relation.") || strings.HasPrefix(v.Name, "report.") {
			t.Errorf("sweep snapshot has %s", v.Name)
		}
	}
}

func TestPointsAndActionsNames(t *testing.T) {
	for p := range NumPoints {
		if q, ok := parsePoint(Point(p).String()); !ok || q != Point(p) {
			t.Errorf("point %d does not round-trip", p)
		}
	}
	for a := range numActions {
		if b, ok := parseAction(Action(a).String()); !ok || b != Action(a) {
			t.Errorf("action %d does not round-trip", a)
		}
	}
	if Point(99).String() != "point(99)" || Action(99).String() != "action(99)" || Kind(99).String() != "kind(99)" || Window(9).String() != "window(9)" {
		t.Error("out-of-range names")
	}
	if FlagForModerators.IsOutcome() || SafetyNotice.Rank() != -1 || !SuspendPendingReview.IsOutcome() || RouteToRequests.Refuses() || !RateLimit.Refuses() {
		t.Error("action classification")
	}
}

// TestConcurrentDecide shares one engine between goroutines (run with
// -race): decisions equal the ones made serially.
func TestConcurrentDecide(t *testing.T) {
	e := Default()
	cases := defaultRuleCases()
	want := make([]Decision, len(cases))
	for i, c := range cases {
		c.in.Now = t0
		want[i] = mustDecide(t, e, c.point, c.in)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, c := range cases {
				c.in.Now = t0
				d, err := e.Decide(c.point, c.in)
				if err != nil || d.Outcome != want[i].Outcome || d.Explain() != want[i].Explain() {
					t.Errorf("case %s: concurrent decision differs", c.name)
					return
				}
			}
		})
	}
	wg.Wait()
}
