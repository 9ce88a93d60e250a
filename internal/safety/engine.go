package safety

import (
	"errors"
	"time"

	"cel.dev/cel-go/common/types"
)

// Decision is the engine's answer at one decision point, with everything
// needed to carry it out, store it, explain it and hear an appeal.
//
// The caller applies Outcome to the event under decision (deliver, deliver
// to requests, refuse with RetryAfter, refuse), then Suspend and RestrictFor
// to the actor's account whatever the outcome, then Flags and Notices, and
// finally records [Observe]'s counters. It stores the decision as JSON
// (json.Marshal(d)); [Decision.Explain] renders it for people.
type Decision struct {
	Point  Point     `json:"point"`
	Now    time.Time `json:"now"`
	Policy string    `json:"policy"` // policy file name
	Digest string    `json:"policy_digest"`

	// Outcome is the highest-ranked outcome among the matching rules' actions
	// (Allow when none matched). See [Action] for the ranking.
	Outcome Action `json:"outcome"`
	// Rule and Reason name the rule that decided the outcome (the first in
	// evaluation order among those asking for it) and its reason, which is
	// the message to show the actor on a refusal. Empty for Allow when no
	// rule asked for it.
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason,omitempty"`
	// RetryAfter is, when Outcome is RateLimit, the longest "for" of the
	// matching rate_limit actions: when the client may try again.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// RestrictFor is the longest "for" of the matching
	// restrict_new_conversations actions: the actor may not start new
	// conversations with non-contacts until Now+RestrictFor. Zero: no
	// standing restriction.
	RestrictFor time.Duration `json:"restrict_for,omitempty"`
	// Suspend is true when a matching rule asked to suspend the actor
	// pending review.
	Suspend bool `json:"suspend,omitempty"`
	// Flags are the moderation queue entries to create, one per matching
	// flag_for_moderators action.
	Flags []Flag `json:"flags,omitempty"`
	// Notices are the safety notices to show the target with the delivered
	// message or invitation, one per matching safety_notice action (none
	// when the outcome refuses: nothing is delivered).
	Notices []Notice `json:"notices,omitempty"`

	// Matches are the rules whose condition held (or failed to evaluate and
	// fail closed), in evaluation order, with the values they read.
	Matches []Match `json:"matches"`
	// Errors are the rules whose evaluation failed, whether they counted as
	// matched (on_error match, the default) or were skipped.
	Errors []RuleError `json:"errors,omitempty"`

	// Input is the input as the caller gave it (its Signals do not include
	// the event under decision; [Decision.Vars] does).
	Input Input `json:"input"`
}

// Flag is a request to put the actor in the moderation queue.
type Flag struct {
	Rule     string `json:"rule"`
	Category string `json:"category"`
	Severity string `json:"severity"`
}

// Notice is a safety notice to show the target, for example "this account is
// new and is messaging many people who don't know them".
type Notice struct {
	Rule string `json:"rule"`
	Text string `json:"text"`
}

// Match is one rule whose condition held.
type Match struct {
	Rule    string       `json:"rule"`
	Line    int          `json:"line"`
	When    string       `json:"when"`
	Actions []RuleAction `json:"actions"`
	// Values are the variables the condition read, with the exact values
	// it saw, in the order they appear in the expression.
	Values []Var `json:"values"`
	// Err is set when the condition could not be evaluated and the rule
	// counted as matched because it fails closed.
	Err string `json:"error,omitempty"`
}

// RuleError is a rule whose evaluation failed.
type RuleError struct {
	Rule    string `json:"rule"`
	Line    int    `json:"line"`
	Err     string `json:"error"`
	Matched bool   `json:"matched"` // true: counted as matched (on_error match)
}

// Refused reports whether the event under decision must not happen.
func (d *Decision) Refused() bool { return d.Outcome.Refuses() }

// Decide evaluates the rules registered at point p, in priority order, on
// in, and resolves the matching rules' actions into one decision.
//
// Every rule at p is evaluated (so that every flag and notice is collected
// and the explanation is complete). A rule whose evaluation fails (cost
// limit, overflow, division by zero) counts as matched unless it declares
// "on_error skip" — rules that protect teens may not — so an error never
// lets through what a working rule would have refused.
//
// The error is non-nil, wrapping [ErrInput], only when the input itself is
// unusable (unknown point, zero time, a target missing or present where it
// must not be); the caller must then refuse the event.
func (e *Engine) Decide(p Point, in Input) (Decision, error) {
	if err := in.check(p); err != nil {
		// A refusal without standing effects, should the caller ignore err.
		return Decision{Point: p, Outcome: RestrictNewConversations, Reason: "invalid input", Input: in}, err
	}
	d := Decision{
		Point:   p,
		Now:     in.Now,
		Policy:  e.file,
		Digest:  e.digest,
		Outcome: Allow,
		Input:   in,
	}
	f := framePool.Get().(*frame)
	f.reset(p, &in)
	defer f.release()
	var decider *compiledRule
	for _, r := range e.byPoint[p] {
		out, _, err := r.prg[p].Eval(f)
		matched := false
		if err == nil {
			b, ok := out.(types.Bool)
			if !ok {
				err = errNotBool
			}
			matched = bool(b)
		}
		if err != nil {
			matched = r.OnError != "skip"
			d.Errors = append(d.Errors, RuleError{Rule: r.Name, Line: r.Line, Err: err.Error(), Matched: matched})
		}
		if !matched {
			continue
		}
		m := Match{Rule: r.Name, Line: r.Line, When: r.When, Actions: r.Actions, Values: make([]Var, len(r.refs[p]))}
		for i, id := range r.refs[p] {
			m.Values[i] = Var{vars[id].name, f.value(id).Value()}
		}
		if err != nil {
			m.Err = err.Error()
		}
		d.Matches = append(d.Matches, m)

		for _, a := range r.Actions {
			switch a.Action {
			case FlagForModerators:
				d.Flags = append(d.Flags, Flag{Rule: r.Name, Category: a.Category, Severity: a.Severity})
				continue
			case SafetyNotice:
				d.Notices = append(d.Notices, Notice{Rule: r.Name, Text: r.Notice})
				continue
			case RateLimit:
				d.RetryAfter = max(d.RetryAfter, a.For)
			case RestrictNewConversations:
				d.RestrictFor = max(d.RestrictFor, a.For)
			case SuspendPendingReview:
				d.Suspend = true
			}
			if decider == nil || a.Action > d.Outcome {
				d.Outcome, decider = a.Action, r
			}
		}
	}
	if decider != nil {
		d.Rule, d.Reason = decider.Name, decider.Reason
	}
	if d.Outcome != RateLimit {
		d.RetryAfter = 0
	}
	if d.Outcome.Refuses() {
		d.Notices = nil // nothing is delivered, so there is no one to warn
	}
	return d, nil
}

var errNotBool = errors.New("safety: condition did not produce a bool")

// Vars returns every variable available at the decision's point with the
// value the rules saw (the input plus the event under decision): the whole
// snapshot, for storage and appeal.
func (d *Decision) Vars() []Var {
	var f frame
	f.reset(d.Point, &d.Input)
	return f.snapshot()
}
