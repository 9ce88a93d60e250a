// Package safety is Ward's content-blind safety engine (DESIGN.md, section 3,
// "Safety engine"): it lets an operator protect teens and act on abuse using
// only metadata the server already holds — who contacts whom and when,
// whether they answer, block or report, account age and age band, device
// churn — and never message content, which the server does not have.
//
// The engine is pure: it reads no clock, no database and no network, starts
// no goroutine and logs nothing. The server passes in the time, the facts
// and the counters, and gets back a [Decision].
//
// # Signals
//
// Each account has counters of [Kind] (outreach_attempts, replies_received,
// blocks_received, ...) kept in time buckets by a [SignalStore]
// (implemented in internal/store; contract in package safetytest).
// [Buckets.Fold] sums an account's bucket rows into windowed [Signals] over
// the last hour, day and week. [Observe] says which counters a decided event
// increments.
//
// # Policy
//
// Rules live in a policy file: a small line-oriented format whose conditions
// are CEL expressions over typed variables (actor.*, target.*, relation.*,
// report.*, signals.*, decision). [Compile] parses the file, type-checks
// every expression against the variables of each decision [Point] it is used
// at, bounds its cost, and rejects an invalid file with "file:line: reason"
// errors ([PolicyError]). [Default] is the policy Ward ships
// (default.policy, documented rule by rule in docs/SAFETY.md).
//
// # Deciding
//
// At a decision point the server calls [Engine.Decide]. Every rule
// registered at the point is evaluated; the matching rules' actions resolve
// to one outcome by a fixed precedence ([Action]), plus side effects
// (moderator flags, safety notices). A rule whose evaluation fails counts as
// matched (it fails closed) unless it opts out, which teen-protection rules
// cannot. The [Decision] names every matching rule with the exact values its
// condition read, and marshals to a JSON record for storage, moderation and
// appeal.
//
// # Use
//
// A first message from one account to another, in the server:
//
//	sigs, err := safety.LoadSignals(ctx, store, buckets, sender.ID, now)
//	if err != nil { ... refuse: fail closed ... }
//	in := safety.Input{Now: now, Actor: sender, Target: &recipient, Relation: rel, Signals: sigs}
//	d, err := engine.Decide(safety.FirstContact, in)
//	if err != nil { ... refuse ... }
//	switch {
//	case d.Refused():          // refuse with d.Reason (and d.RetryAfter for rate_limit); queue nothing
//	case d.Outcome == safety.RouteToRequests: // deliver into the recipient's message requests
//	default:                   // deliver
//	}
//	// then, whatever the outcome: apply d.Suspend and d.RestrictFor to the sender's
//	// account, queue d.Flags for moderators, attach d.Notices to the delivered
//	// request, store d (json.Marshal) if it refused or flagged, and count the event:
//	err = store.Increment(ctx, safety.Observe(safety.FirstContact, in, d, buckets.Start(now)))
package safety
